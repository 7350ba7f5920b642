r"""Soft Dice and soft IoU (Jaccard) losses.

Soft Dice (Milletari et al., "V-Net: Fully Convolutional Neural Networks for Volumetric
Medical Image Segmentation", 3DV 2016), per image (or batch) and class :math:`c`:

.. math::

    \mathcal{L}^{Dice}_c = 1 - \frac{2\,TP_c + s}{\Sigma p_c + \Sigma g_c + s}
                         = 1 - \frac{2\,TP_c + s}{2\,TP_c + FP_c + FN_c + s}

Soft IoU / Jaccard (Rahman & Wang, "Optimizing Intersection-Over-Union in Deep Neural Networks
for Image Segmentation", ISVC 2016):

.. math::

    \mathcal{L}^{IoU}_c = 1 - \frac{TP_c + s}{\Sigma p_c + \Sigma g_c - TP_c + s}
                        = 1 - \frac{TP_c + s}{TP_c + FP_c + FN_c + s}

The loss is the mean over images and classes (optionally class-weighted). :math:`s` is
``smooth`` (default 1e-5, MONAI's ``smooth_nr = smooth_dr``); the statistics come from
:func:`~mmloss_plugin.losses.segmentation.stats.region_stats` (ignored pixels removed from
every sum). With ``smooth=1e-5`` the Dice values equal MONAI's ``DiceLoss(softmax=True,
to_onehot_y=True)`` (or ``sigmoid=True``); MONAI's ``jaccard=True`` variant uses
:math:`(2TP+s)/(2(TP+FP+FN)+s)`, i.e. the same value with :math:`s` halved.

Empty classes: a class absent from an image (:math:`\Sigma g_c = 0`) has
:math:`\mathcal{L}_c = 1 - s/(\Sigma p_c + s)`: 0 when nothing is predicted, close to 1
otherwise (a false-positive penalty whose gradient is small, about :math:`s/\Sigma p_c^2`;
raise ``smooth`` to strengthen it). Images without any valid pixel contribute 0 and are left
out of the mean; an all-ignored batch gives 0 with zero gradient.
"""
from __future__ import annotations

from typing import Optional

import torch

from ...registry import register_loss
from .stats import RegionLoss, RegionStats

__all__ = ['dice_from_stats', 'iou_from_stats', 'SoftDiceLoss', 'IoULoss']


def dice_from_stats(tp: torch.Tensor, pred_sum: torch.Tensor, target_sum: torch.Tensor,
                    smooth: float = 1e-5) -> torch.Tensor:
    """Soft Dice loss from per-class sums.

    Args:
        tp (Tensor): (B, K) soft true positives :math:`\\sum p g`.
        pred_sum (Tensor): (B, K) :math:`\\sum p`.
        target_sum (Tensor): (B, K) :math:`\\sum g`.
        smooth (float): Added to numerator and denominator.

    Returns:
        Tensor: (B, K) losses in [0, 1].
    """
    return 1.0 - (2.0 * tp + smooth) / (pred_sum + target_sum + smooth)


def iou_from_stats(tp: torch.Tensor, pred_sum: torch.Tensor, target_sum: torch.Tensor,
                   smooth: float = 1e-5) -> torch.Tensor:
    """Soft IoU (Jaccard) loss from per-class sums; arguments as :func:`dice_from_stats`."""
    return 1.0 - (tp + smooth) / (pred_sum + target_sum - tp + smooth)


@register_loss
class SoftDiceLoss(RegionLoss):
    """Soft Dice loss, per image and class (or per class over the batch).

    Args:
        use_sigmoid (bool): Sigmoid outputs (one-channel binary or multi-label) instead of
            softmax. Default False.
        include_background (bool): Keep class 0. Default True.
        batch (bool): Batch-level statistics. Default False.
        smooth (float): Numerator and denominator smoothing. Default 1e-5.
        class_weight (list[float], optional): Per-class weights of the per-class losses.
        ignore_index (int, optional): Ignored label. Default 255 (forward's value wins).
        reduction (str): ``'mean'`` | ``'sum'`` | ``'none'``. Default ``'mean'``.
        loss_weight (float): Multiplier. Default 1.0.
        loss_name (str): Default ``'loss_dice'``.
        fused_kernel (bool): Opt-in ``torch.compile`` kernels for label-map targets (see
            :class:`~mmloss_plugin.losses.segmentation.stats.RegionLoss`). Default False.
    """

    def __init__(self, use_sigmoid: bool = False, include_background: bool = True,
                 batch: bool = False, smooth: float = 1e-5, class_weight=None,
                 ignore_index: Optional[int] = 255, reduction: str = 'mean',
                 loss_weight: float = 1.0, loss_name: str = 'loss_dice',
                 fused_kernel: bool = False) -> None:
        super().__init__(use_sigmoid=use_sigmoid, include_background=include_background,
                         batch=batch, smooth=smooth, class_weight=class_weight,
                         ignore_index=ignore_index, reduction=reduction,
                         loss_weight=loss_weight, loss_name=loss_name,
                         fused_kernel=fused_kernel)

    def loss_from_stats(self, stats: RegionStats,
                        class_weight: Optional[torch.Tensor]) -> torch.Tensor:
        loss = dice_from_stats(stats.tp, stats.pred_sum, stats.target_sum, self.smooth)
        return self.apply_class_weight(loss, class_weight)


@register_loss
class IoULoss(RegionLoss):
    """Soft IoU (Jaccard) loss, per image and class (or per class over the batch).

    Args: as :class:`SoftDiceLoss`; ``loss_name`` defaults to ``'loss_iou'``.
    """

    def __init__(self, use_sigmoid: bool = False, include_background: bool = True,
                 batch: bool = False, smooth: float = 1e-5, class_weight=None,
                 ignore_index: Optional[int] = 255, reduction: str = 'mean',
                 loss_weight: float = 1.0, loss_name: str = 'loss_iou',
                 fused_kernel: bool = False) -> None:
        super().__init__(use_sigmoid=use_sigmoid, include_background=include_background,
                         batch=batch, smooth=smooth, class_weight=class_weight,
                         ignore_index=ignore_index, reduction=reduction,
                         loss_weight=loss_weight, loss_name=loss_name,
                         fused_kernel=fused_kernel)

    def loss_from_stats(self, stats: RegionStats,
                        class_weight: Optional[torch.Tensor]) -> torch.Tensor:
        loss = iou_from_stats(stats.tp, stats.pred_sum, stats.target_sum, self.smooth)
        return self.apply_class_weight(loss, class_weight)
