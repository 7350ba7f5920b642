r"""Sensitivity-specificity loss.

Brosch et al., "Deep Convolutional Encoder Networks for Multiple Sclerosis Lesion
Segmentation", MICCAI 2015. Per image (or batch) and class :math:`c`, with :math:`g` the
binary target and :math:`p` the probability:

.. math::

    \mathcal{L}_c = r \,\underbrace{\frac{\sum_s m_s (g - p)^2\, g}{\sum_s m_s g + s}}_{
                        \text{sensitivity term}}
                  + (1 - r) \underbrace{\frac{\sum_s m_s (g - p)^2 (1 - g)}
                        {\sum_s m_s (1 - g) + s}}_{\text{specificity term}}

The **sensitivity term** is the mean squared error over the foreground pixels
(:math:`g = 1`; it grows with false negatives), the **specificity term** the mean squared error
over the background pixels (:math:`g = 0`; false positives). ``r`` weights the sensitivity
term; the default 0.05 is NiftyNet's value (its documentation reports 0.01-0.10 behave
alike). NiftyNet and SegLoss label the :math:`g=1` term "specificity"; the formula is the same.
:math:`s` is ``smooth`` (default 1e-5, NiftyNet's epsilon). For soft targets the terms are
:math:`\sum m g (1-p)^2` and :math:`\sum m (1-g) p^2` (each pixel counted as a fraction
:math:`g` of a positive). The loss is averaged over classes (NiftyNet sums) and images.

A class absent from an image has a zero sensitivity term; a row without valid pixels has loss
0 (zero gradient, left out of the mean).
"""
from __future__ import annotations

from typing import Optional

import torch

from ...registry import register_loss
from ..utils import check_unit_interval
from .stats import RegionLoss, RegionStats

__all__ = ['sensitivity_specificity_from_stats', 'SensitivitySpecificityLoss']


def sensitivity_specificity_from_stats(tp: torch.Tensor, target_sum: torch.Tensor,
                                       tp_sq: torch.Tensor, pred_sq_sum: torch.Tensor,
                                       count: torch.Tensor, r: float = 0.05,
                                       smooth: float = 1e-5) -> torch.Tensor:
    """Per-class sensitivity-specificity loss from first and second moments.

    Uses :math:`\\sum m g(1-p)^2 = \\Sigma g - 2TP + \\sum m p^2 g` and
    :math:`\\sum m (1-g) p^2 = \\sum m p^2 - \\sum m p^2 g`.

    Args:
        tp (Tensor): (B, K) :math:`\\sum m p g`.
        target_sum (Tensor): (B, K) :math:`\\sum m g`.
        tp_sq (Tensor): (B, K) :math:`\\sum m p^2 g`.
        pred_sq_sum (Tensor): (B, K) :math:`\\sum m p^2`.
        count (Tensor): (B, 1) or (B, K) :math:`\\sum m`.
        r (float): Weight of the sensitivity term.
        smooth (float): Added to both denominators.

    Returns:
        Tensor: (B, K) losses.
    """
    sens = (target_sum - 2.0 * tp + tp_sq).clamp_min(0.0) / (target_sum + smooth)
    spec = (pred_sq_sum - tp_sq).clamp_min(0.0) / ((count - target_sum).clamp_min(0.0) + smooth)
    return r * sens + (1.0 - r) * spec


@register_loss
class SensitivitySpecificityLoss(RegionLoss):
    """Sensitivity-specificity loss (Brosch et al. 2015), per image and class.

    Args:
        r (float): Weight of the sensitivity (foreground) term, in [0, 1]; the specificity
            (background) term gets ``1 - r``. Default 0.05.
        use_sigmoid, include_background, batch, smooth, class_weight, ignore_index,
        reduction, loss_weight: as :class:`~mmloss_plugin.losses.SoftDiceLoss`.
        loss_name (str): Default ``'loss_sensitivity_specificity'``.
        fused_kernel (bool): Opt-in ``torch.compile`` kernels for label-map targets (see
            :class:`~mmloss_plugin.losses.segmentation.stats.RegionLoss`). Default False.
    """

    second_moments = True

    def __init__(self, r: float = 0.05, use_sigmoid: bool = False,
                 include_background: bool = True, batch: bool = False, smooth: float = 1e-5,
                 class_weight=None, ignore_index: Optional[int] = 255,
                 reduction: str = 'mean', loss_weight: float = 1.0,
                 loss_name: str = 'loss_sensitivity_specificity',
                 fused_kernel: bool = False) -> None:
        super().__init__(use_sigmoid=use_sigmoid, include_background=include_background,
                         batch=batch, smooth=smooth, class_weight=class_weight,
                         ignore_index=ignore_index, reduction=reduction,
                         loss_weight=loss_weight, loss_name=loss_name,
                         fused_kernel=fused_kernel)
        self.r = check_unit_interval(r, 'r')

    def extra_repr(self) -> str:
        return f'r={self.r}, ' + super().extra_repr()

    def loss_from_stats(self, stats: RegionStats,
                        class_weight: Optional[torch.Tensor]) -> torch.Tensor:
        loss = sensitivity_specificity_from_stats(stats.tp, stats.target_sum, stats.tp_sq,
                                                  stats.pred_sq_sum, stats.count, self.r,
                                                  self.smooth)
        return self.apply_class_weight(loss, class_weight)
