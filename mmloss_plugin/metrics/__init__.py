from .long_tail import LongTailMetric
from .seg_per_class import SegPerClassMetric

__all__ = ['LongTailMetric', 'SegPerClassMetric']
