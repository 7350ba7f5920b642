r"""Focal Tversky loss.

Tversky index (Salehi et al., "Tversky loss function for image segmentation using 3D fully
convolutional deep networks", MLMI 2017), per image (or batch) and class :math:`c`:

.. math::

    TI_c = \frac{TP_c + s}{TP_c + \alpha\, FP_c + \beta\, FN_c + s}

:math:`\alpha` weights the **false positives** and :math:`\beta` the **false negatives**
(as in MONAI, smp, mmseg and SegLoss); the defaults 0.3 / 0.7 penalise missed foreground more
(better recall on small structures). :math:`\alpha=\beta=0.5` gives Dice.

Focal Tversky (Abraham & Khan, "A Novel Focal Tversky Loss Function with Improved Attention
U-Net for Lesion Segmentation", ISBI 2019) raises each class's Tversky loss to a power
**per class, before the class mean**:

.. math::

    \mathcal{L} = \frac{1}{K} \sum_{c} (1 - TI_c)^{\gamma}

averaged over images too (unless ``batch=True``). Convention: here ``gamma`` **is the
exponent**. The paper writes the exponent as :math:`1/\gamma_{paper}` with
:math:`\gamma_{paper} \in [1, 3]` and reports :math:`\gamma_{paper} = 4/3` best, i.e. an
exponent of 0.75 — the default here and the value of the authors' code. The paper sums over
classes (:math:`\sum_c`); the mean used here differs only by the constant factor K.
``gamma=1`` is the plain Tversky loss (equal to MONAI's ``TverskyLoss``); smp applies its
power *after* the class mean instead.

Empty classes and ignored pixels follow :mod:`.stats`: a row without valid pixels has
:math:`TI=1` and loss 0 (left out of the mean; zero gradient). For ``gamma < 1`` the power's
derivative is unbounded at :math:`1-TI=0`; values of :math:`1-TI` below 1e-12 are taken as
an exact 0 so the gradient stays finite.
"""
from __future__ import annotations

from typing import Optional

import torch

from ...registry import register_loss
from ..utils import check_non_negative, check_positive
from .stats import RegionLoss, RegionStats

__all__ = ['focal_tversky_from_stats', 'FocalTverskyLoss']

_TINY = 1e-12


def focal_tversky_from_stats(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor,
                             alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75,
                             smooth: float = 1e-5) -> torch.Tensor:
    """Per-class focal Tversky loss :math:`(1 - TI)^\\gamma` from TP/FP/FN sums.

    Args:
        tp, fp, fn (Tensor): (B, K) soft true positives, false positives, false negatives.
        alpha (float): Weight of the false positives.
        beta (float): Weight of the false negatives.
        gamma (float): Exponent applied per class (1: plain Tversky).
        smooth (float): Added to numerator and denominator.

    Returns:
        Tensor: (B, K) losses in [0, 1].
    """
    ti = (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)
    base = (1.0 - ti).clamp_min(0.0)
    if gamma == 1.0:
        return base
    return torch.where(base > _TINY, base.clamp_min(_TINY).pow(gamma), base.new_zeros(()))


@register_loss
class FocalTverskyLoss(RegionLoss):
    """Focal Tversky loss ``mean_c (1 - TI_c) ** gamma`` (see module docstring).

    Args:
        alpha (float): Weight of false positives. Default 0.3.
        beta (float): Weight of false negatives. Default 0.7.
        gamma (float): Exponent per class; 0.75 = the paper's best (its 1/γ with γ = 4/3);
            1 = plain Tversky. Default 0.75.
        use_sigmoid, include_background, batch, smooth, class_weight, ignore_index,
        reduction, loss_weight: as :class:`~mmloss_plugin.losses.SoftDiceLoss`.
        loss_name (str): Default ``'loss_focal_tversky'``.
        fused_kernel (bool): Opt-in ``torch.compile`` kernels for label-map targets (see
            :class:`~mmloss_plugin.losses.segmentation.stats.RegionLoss`). Default False.
    """

    def __init__(self, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75,
                 use_sigmoid: bool = False, include_background: bool = True,
                 batch: bool = False, smooth: float = 1e-5, class_weight=None,
                 ignore_index: Optional[int] = 255, reduction: str = 'mean',
                 loss_weight: float = 1.0, loss_name: str = 'loss_focal_tversky',
                 fused_kernel: bool = False) -> None:
        super().__init__(use_sigmoid=use_sigmoid, include_background=include_background,
                         batch=batch, smooth=smooth, class_weight=class_weight,
                         ignore_index=ignore_index, reduction=reduction,
                         loss_weight=loss_weight, loss_name=loss_name,
                         fused_kernel=fused_kernel)
        self.alpha = check_non_negative(alpha, 'alpha')
        self.beta = check_non_negative(beta, 'beta')
        if self.alpha == 0 and self.beta == 0:
            raise ValueError('alpha and beta must not both be 0 (the Tversky index would be 1 '
                             'and the loss constant)')
        self.gamma = check_positive(gamma, 'gamma')

    def extra_repr(self) -> str:
        return f'alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}, ' + super().extra_repr()

    def loss_from_stats(self, stats: RegionStats,
                        class_weight: Optional[torch.Tensor]) -> torch.Tensor:
        loss = focal_tversky_from_stats(stats.tp, stats.fp, stats.fn, self.alpha, self.beta,
                                        self.gamma, self.smooth)
        return self.apply_class_weight(loss, class_weight)
