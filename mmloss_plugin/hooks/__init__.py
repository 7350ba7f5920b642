from .class_counts import ClassCountsHook
from .drw import DRWHook
from .sam import SAMHook

__all__ = ['ClassCountsHook', 'DRWHook', 'SAMHook']
