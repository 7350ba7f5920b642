r"""Logit-adjusted cross-entropy (includes Balanced Softmax).

Menon et al., "Long-Tail Learning via Logit Adjustment", ICLR 2021 (arXiv 2007.07314).
With class priors :math:`\pi_j = n_j / \sum_k n_k` from the training counts, the logits are
shifted by the scaled log-prior during training only:

.. math::

    \mathcal{L}(z, y) = -\,w_y \log \operatorname{softmax}(z + \tau \log \pi)_y .

:math:`\tau = 1` is the Balanced Softmax of Ren et al., "Balanced Meta-Softmax for
Long-Tailed Visual Recognition", NeurIPS 2020 (arXiv 2007.10740); :math:`\tau = 0` is plain
(weighted) cross-entropy. The class weight :math:`w` defaults to none (uniform).

* **Inference uses the raw logits** :math:`z`: the adjustment only lives in the loss, so the
  head's ``predict`` (softmax of :math:`z`) already gives the balanced classifier.
* **Zero counts** are clamped to 1 before the prior is formed, so :math:`\log \pi` is finite
  (a class absent from the training split gets the smallest prior); never ``-inf``/NaN.
* **Soft targets** :math:`t` (Mixup/CutMix): the soft cross-entropy on the adjusted logits,
  :math:`-\sum_c t_c w_c \log \operatorname{softmax}(z + \tau \log \pi)_c`.

Works on (N, C) logits and pixel-wise on (N, C, \*spatial) with ``ignore_index``.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
import torch.nn.functional as F

from ...registry import register_loss
from ..utils import (
    Targets,
    check_non_negative,
    prepare_targets,
    to_float32,
)
from .cross_entropy import ClassScoreLoss, class_nll

__all__ = ['LogitAdjustedLoss', 'log_class_prior', 'logit_adjusted_loss']


def log_class_prior(counts: torch.Tensor) -> torch.Tensor:
    r""":math:`\log \pi_j = \log n_j - \log \sum_k n_k`, with counts clamped to >= 1.

    Args:
        counts (Tensor): (C,) per-class training counts.

    Returns:
        Tensor: (C,) finite log-priors on ``counts``' device.
    """
    n = to_float32(counts).clamp_min(1.0)
    return n.log() - n.sum().log()


def logit_adjusted_loss(logits: torch.Tensor, target: Union[torch.Tensor, Targets],
                        log_prior: torch.Tensor, tau: float = 1.0,
                        class_weight: Optional[torch.Tensor] = None,
                        ignore_index: Optional[int] = None) -> torch.Tensor:
    r"""Pure function: element-wise :math:`-w_y \log \operatorname{softmax}(z + \tau\log\pi)_y`.

    Args:
        logits (Tensor): (N, C, \*) raw logits.
        target (Tensor | Targets): (N, \*) class indices, (N, C, \*) soft targets, or targets
            already validated by :func:`prepare_targets`.
        log_prior (Tensor): (C,) log class priors (see :func:`log_class_prior`).
        tau (float): Adjustment strength. Default 1.0 (Balanced Softmax).
        class_weight (Tensor, optional): (C,) per-class weights.
        ignore_index (int, optional): Label value that contributes nothing (only used when
            ``target`` is a tensor).

    Returns:
        Tensor: (N, \*) loss, 0 at ignored entries.
    """
    targets = target if isinstance(target, Targets) else prepare_targets(logits, target,
                                                                         ignore_index)
    z = to_float32(logits)
    shift = log_prior.to(device=z.device, dtype=z.dtype).view((1, -1) + (1,) * (z.dim() - 2))
    log_probs = F.log_softmax(z + tau * shift, dim=1)
    if class_weight is not None:
        class_weight = class_weight.to(device=log_probs.device, dtype=log_probs.dtype)
    return class_nll(log_probs, targets, class_weight)


@register_loss
class LogitAdjustedLoss(ClassScoreLoss):
    r"""Logit-adjusted CE :math:`-\log\operatorname{softmax}(z + \tau \log \pi)_y` (Menon et al.).

    For any softmax head on raw logits (``LinearClsHead``); predictions stay unadjusted.

    Args:
        cls_num_list (list | str, optional): Per-class training counts (list or .txt/.json
            path) giving the prior :math:`\pi`. ``None`` lets :class:`ClassCountsHook` fill
            them; a forward without counts raises an error naming the hook.
        tau (float): Adjustment strength, >= 0. 1.0 (default) is Balanced Softmax, 0 plain CE.
        class_weight (list[float] | str, optional): Per-class weights, or ``'inverse'``,
            ``'sqrt_inverse'``, ``'effective_number'``; overridden by :class:`DRWHook` while it
            is active. Default None.
        cb_beta (float): ``beta`` of ``'effective_number'``. Default 0.9999.
        ignore_index (int, optional): Label ignored in the loss. Default None.
        reduction (str): ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        loss_weight (float): Multiplier of the loss. Default 1.0.
        loss_name (str): Name under which the loss is logged. Default ``'loss_logit_adjusted'``.
    """

    requires_counts = True

    def __init__(self, cls_num_list=None, tau: float = 1.0, class_weight=None,
                 cb_beta: float = 0.9999, ignore_index: Optional[int] = None,
                 reduction: str = 'mean', loss_weight: float = 1.0,
                 loss_name: str = 'loss_logit_adjusted') -> None:
        # Counts are set below, once log_prior exists (set_class_counts fills it).
        super().__init__(ignore_index=ignore_index, reduction=reduction,
                         loss_weight=loss_weight, loss_name=loss_name,
                         class_weight=class_weight, cls_num_list=None, cb_beta=cb_beta)
        self.tau = check_non_negative(tau, 'tau')
        # Derived from cls_num (which is saved); recomputed on load, so not persistent.
        self.register_buffer('log_prior', None, persistent=False)
        if cls_num_list is not None:
            self.set_class_counts(cls_num_list)

    def _on_counts_changed(self) -> None:
        self.log_prior = log_class_prior(self.cls_num)

    def compute(self, cls_score: torch.Tensor, targets: Targets) -> torch.Tensor:
        return logit_adjusted_loss(cls_score, targets, self.log_prior, self.tau,
                                   self.effective_class_weight())

    def extra_repr(self) -> str:
        return f'tau={self.tau}, ' + super().extra_repr()
