"""Helpers shared by hooks and metrics (no loss formulas here: see ``losses/utils.py``)."""
from .dataset_counts import ann_file_class_counts, dataset_class_counts, dataset_num_classes

__all__ = ['ann_file_class_counts', 'dataset_class_counts', 'dataset_num_classes']
