"""Data samplers for long-tailed training."""
from .samplers import DeferredClassBalancedSampler

__all__ = ['DeferredClassBalancedSampler']
