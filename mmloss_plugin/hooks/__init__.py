from .class_counts import ClassCountsHook
from .drw import DRWHook

__all__ = ['ClassCountsHook', 'DRWHook']
