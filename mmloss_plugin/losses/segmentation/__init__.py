"""Segmentation losses (registered into mmseg's ``MODELS`` and MMEngine's root ``MODELS``)."""
from .compound import CompoundLoss, build_loss
from .dice import IoULoss, SoftDiceLoss, dice_from_stats, iou_from_stats
from .generalized_dice import (
    GeneralizedDiceLoss,
    generalized_dice_from_stats,
    generalized_dice_weights,
)
from .log_loss import LogLoss, binary_log_loss
from .sensitivity_specificity import SensitivitySpecificityLoss, sensitivity_specificity_from_stats
from .stats import RegionLoss, RegionStats, SegTargets, prepare_seg_targets, region_stats
from .tversky import FocalTverskyLoss, focal_tversky_from_stats

__all__ = [
    'SoftDiceLoss', 'IoULoss', 'FocalTverskyLoss', 'GeneralizedDiceLoss',
    'SensitivitySpecificityLoss', 'LogLoss', 'CompoundLoss', 'RegionLoss', 'RegionStats',
    'SegTargets', 'prepare_seg_targets', 'region_stats', 'dice_from_stats', 'iou_from_stats',
    'focal_tversky_from_stats', 'generalized_dice_from_stats', 'generalized_dice_weights',
    'sensitivity_specificity_from_stats', 'binary_log_loss', 'build_loss',
]
