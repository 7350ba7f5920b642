r"""Log loss: binary cross-entropy for one-channel (sigmoid) segmentation outputs.

.. math::

    \mathcal{L}_s = -w_{g_s} \left[ g_s \log \sigma(z_s) + (1 - g_s) \log (1 - \sigma(z_s))
                    \right]

per pixel :math:`s` with logit :math:`z_s` and target :math:`g_s \in \{0, 1\}` (or a
probability), computed stably from the logits (``binary_cross_entropy_with_logits``), then the
mean over non-ignored pixels (mmseg's ``avg_non_ignore=True``). Optional class weights
:math:`w = (w_0, w_1)` for background and foreground (a soft target mixes them linearly).
This is the pixel-wise "log loss" of the medical-segmentation surveys (e.g. Ma et al., "Loss
odyssey in medical image segmentation", MedIA 2021); for C-class softmax outputs use
:class:`~mmloss_plugin.losses.WeightedCrossEntropyLoss`.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ...registry import register_loss
from ..utils import BaseLoss, Targets, float32_compute, to_float32
from .stats import prepare_seg_targets

__all__ = ['binary_log_loss', 'LogLoss']


def binary_log_loss(logits: torch.Tensor, target: torch.Tensor,
                    class_weight: Optional[torch.Tensor] = None,
                    valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Element-wise weighted binary cross-entropy from logits.

    Args:
        logits (Tensor): (N, \\*spatial) logits.
        target (Tensor): (N, \\*spatial) float targets in [0, 1].
        class_weight (Tensor, optional): (2,) weights of background and foreground.
        valid (Tensor, optional): (N, \\*spatial) bool mask; the loss is 0 elsewhere.

    Returns:
        Tensor: (N, \\*spatial) loss.
    """
    loss = F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), reduction='none')
    if class_weight is not None:
        w0, w1 = class_weight.to(device=loss.device, dtype=loss.dtype).unbind()
        loss = loss * (w0 + (w1 - w0) * target.to(loss.dtype))
    if valid is not None:
        loss = loss.masked_fill(~valid, 0.0)
    return loss


@register_loss
class LogLoss(BaseLoss):
    """Binary cross-entropy for one-channel sigmoid outputs (N, 1, \\*spatial).

    Args:
        class_weight (list[float], optional): ``[background, foreground]`` weights.
        ignore_index (int, optional): Ignored label. Default 255 (forward's value wins).
        reduction (str): ``'mean'`` (over non-ignored pixels) | ``'sum'`` | ``'none'``.
        loss_weight (float): Multiplier. Default 1.0.
        loss_name (str): Default ``'loss_log'``.
    """

    def __init__(self, class_weight=None, ignore_index: Optional[int] = 255,
                 reduction: str = 'mean', loss_weight: float = 1.0,
                 loss_name: str = 'loss_log') -> None:
        if isinstance(class_weight, str):
            raise ValueError('LogLoss: class_weight must be a list [background, foreground], '
                             f'got {class_weight!r}')
        super().__init__(reduction=reduction, loss_weight=loss_weight, loss_name=loss_name,
                         class_weight=class_weight)
        if self.class_weight is not None and self.class_weight.numel() != 2:
            raise ValueError('LogLoss: class_weight must have 2 entries [background, '
                             f'foreground], got {self.class_weight.tolist()}')
        self.ignore_index = ignore_index

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                weight: Optional[torch.Tensor] = None, avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None, ignore_index: Optional[int] = None,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): (N, 1, \\*spatial) logits.
            target (Tensor): (N, \\*spatial) or (N, 1, \\*spatial) 0/1 labels (or
                probabilities), ``ignore_index`` allowed.
            weight (Tensor, optional): (N, \\*spatial) per-pixel weight.
            avg_factor (float, optional): Denominator of the mean.
            reduction_override (str, optional): Overrides ``reduction``.
            ignore_index (int, optional): Overrides the constructor's value when not None.

        Returns:
            Tensor: Scalar, or (N, \\*spatial) for ``'none'``.
        """
        if not torch.is_tensor(pred) or pred.dim() < 3 or pred.shape[1] != 1:
            shape = tuple(pred.shape) if torch.is_tensor(pred) else type(pred).__name__
            raise ValueError(f'LogLoss expects one-channel logits (N, 1, *spatial), got {shape}; '
                             'for C-class softmax outputs use WeightedCrossEntropyLoss')
        ignore = self.ignore_index if ignore_index is None else ignore_index
        targets = prepare_seg_targets(pred, target, ignore, use_sigmoid=True)
        spatial = pred.shape[2:]
        n = pred.shape[0]
        valid = None if targets.valid is None else targets.valid.reshape(n, *spatial)
        if weight is not None and weight.dim() == pred.dim() and weight.shape[1] == 1:
            weight = weight.squeeze(1)
        with float32_compute(pred):
            loss = binary_log_loss(to_float32(pred).squeeze(1),
                                   targets.dense.reshape(n, *spatial),
                                   self.effective_class_weight(), valid)
            return self.reduce(loss, weight, avg_factor, reduction_override,
                               Targets(None, None, valid))
