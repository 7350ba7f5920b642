r"""Softmax (multi-class) focal loss with per-class weights.

Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017 (arXiv 1708.02002), in its
multi-class softmax form. For logits :math:`z` with :math:`p = \operatorname{softmax}(z)`
and label :math:`y`:

.. math::

    \mathcal{L}(z, y) = -\,w_y\,(1 - p_y)^{\gamma}\,\log p_y

* :math:`p_y` is the softmax probability of the true class. It is *not* recovered as
  :math:`\exp(-\mathrm{CE})` of a class-weighted cross-entropy (that would mix the weight
  into the probability); the class weight :math:`w_y` (the focal :math:`\alpha_y`) multiplies
  the modulated term from outside.
* The modulation :math:`(1 - p_y)^{\gamma}` is applied per sample (per pixel), before the
  reduction; never to the batch-mean cross-entropy.
* :math:`\gamma = 0` gives the weighted cross-entropy exactly.

Soft targets :math:`t` (Mixup/CutMix ``gt_score``) generalise it to

.. math::

    \mathcal{L}(z, t) = -\sum_c t_c\, w_c\, (1 - p_c)^{\gamma} \log p_c ,

which equals the formula above for one-hot :math:`t`.

Works on classification logits (N, C) and pixel-wise on segmentation logits (N, C, H, W) /
(N, C, D, H, W), where entries equal to ``ignore_index`` contribute nothing and are left out
of the mean. Not to be confused with mmpretrain's ``FocalLoss``, which is the sigmoid
(binary, scalar-:math:`\alpha`) variant.
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

__all__ = ['SoftmaxFocalLoss', 'focal_modulation', 'softmax_focal_loss']


def focal_modulation(log_probs: torch.Tensor, gamma: float) -> Optional[torch.Tensor]:
    r"""The focal factor :math:`(1 - p_c)^\gamma` for every class, or ``None`` for ``gamma=0``.

    :math:`1 - p` is computed as ``-expm1(log p)`` (accurate for confident predictions) and
    floored at the smallest normal float, so :math:`\gamma < 1` never yields an infinite
    gradient at :math:`p = 1`.

    Args:
        log_probs (Tensor): log-probabilities of any shape: (N, C, \*) for soft targets, the
            (N, \*) :math:`\log p_y` of the labels for hard ones.
        gamma (float): Focusing parameter, >= 0.

    Returns:
        Tensor | None: factor of the shape and dtype of ``log_probs``.
    """
    if gamma == 0:
        return None
    one_minus_p = (-torch.expm1(log_probs)).clamp_min(torch.finfo(log_probs.dtype).tiny)
    return one_minus_p.pow(gamma)


def softmax_focal_loss(logits: torch.Tensor, target: Union[torch.Tensor, Targets],
                       gamma: float = 2.0, class_weight: Optional[torch.Tensor] = None,
                       ignore_index: Optional[int] = None) -> torch.Tensor:
    r"""Pure function: element-wise softmax focal loss (float32, or float64 for fp64 input).

    Args:
        logits (Tensor): (N, C, \*) raw scores.
        target (Tensor | Targets): (N, \*) class indices, (N, C, \*) soft targets, or targets
            already validated by :func:`prepare_targets`.
        gamma (float): Focusing parameter :math:`\gamma \ge 0`.
        class_weight (Tensor, optional): (C,) per-class weights :math:`w` (focal
            :math:`\alpha`).
        ignore_index (int, optional): Label value that contributes nothing (only used when
            ``target`` is a tensor).

    Returns:
        Tensor: (N, \*) loss, 0 at ignored entries.
    """
    targets = target if isinstance(target, Targets) else prepare_targets(logits, target,
                                                                         ignore_index)
    log_probs = F.log_softmax(to_float32(logits), dim=1)
    modulation = None if gamma == 0 else (lambda lp: focal_modulation(lp, gamma))
    return class_nll(log_probs, targets, class_weight, modulation)


@register_loss
class SoftmaxFocalLoss(ClassScoreLoss):
    r"""Multi-class softmax focal loss :math:`-w_y (1-p_y)^\gamma \log p_y`.

    For any softmax classifier head (``LinearClsHead``, ``NormedLinearClsHead``) and for
    segmentation decode heads (pixel-wise, with ``ignore_index``).

    Args:
        gamma (float): Focusing parameter, >= 0 (0 is weighted cross-entropy). Default 2.0.
        class_weight (list[float] | str, optional): Per-class weights :math:`w` (the focal
            :math:`\alpha_y`), or ``'inverse'``, ``'sqrt_inverse'``, ``'effective_number'``
            computed from the class counts. Overridden by deferred re-weighting
            (:class:`DRWHook`) while it is active.
        cls_num_list (list | str, optional): Per-class training counts (list or .txt/.json
            path), only needed by a ``class_weight`` strategy; ``None`` lets
            :class:`ClassCountsHook` fill them.
        cb_beta (float): ``beta`` of ``'effective_number'``. Default 0.9999.
        ignore_index (int, optional): Label ignored in the loss. The value passed to
            ``forward`` (mmseg passes 255) takes precedence. Default None.
        reduction (str): ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        loss_weight (float): Multiplier of the loss. Default 1.0.
        loss_name (str): Name under which mmseg logs it. Default ``'loss_softmax_focal'``.
    """

    def __init__(self, gamma: float = 2.0, class_weight=None, cls_num_list=None,
                 cb_beta: float = 0.9999, ignore_index: Optional[int] = None,
                 reduction: str = 'mean', loss_weight: float = 1.0,
                 loss_name: str = 'loss_softmax_focal') -> None:
        super().__init__(ignore_index=ignore_index, reduction=reduction,
                         loss_weight=loss_weight, loss_name=loss_name,
                         class_weight=class_weight, cls_num_list=cls_num_list, cb_beta=cb_beta)
        self.gamma = check_non_negative(gamma, 'gamma')

    def compute(self, cls_score: torch.Tensor, targets: Targets) -> torch.Tensor:
        return softmax_focal_loss(cls_score, targets, self.gamma, self.effective_class_weight())

    def extra_repr(self) -> str:
        return f'gamma={self.gamma}, ' + super().extra_repr()
