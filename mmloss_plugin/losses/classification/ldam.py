r"""Label-distribution-aware margin (LDAM) loss.

Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
NeurIPS 2019 (arXiv 1906.07413). With :math:`n_j` the training count of class :math:`j`,
per-class margins

.. math::

    \Delta_j = m_{\max} \cdot \frac{n_j^{-1/4}}{\max_k n_k^{-1/4}}

(the rarest class gets the largest margin ``max_m``) are subtracted from the true-class logit
before a scaled, optionally class-weighted cross-entropy:

.. math::

    \mathcal{L}(z, y) = -\,w_y \log \operatorname{softmax}\big(s\,(z - \Delta_y e_y)\big)_y .

Design choices of this implementation:

* **Scale and head type** (``logit_type``). LDAM assumes cosine logits :math:`z \in [-1, 1]`
  (a normalised linear classifier, here ``NormedLinearClsHead``), which ``s`` (default 30)
  stretches. On the unnormalised logits of mmpretrain's ``LinearClsHead``, ``s = 30`` makes
  training diverge, so by default (``logit_type='auto'``) ``s`` is applied only when the head
  has declared cosine logits by calling :meth:`LDAMLoss.mark_cosine_logits`; otherwise the
  effective scale is 1 and a one-time warning says so. ``logit_type='cosine'`` forces ``s``,
  ``logit_type='raw'`` never applies it.
* **Zero counts.** Counts are clamped to at least 1, so a class absent from the training
  split gets the largest margin (``max_m``), finite; never inf/NaN.
* **Soft targets** :math:`t` (Mixup/CutMix): the expected margin :math:`\Delta \odot t`
  (:math:`\mathbb{E}_{y \sim t}[\Delta_y e_y]`) is subtracted from the logits, followed by
  the soft cross-entropy :math:`-\sum_c t_c w_c \log \operatorname{softmax}(s(z - \Delta
  \odot t))_c`. For one-hot :math:`t` this is the formula above.

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
    check_positive,
    prepare_targets,
    to_float32,
    warn_once,
)
from .cross_entropy import ClassScoreLoss, class_nll

__all__ = ['LDAMLoss', 'LOGIT_TYPES', 'ldam_margins', 'subtract_margins', 'ldam_loss']

#: Accepted values of ``logit_type``.
LOGIT_TYPES = ('auto', 'cosine', 'raw')


def ldam_margins(counts: torch.Tensor, max_m: float) -> torch.Tensor:
    r"""Per-class LDAM margins :math:`\Delta_j \propto n_j^{-1/4}`, largest equal to ``max_m``.

    Args:
        counts (Tensor): (C,) per-class training counts; clamped to >= 1.
        max_m (float): Largest margin (given to the rarest class).

    Returns:
        Tensor: (C,) margins on ``counts``' device, float32 (float64 for float64 counts).
    """
    inv = to_float32(counts).clamp_min(1.0).pow(-0.25)
    return inv * (max_m / inv.max())


def subtract_margins(logits: torch.Tensor, targets: Targets,
                     margins: torch.Tensor) -> torch.Tensor:
    r""":math:`z - \Delta \odot t`: the target-class margin (expected margin for soft targets).

    Args:
        logits (Tensor): (N, C, \*) logits.
        targets (Targets): validated targets.
        margins (Tensor): (C,) margins.

    Returns:
        Tensor: (N, C, \*) adjusted logits.
    """
    m = margins.to(device=logits.device, dtype=logits.dtype)
    m = m.view((1, -1) + (1,) * (logits.dim() - 2))
    if targets.is_soft:
        weight = targets.soft.to(logits.dtype)
    else:
        weight = torch.zeros_like(logits).scatter_(1, targets.index.unsqueeze(1), 1.0)
    return logits - weight * m


def ldam_loss(logits: torch.Tensor, target: Union[torch.Tensor, Targets],
              margins: torch.Tensor, s: float = 1.0,
              class_weight: Optional[torch.Tensor] = None,
              ignore_index: Optional[int] = None) -> torch.Tensor:
    r"""Pure function: element-wise LDAM :math:`-w_y \log \mathrm{softmax}(s(z - \Delta_y e_y))_y`.

    Args:
        logits (Tensor): (N, C, \*) logits (cosines when ``s`` is the cosine-head scale).
        target (Tensor | Targets): (N, \*) class indices, (N, C, \*) soft targets, or
            targets already validated by :func:`prepare_targets`.
        margins (Tensor): (C,) margins :math:`\Delta` (see :func:`ldam_margins`).
        s (float): Scale applied to the margin-adjusted logits. Default 1.0.
        class_weight (Tensor, optional): (C,) per-class weights :math:`w`.
        ignore_index (int, optional): Label value that contributes nothing (only used when
            ``target`` is a tensor).

    Returns:
        Tensor: (N, \*) loss, 0 at ignored entries.
    """
    targets = target if isinstance(target, Targets) else prepare_targets(logits, target,
                                                                         ignore_index)
    z = to_float32(logits)
    log_probs = F.log_softmax(s * subtract_margins(z, targets, margins), dim=1)
    if class_weight is not None:
        class_weight = class_weight.to(device=log_probs.device, dtype=log_probs.dtype)
    return class_nll(log_probs, targets, class_weight)


@register_loss
class LDAMLoss(ClassScoreLoss):
    r"""LDAM loss :math:`-w_y \log \operatorname{softmax}(s(z - \Delta_y e_y))_y` (Cao et al. 2019).

    Meant for a cosine classifier, ``NormedLinearClsHead`` (logits in [-1, 1], ``s``
    applied). With mmpretrain's plain ``LinearClsHead`` the default ``logit_type='auto'``
    leaves ``s`` out (effective scale 1) and warns once when ``s != 1``.

    Args:
        cls_num_list (list | str, optional): Per-class training counts (list or .txt/.json
            path). ``None`` lets :class:`ClassCountsHook` fill them before training; a forward
            without counts raises an error naming the hook.
        max_m (float): Largest margin, given to the rarest class. Default 0.5.
        s (float): Logit scale for cosine logits. Default 30.0.
        class_weight (list[float] | str, optional): Per-class weights :math:`w`, or
            ``'inverse'``, ``'sqrt_inverse'``, ``'effective_number'``. Overridden by deferred
            re-weighting (:class:`DRWHook`, the "DRW" of LDAM-DRW) while it is active.
        logit_type (str): ``'auto'`` (default): cosine, and ``s`` applied, iff the head called
            :meth:`mark_cosine_logits` (``NormedLinearClsHead`` does); otherwise raw.
            ``'cosine'``: the logits are cosine similarities, ``s`` is applied (use only with a
            normalised head). ``'raw'``: unnormalised logits (``LinearClsHead``), ``s`` is not
            applied.
        cb_beta (float): ``beta`` of ``'effective_number'``. Default 0.9999.
        ignore_index (int, optional): Label ignored in the loss; the value passed to
            ``forward`` takes precedence. Default None.
        reduction (str): ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        loss_weight (float): Multiplier of the loss. Default 1.0.
        loss_name (str): Name under which the loss is logged. Default ``'loss_ldam'``.
    """

    requires_counts = True

    def __init__(self, cls_num_list=None, max_m: float = 0.5, s: float = 30.0,
                 class_weight=None, logit_type: str = 'auto', cb_beta: float = 0.9999,
                 ignore_index: Optional[int] = None, reduction: str = 'mean',
                 loss_weight: float = 1.0, loss_name: str = 'loss_ldam') -> None:
        # Counts are set below, once the margin parameters exist (set_class_counts calls
        # _on_counts_changed, which needs them).
        super().__init__(ignore_index=ignore_index, reduction=reduction,
                         loss_weight=loss_weight, loss_name=loss_name,
                         class_weight=class_weight, cls_num_list=None, cb_beta=cb_beta)
        self.max_m = check_non_negative(max_m, 'max_m')
        self.s = check_positive(s, 's')
        if logit_type not in LOGIT_TYPES:
            raise ValueError(f'logit_type must be one of {LOGIT_TYPES}, got {logit_type!r}')
        self.logit_type = logit_type
        #: Set by :meth:`mark_cosine_logits` (called by NormedLinearClsHead).
        self.cosine_logits = False
        # Derived from cls_num (which is saved); recomputed on load, so not persistent.
        self.register_buffer('margins', None, persistent=False)
        if cls_num_list is not None:
            self.set_class_counts(cls_num_list)

    # -- head type
    def mark_cosine_logits(self) -> None:
        """Declare that the head produces cosine logits in [-1, 1] (``s`` is then applied
        under ``logit_type='auto'``). Called by ``NormedLinearClsHead``."""
        self.cosine_logits = True

    @property
    def resolved_logit_type(self) -> str:
        """``'cosine'`` or ``'raw'``: ``logit_type`` with ``'auto'`` resolved."""
        if self.logit_type == 'auto':
            return 'cosine' if self.cosine_logits else 'raw'
        return self.logit_type

    @property
    def effective_s(self) -> float:
        """The scale actually applied: ``s`` for cosine logits, 1.0 for raw logits."""
        return self.s if self.resolved_logit_type == 'cosine' else 1.0

    def _scale(self) -> float:
        """Effective scale, warning once when ``s`` is dropped under ``'auto'``."""
        if self.logit_type == 'auto' and not self.cosine_logits and self.s != 1.0:
            name = type(self).__name__
            warn_once(f'{name}.s_not_applied',
                      f'{name}: s={self.s} is meant for cosine logits (NormedLinearClsHead) and '
                      'is not applied to the raw logits of this head (effective scale 1.0). '
                      "To apply it anyway set logit_type='cosine'; set logit_type='raw' or "
                      's=1.0 to silence this warning.')
        return self.effective_s

    # -- counts
    def _on_counts_changed(self) -> None:
        self.margins = ldam_margins(self.cls_num, self.max_m)

    def compute(self, cls_score: torch.Tensor, targets: Targets) -> torch.Tensor:
        """Element-wise loss on validated targets (called inside ``float32_compute``)."""
        return ldam_loss(cls_score, targets, self.margins, self._scale(),
                         self.effective_class_weight())

    def extra_repr(self) -> str:
        return (f'max_m={self.max_m}, s={self.s}, logit_type={self.logit_type!r} '
                f'(resolved {self.resolved_logit_type!r}, effective s={self.effective_s}), '
                + super().extra_repr())
