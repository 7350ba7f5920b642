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

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from ...registry import register_loss
from ..utils import BaseLoss, Targets, check_finite, float32_compute, prepare_targets, to_float32


def class_nll(log_probs: torch.Tensor, targets: Targets,
              class_weight: Optional[torch.Tensor] = None,
              modulation: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
              ) -> torch.Tensor:
    r"""Element-wise weighted negative log-likelihood, shared by the CE family.

    Hard labels only need :math:`\log p_y`: it is picked with ``F.nll_loss`` (whose backward
    writes the one-hot gradient in one fused pass, unlike ``gather``'s zero-fill + scatter),
    and ``modulation`` is evaluated on those (N, \*) values only, never on (N, C, \*)
    tensors.

    Args:
        log_probs (Tensor): (N, C, \*) log-probabilities.
        targets (Targets): validated targets from :func:`prepare_targets`.
        class_weight (Tensor, optional): (C,) per-class weights :math:`w`.
        modulation (callable, optional): Maps log-probabilities :math:`\log p_c` to an
            element-wise factor applied inside the sum (e.g. the focal :math:`(1-p_c)^\gamma`
            of :func:`~mmloss_plugin.losses.classification.focal.focal_modulation`).

    Returns:
        Tensor: (N, \*) loss, 0 at ignored entries.
    """
    if class_weight is not None:
        # Buffers restored from a CPU-mapped checkpoint may sit on another device.
        class_weight = class_weight.to(device=log_probs.device, dtype=log_probs.dtype)
    if targets.is_soft:
        term = -targets.soft * log_probs
        if modulation is not None:
            term = term * modulation(log_probs)
        if class_weight is not None:
            term = term * class_weight.view((1, -1) + (1,) * (log_probs.dim() - 2))
        return term.sum(1)
    index = targets.index
    if modulation is None:
        loss = F.nll_loss(log_probs, index, weight=class_weight, reduction='none')
    else:
        loss = F.nll_loss(log_probs, index, reduction='none')  # -log p_y
        loss = loss * modulation(-loss)
        if class_weight is not None:
            loss = loss * class_weight.take(index)
    if targets.valid is not None:
        loss = loss.masked_fill(~targets.valid, 0.0)
    return loss


def class_nll_sum(log_probs: torch.Tensor, targets: Targets,
                  class_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    r"""Sum of :func:`class_nll` over all entries of hard-label targets, in one fused kernel.

    ``F.nll_loss(reduction='sum')`` skips the (N, \*) element-wise loss and its gradient
    map; ignored entries are passed to it as ``ignore_index=-100``.

    Args:
        log_probs (Tensor): (N, C, \*) log-probabilities.
        targets (Targets): validated hard-label targets (``targets.index`` set).
        class_weight (Tensor, optional): (C,) per-class weights :math:`w`.

    Returns:
        Tensor: scalar :math:`-\sum w_y \log p_y` over the non-ignored entries.
    """
    if class_weight is not None:
        class_weight = class_weight.to(device=log_probs.device, dtype=log_probs.dtype)
    index = targets.index
    if targets.valid is not None:
        index = index.masked_fill(~targets.valid, -100)
    return F.nll_loss(log_probs, index, weight=class_weight, reduction='sum', ignore_index=-100)


def fused_class_nll_sum(logits: torch.Tensor, targets: Targets,
                        class_weight: Optional[torch.Tensor] = None,
                        finite_check: Optional[str] = None) -> Optional[torch.Tensor]:
    r""":func:`class_nll_sum` of ``log_softmax(logits)`` from the compiled kernels.

    Args:
        logits (Tensor): (N, C, \*) float32/float64 logits.
        targets (Targets): hard-label targets from :func:`prepare_targets`.
        class_weight (Tensor, optional): (C,) per-class weights :math:`w`.
        finite_check (str, optional): Also check ``logits`` for NaN/Inf, naming them so in
            the error (from the kernel's sums, without a pass of its own); not done when
            ``None`` is returned.

    Returns:
        Tensor | None: scalar :math:`-\sum w_y \log p_y` over the non-ignored entries, or
        ``None`` when the kernels do not run (too many classes, compilation failed).
    """
    # the pixel-wise kernels live with the segmentation statistics (imported on first use:
    # torch.compile is imported only when asked for)
    from ..segmentation import fused_stats
    n, c = logits.shape[:2]
    valid = None if targets.valid is None else targets.valid.reshape(n, -1)
    sums = fused_stats.fused_nll_sums(logits.reshape(n, c, -1), targets.index.reshape(n, -1),
                                      valid)
    if sums is None:
        return None
    if finite_check is not None:  # the kernel's sums are NaN where a logit is not finite
        check_finite(logits, finite_check, total=sums)
    per_class = sums.sum(0)
    if class_weight is None:
        return per_class.sum()
    return (per_class * class_weight.to(device=per_class.device, dtype=per_class.dtype)).sum()


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


class ClassScoreLoss(BaseLoss):
    """Base of the softmax-family losses: one shared ``forward``, subclasses give the formula.

    Subclasses implement :meth:`compute` (element-wise loss on validated targets) and may
    implement :meth:`compute_sum` (a fused sum, used when no element-wise weight is given).
    ``ignore_index`` given to ``forward`` (mmseg's decode head passes it) wins over the
    constructor's value.
    """

    def __init__(self, ignore_index: Optional[int] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ignore_index = ignore_index

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor,
                weight: Optional[torch.Tensor] = None, avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None, ignore_index: Optional[int] = None,
                **kwargs) -> torch.Tensor:
        r"""Compute the loss.

        Args:
            cls_score (Tensor): (N, C) or (N, C, \*spatial) logits.
            label (Tensor): (N,) / (N, \*spatial) class indices, or soft targets shaped like
                ``cls_score``.
            weight (Tensor, optional): Per-sample (N,) or per-pixel (N, \*spatial) weight.
            avg_factor (float, optional): Denominator of the mean (while
                ``DRWHook(normalize='batch')`` re-weights, scaled to the summed weights, see
                :meth:`~mmloss_plugin.losses.utils.BaseLoss.drw_avg_factor`).
            reduction_override (str, optional): Overrides ``reduction``.
            ignore_index (int, optional): Overrides the constructor's value when not None.

        Returns:
            Tensor: Scalar loss (element-wise for ``reduction='none'``), float32 (float64 for
            float64 input).
        """
        ignore = self.ignore_index if ignore_index is None else ignore_index
        targets = prepare_targets(cls_score, label, ignore)
        self.check_num_classes(cls_score.shape[1])
        reduction = self._reduction(reduction_override)
        if reduction == 'mean':
            avg_factor = self.drw_avg_factor(targets, avg_factor)
        with float32_compute(cls_score):
            if weight is None and not targets.is_soft and reduction != 'none':
                total = self.compute_sum(cls_score, targets)
                if total is not None:
                    return self.reduce(total, None, avg_factor, reduction_override, targets,
                                       summed_over=targets.index.numel())
            loss = self.compute(cls_score, targets)
            return self.reduce(loss, weight, avg_factor, reduction_override, targets)

    def compute(self, cls_score: torch.Tensor, targets: Targets) -> torch.Tensor:
        r"""Element-wise loss (N, \*spatial) on validated targets, inside ``float32_compute``."""
        raise NotImplementedError

    def compute_sum(self, cls_score: torch.Tensor, targets: Targets) -> Optional[torch.Tensor]:
        """Optional fused sum of :meth:`compute` over all entries (hard labels); ``None``: none."""
        return None


@register_loss
class WeightedCrossEntropyLoss(ClassScoreLoss):
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
        fused_kernel (bool): Opt-in speed-up for label maps without a per-pixel ``weight``
            (what mmseg's decode heads pass): the log-softmax, the per-class sums and the
            gradient run in two ``torch.compile`` kernels (one pass over the logits each way,
            nothing of size (N, C, \\*spatial) kept in between; see
            :func:`~mmloss_plugin.losses.segmentation.fused_stats.fused_nll_sums`). Same
            values up to float rounding. The first call per configuration compiles (seconds);
            more than 16 classes, soft targets, per-pixel weights, ``reduction='none'`` or a
            failed compilation use the eager path. Default False.
    """

    def __init__(self, class_weight=None, cls_num_list=None, cb_beta: float = 0.9999,
                 ignore_index: Optional[int] = None, reduction: str = 'mean',
                 loss_weight: float = 1.0, loss_name: str = 'loss_wce',
                 fused_kernel: bool = False) -> None:
        super().__init__(ignore_index=ignore_index, reduction=reduction,
                         loss_weight=loss_weight, loss_name=loss_name,
                         class_weight=class_weight, cls_num_list=cls_num_list, cb_beta=cb_beta)
        if not isinstance(fused_kernel, bool):
            raise TypeError(f'fused_kernel must be True or False, got {fused_kernel!r}')
        self.fused_kernel = fused_kernel

    @property
    def defers_finite_check(self) -> bool:
        """With ``fused_kernel`` the NaN/Inf check of ``pred`` rides on the forward kernel
        (:meth:`compute` and the eager :meth:`compute_sum` check on their own)."""
        return self.fused_kernel

    def compute(self, cls_score: torch.Tensor, targets: Targets) -> torch.Tensor:
        finite_check = self.deferred_finite_check(cls_score)
        if finite_check is not None:
            check_finite(cls_score, finite_check)
        log_probs = F.log_softmax(to_float32(cls_score), dim=1)
        return class_nll(log_probs, targets, self.effective_class_weight())

    def compute_sum(self, cls_score: torch.Tensor, targets: Targets) -> torch.Tensor:
        class_weight = self.effective_class_weight()
        finite_check = self.deferred_finite_check(cls_score)
        if self.fused_kernel:
            total = fused_class_nll_sum(to_float32(cls_score), targets, class_weight,
                                        finite_check)
            if total is not None:
                return total
        if finite_check is not None:
            check_finite(cls_score, finite_check)
        # the fused sum is ~10-20% faster than element-wise losses + reduction
        log_probs = F.log_softmax(to_float32(cls_score), dim=1)
        return class_nll_sum(log_probs, targets, class_weight)
