r"""Weighted (class-balanced) cross-entropy.

.. math::

    \mathcal{L}(z, y) = -w_y \log \operatorname{softmax}(z)_y

with per-class weights :math:`w` given as a list or computed from the training counts
(``'inverse'``, ``'sqrt_inverse'``, or the effective number of samples of Cui et al.,
"Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019:
:math:`w_c \propto (1-\beta)/(1-\beta^{n_c})`, normalised to :math:`\sum_c w_c = C`).

Soft targets :math:`t` (Mixup/CutMix) generalise it to
:math:`-\sum_c t_c\, w_c \log \operatorname{softmax}(z)_c`.

Works for classification logits (N, C) and pixel-wise for segmentation logits
(N, C, H, W) / (N, C, D, H, W); entries equal to ``ignore_index`` contribute nothing and are
left out of the mean.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ...registry import register_loss
from ..utils import BaseLoss, Targets, float32_compute, prepare_targets, to_float32


def class_nll(log_probs: torch.Tensor, targets: Targets,
              class_weight: Optional[torch.Tensor] = None,
              sample_factor: Optional[torch.Tensor] = None) -> torch.Tensor:
    r"""Element-wise weighted negative log-likelihood, shared by the CE family.

    Args:
        log_probs (Tensor): (N, C, \*) log-probabilities.
        targets (Targets): validated targets from :func:`prepare_targets`.
        class_weight (Tensor, optional): (C,) per-class weights :math:`w`.
        sample_factor (Tensor, optional): (N, C, \*) extra per-class factor applied inside
            the sum (e.g. the focal modulation :math:`(1-p_c)^\gamma`).

    Returns:
        Tensor: (N, \*) loss, 0 at ignored entries.
    """
    if class_weight is not None:
        # Buffers restored from a CPU-mapped checkpoint may sit on another device.
        class_weight = class_weight.to(device=log_probs.device)
    if targets.is_soft:
        term = -targets.soft * log_probs
        if sample_factor is not None:
            term = term * sample_factor
        if class_weight is not None:
            term = term * class_weight.view((1, -1) + (1,) * (log_probs.dim() - 2))
        return term.sum(1)
    idx = targets.index.unsqueeze(1)
    loss = -log_probs.gather(1, idx).squeeze(1)
    if sample_factor is not None:
        loss = loss * sample_factor.gather(1, idx).squeeze(1)
    if class_weight is not None:
        loss = loss * class_weight[targets.index]
    if targets.valid is not None:
        loss = loss.masked_fill(~targets.valid, 0.0)
    return loss


def weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                           class_weight: Optional[torch.Tensor] = None,
                           ignore_index: Optional[int] = None) -> torch.Tensor:
    r"""Pure function: element-wise weighted cross-entropy in float32.

    Args:
        logits (Tensor): (N, C, \*) raw scores.
        target (Tensor): (N, \*) class indices or (N, C, \*) soft targets.
        class_weight (Tensor, optional): (C,) per-class weights.
        ignore_index (int, optional): label value that contributes nothing.

    Returns:
        Tensor: (N, \*) loss.
    """
    targets = prepare_targets(logits, target, ignore_index)
    return class_nll(F.log_softmax(to_float32(logits), dim=1), targets, class_weight)


@register_loss
class WeightedCrossEntropyLoss(BaseLoss):
    """Cross-entropy with per-class weights, for classifiers and segmenters.

    Args:
        class_weight (list[float] | str, optional): Per-class weights, or ``'inverse'``,
            ``'sqrt_inverse'``, ``'effective_number'`` computed from ``cls_num_list``.
        cls_num_list (list | str, optional): Per-class counts (needed by the strategies);
            ``None`` lets :class:`ClassCountsHook` fill them.
        cb_beta (float): ``beta`` of ``'effective_number'``. Default 0.9999.
        ignore_index (int, optional): Label ignored in the loss (None: none; mmseg passes
            255). The value passed to ``forward`` (by mmseg's decode head) takes precedence.
        reduction (str): ``'none'`` | ``'mean'`` | ``'sum'``.
        loss_weight (float): Multiplier of the loss.
        loss_name (str): Name under which mmseg logs it. Default ``'loss_wce'``.
    """

    def __init__(self, class_weight=None, cls_num_list=None, cb_beta: float = 0.9999,
                 ignore_index: Optional[int] = None, reduction: str = 'mean',
                 loss_weight: float = 1.0, loss_name: str = 'loss_wce') -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight, loss_name=loss_name,
                         class_weight=class_weight, cls_num_list=cls_num_list, cb_beta=cb_beta)
        self.ignore_index = ignore_index

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                weight: Optional[torch.Tensor] = None, avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None, ignore_index: Optional[int] = None,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): (N, C) or (N, C, *spatial) logits.
            target (Tensor): (N,) / (N, *spatial) class indices, or soft targets shaped like
                ``pred``.
            weight (Tensor, optional): Per-sample (N,) or per-pixel (N, *spatial) weight.
            avg_factor (float, optional): Denominator of the mean.
            reduction_override (str, optional): Overrides ``reduction``.
            ignore_index (int, optional): Overrides the constructor's value when not None.

        Returns:
            Tensor: Scalar loss (or element-wise for ``reduction='none'``).
        """
        ignore = self.ignore_index if ignore_index is None else ignore_index
        targets = prepare_targets(pred, target, ignore)
        self.check_num_classes(pred.shape[1])
        with float32_compute(pred):
            log_probs = F.log_softmax(to_float32(pred), dim=1)
            loss = class_nll(log_probs, targets, self.effective_class_weight())
            return self.reduce(loss, weight, avg_factor, reduction_override, targets)
