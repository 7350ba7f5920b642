from .cross_entropy import WeightedCrossEntropyLoss, class_nll, weighted_cross_entropy

__all__ = ['WeightedCrossEntropyLoss', 'class_nll', 'weighted_cross_entropy']
