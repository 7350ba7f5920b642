from .cross_entropy import (
    ClassScoreLoss,
    WeightedCrossEntropyLoss,
    class_nll,
    weighted_cross_entropy,
)
from .focal import SoftmaxFocalLoss, focal_modulation, softmax_focal_loss
from .ldam import LOGIT_TYPES, LDAMLoss, ldam_loss, ldam_margins, subtract_margins
from .lmf import LMFLoss, lmf_loss
from .logit_adjustment import LogitAdjustedLoss, log_class_prior, logit_adjusted_loss

__all__ = [
    'ClassScoreLoss', 'WeightedCrossEntropyLoss', 'class_nll', 'weighted_cross_entropy',
    'SoftmaxFocalLoss', 'focal_modulation', 'softmax_focal_loss',
    'LDAMLoss', 'LOGIT_TYPES', 'ldam_loss', 'ldam_margins', 'subtract_margins',
    'LMFLoss', 'lmf_loss',
    'LogitAdjustedLoss', 'log_class_prior', 'logit_adjusted_loss',
]
