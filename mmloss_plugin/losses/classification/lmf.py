r"""Large-margin-aware focal (LMF) loss.

Sadi et al., "LMFLoss: A Hybrid Loss for Imbalanced Medical Image Classification",
arXiv 2212.12741: a weighted sum of the softmax focal loss (Lin et al., ICCV 2017) and the
LDAM loss (Cao et al., NeurIPS 2019) on the same logits,

.. math::

    \mathcal{L} = \alpha\, \mathcal{L}_{\mathrm{focal}}(s z, y)
                + \beta\, \mathcal{L}_{\mathrm{LDAM}}(z, y),

    \mathcal{L}_{\mathrm{focal}}(s z, y) = -\,w_y (1 - p_y)^{\gamma} \log p_y,\quad
    p = \operatorname{softmax}(s z),

    \mathcal{L}_{\mathrm{LDAM}}(z, y) = -\,w_y \log \operatorname{softmax}(s(z - \Delta_y e_y))_y,
    \quad \Delta_j = m_{\max}\, n_j^{-1/4} / \max_k n_k^{-1/4}.

The formulas are those of :mod:`.focal` and :mod:`.ldam`, composed, not re-implemented.

Deliberate generalisation: **both terms see the same scaled logits** :math:`s z` (the focal
term gets no margin). :math:`s` is the effective scale of :class:`LDAMLoss`' ``logit_type``:
the configured ``s`` for cosine logits (``NormedLinearClsHead``), 1 for raw logits
(``LinearClsHead``). With a cosine head, a focal term on the unscaled cosines
:math:`z \in [-1, 1]` would have :math:`p \approx 1/C` for every class and an almost flat,
uninformative gradient, so it is scaled as well; on raw logits both terms use :math:`z`.

The class weight :math:`w` (list, strategy, or the DRW weight while active) applies to both
terms. Soft targets use each term's soft generalisation (see :mod:`.focal`, :mod:`.ldam`);
counts are clamped to >= 1, so zero-count classes are finite.
"""
from __future__ import annotations

from typing import Optional, Union

import torch

from ...registry import register_loss
from ..utils import Targets, check_non_negative, prepare_targets, to_float32
from .focal import softmax_focal_loss
from .ldam import LDAMLoss, ldam_loss

__all__ = ['LMFLoss', 'lmf_loss']


def lmf_loss(logits: torch.Tensor, target: Union[torch.Tensor, Targets],
             margins: torch.Tensor, alpha: float = 1.0, beta: float = 1.0, gamma: float = 2.0,
             s: float = 1.0, class_weight: Optional[torch.Tensor] = None,
             ignore_index: Optional[int] = None) -> torch.Tensor:
    r"""Pure function: element-wise :math:`\alpha\,\mathrm{focal}(s z) + \beta\,\mathrm{LDAM}(z)`.

    Args:
        logits (Tensor): (N, C, \*) logits.
        target (Tensor | Targets): (N, \*) class indices, (N, C, \*) soft targets, or targets
            already validated by :func:`prepare_targets`.
        margins (Tensor): (C,) LDAM margins.
        alpha (float): Weight of the focal term.
        beta (float): Weight of the LDAM term.
        gamma (float): Focal focusing parameter.
        s (float): Scale of the logits seen by both terms.
        class_weight (Tensor, optional): (C,) per-class weights used by both terms.
        ignore_index (int, optional): Label value that contributes nothing (only used when
            ``target`` is a tensor).

    Returns:
        Tensor: (N, \*) loss, 0 at ignored entries.
    """
    targets = target if isinstance(target, Targets) else prepare_targets(logits, target,
                                                                         ignore_index)
    z = to_float32(logits)
    loss = 0
    if alpha:
        loss = alpha * softmax_focal_loss(s * z, targets, gamma, class_weight)
    if beta:
        loss = loss + beta * ldam_loss(z, targets, margins, s, class_weight)
    return loss


@register_loss
class LMFLoss(LDAMLoss):
    r"""LMF loss :math:`\alpha\,\mathrm{focal} + \beta\,\mathrm{LDAM}` (Sadi et al. 2022).

    As for :class:`LDAMLoss`, ``s`` is meant for a cosine classifier (``NormedLinearClsHead``);
    on mmpretrain's plain ``LinearClsHead`` the default ``logit_type='auto'`` does not apply it
    (effective scale 1, one-time warning when ``s != 1``).

    Args:
        cls_num_list (list | str, optional): Per-class training counts (list or .txt/.json
            path); ``None`` lets :class:`ClassCountsHook` fill them.
        alpha (float): Weight of the focal term, >= 0. Default 1.0.
        beta (float): Weight of the LDAM term, >= 0 (``alpha`` and ``beta`` not both 0).
            Default 1.0.
        gamma (float): Focal focusing parameter, >= 0. Default 2.0.
        max_m (float): Largest LDAM margin (rarest class). Default 0.5.
        s (float): Logit scale for cosine logits, seen by both terms. Default 30.0.
        class_weight (list[float] | str, optional): Per-class weights for both terms, or
            ``'inverse'``, ``'sqrt_inverse'``, ``'effective_number'``; overridden by
            :class:`DRWHook` while it is active.
        logit_type (str): ``'auto'`` | ``'cosine'`` | ``'raw'``, see :class:`LDAMLoss`.
            ``'cosine'`` only with ``NormedLinearClsHead``; ``'raw'`` for ``LinearClsHead``.
        cb_beta (float): ``beta`` of ``'effective_number'``. Default 0.9999.
        ignore_index (int, optional): Label ignored in the loss. Default None.
        reduction (str): ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        loss_weight (float): Multiplier of the loss. Default 1.0.
        loss_name (str): Name under which the loss is logged. Default ``'loss_lmf'``.
    """

    def __init__(self, cls_num_list=None, alpha: float = 1.0, beta: float = 1.0,
                 gamma: float = 2.0, max_m: float = 0.5, s: float = 30.0, class_weight=None,
                 logit_type: str = 'auto', cb_beta: float = 0.9999,
                 ignore_index: Optional[int] = None, reduction: str = 'mean',
                 loss_weight: float = 1.0, loss_name: str = 'loss_lmf') -> None:
        alpha = check_non_negative(alpha, 'alpha')
        beta = check_non_negative(beta, 'beta')
        if alpha == 0 and beta == 0:
            raise ValueError('alpha and beta must not both be 0 (the loss would be constant)')
        gamma = check_non_negative(gamma, 'gamma')
        super().__init__(cls_num_list=cls_num_list, max_m=max_m, s=s,
                         class_weight=class_weight, logit_type=logit_type, cb_beta=cb_beta,
                         ignore_index=ignore_index, reduction=reduction,
                         loss_weight=loss_weight, loss_name=loss_name)
        self.alpha, self.beta, self.gamma = alpha, beta, gamma

    def compute(self, cls_score: torch.Tensor, targets: Targets) -> torch.Tensor:
        """Element-wise loss on validated targets (called inside ``float32_compute``)."""
        return lmf_loss(cls_score, targets, self.margins, self.alpha, self.beta, self.gamma,
                        self._scale(), self.effective_class_weight())

    def extra_repr(self) -> str:
        return f'alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}, ' \
            + super().extra_repr()
