r"""Generalized Dice loss.

Sudre et al., "Generalised Dice Overlap as a Deep Learning Loss Function for Highly Unbalanced
Segmentations", DLMIA 2017. Per image (or over the batch with ``batch=True``):

.. math::

    \mathcal{L} = 1 - \frac{2 \sum_c w_c\, TP_c + s}{\sum_c w_c (\Sigma p_c + \Sigma g_c) + s},
    \qquad
    w_c = \begin{cases} 1 / (\Sigma g_c)^2 & \texttt{'square'} \text{ (paper)} \\
                        1 / \Sigma g_c & \texttt{'simple'} \\
                        1 & \texttt{'uniform'} \end{cases}

Absent classes (:math:`\Sigma g_c = 0`, infinite weight) follow MONAI's rule: their weight is
replaced by the largest finite weight of the same image (of the batch with ``batch=True``);
if every class is absent (e.g. all pixels ignored) all weights are 0 and the loss is
:math:`1 - s/s = 0` with zero gradient. The weights are constants (no gradient flows through
them). ``class_weight`` multiplies :math:`w_c`. With matching options the values equal
MONAI's ``GeneralizedDiceLoss`` (``smooth_nr = smooth_dr = smooth``).

The weights are computed after ``include_background=False`` has removed class 0, and on the
weighted, non-ignored :math:`\Sigma g_c`.
"""
from __future__ import annotations

from typing import Optional

import torch

from ...registry import register_loss
from .stats import RegionLoss, RegionStats

__all__ = ['WEIGHT_TYPES', 'generalized_dice_weights', 'generalized_dice_from_stats',
           'GeneralizedDiceLoss']

WEIGHT_TYPES = ('square', 'simple', 'uniform')


def generalized_dice_weights(target_sum: torch.Tensor, weight_type: str = 'square'
                             ) -> torch.Tensor:
    """Per-class weights :math:`w_c` with MONAI's absent-class rule (see module docstring).

    Args:
        target_sum (Tensor): (B, K) :math:`\\Sigma g` per row and class.
        weight_type (str): ``'square'``, ``'simple'`` or ``'uniform'``.

    Returns:
        Tensor: (B, K) finite, detached weights.
    """
    target_sum = target_sum.detach()
    if weight_type == 'uniform':
        return torch.ones_like(target_sum)
    if weight_type == 'square':
        w = 1.0 / (target_sum * target_sum)
    elif weight_type == 'simple':
        w = 1.0 / target_sum
    else:
        raise ValueError(f'weight_type must be one of {WEIGHT_TYPES}, got {weight_type!r}')
    infinite = torch.isinf(w)
    w = w.masked_fill(infinite, 0.0)
    row_max = w.amax(dim=1, keepdim=True)
    return torch.where(infinite, row_max.expand_as(w), w)


def generalized_dice_from_stats(tp: torch.Tensor, pred_sum: torch.Tensor,
                                target_sum: torch.Tensor, weight_type: str = 'square',
                                smooth: float = 1e-5,
                                class_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Generalized Dice loss from per-class sums.

    Args:
        tp, pred_sum, target_sum (Tensor): (B, K) :math:`\\sum pg`, :math:`\\sum p`,
            :math:`\\sum g`.
        weight_type (str): ``'square'`` | ``'simple'`` | ``'uniform'``.
        smooth (float): Added to numerator and denominator.
        class_weight (Tensor, optional): (K,) extra multipliers of :math:`w_c`.

    Returns:
        Tensor: (B,) losses.
    """
    w = generalized_dice_weights(target_sum, weight_type)
    if class_weight is not None:
        w = w * class_weight.to(device=w.device, dtype=w.dtype)
    numer = 2.0 * (w * tp).sum(1) + smooth
    denom = (w * (pred_sum + target_sum)).sum(1) + smooth
    return 1.0 - numer / denom


@register_loss
class GeneralizedDiceLoss(RegionLoss):
    """Generalized Dice loss (Sudre et al. 2017), one value per image (or per batch).

    Args:
        weight_type (str): ``'square'`` (1/Σg², paper), ``'simple'`` (1/Σg) or
            ``'uniform'`` (1). Default ``'square'``.
        use_sigmoid, include_background, batch, smooth, ignore_index, reduction,
        loss_weight: as :class:`~mmloss_plugin.losses.SoftDiceLoss`.
        class_weight (list[float], optional): Multiplies the per-class weights :math:`w_c`.
        loss_name (str): Default ``'loss_generalized_dice'``.
        fused_kernel (bool): Opt-in ``torch.compile`` kernels for label-map targets (see
            :class:`~mmloss_plugin.losses.segmentation.stats.RegionLoss`). Default False.

    ``reduction='none'`` returns a (B,) tensor (one loss per image, or (1,) with ``batch``).
    """

    def __init__(self, weight_type: str = 'square', use_sigmoid: bool = False,
                 include_background: bool = True, batch: bool = False, smooth: float = 1e-5,
                 class_weight=None, ignore_index: Optional[int] = 255,
                 reduction: str = 'mean', loss_weight: float = 1.0,
                 loss_name: str = 'loss_generalized_dice',
                 fused_kernel: bool = False) -> None:
        super().__init__(use_sigmoid=use_sigmoid, include_background=include_background,
                         batch=batch, smooth=smooth, class_weight=class_weight,
                         ignore_index=ignore_index, reduction=reduction,
                         loss_weight=loss_weight, loss_name=loss_name,
                         fused_kernel=fused_kernel)
        if weight_type not in WEIGHT_TYPES:
            raise ValueError(f'weight_type must be one of {WEIGHT_TYPES}, got {weight_type!r}')
        self.weight_type = weight_type

    def extra_repr(self) -> str:
        return f'weight_type={self.weight_type!r}, ' + super().extra_repr()

    def loss_from_stats(self, stats: RegionStats,
                        class_weight: Optional[torch.Tensor]) -> torch.Tensor:
        return generalized_dice_from_stats(stats.tp, stats.pred_sum, stats.target_sum,
                                           self.weight_type, self.smooth, class_weight)
