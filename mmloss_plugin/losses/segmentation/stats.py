r"""Per-class region statistics shared by every segmentation loss of the plugin.

Region losses (Dice, IoU, Tversky, generalized Dice, sensitivity-specificity) are functions of
per-class sums over the spatial axes of an image (or of the whole batch):

.. math::

    TP_c = \sum_s m_s\, p_{c,s}\, g_{c,s}, \qquad
    \Sigma p_c = \sum_s m_s\, p_{c,s}, \qquad
    \Sigma g_c = \sum_s m_s\, g_{c,s}, \qquad
    FP_c = \Sigma p_c - TP_c, \qquad FN_c = \Sigma g_c - TP_c,

with :math:`p` the softmax (or sigmoid) probabilities, :math:`g` the one-hot (or binary)
target and :math:`m_s = [y_s \ne \text{ignore}]\cdot w_s` the validity mask times the optional
per-pixel weight, so ignored pixels leave every sum — numerators and denominators alike.
The sensitivity-specificity loss also needs :math:`\sum_s m_s p_{c,s}^2 g_{c,s}` and
:math:`\sum_s m_s p_{c,s}^2`.

:func:`region_stats` computes them **without a one-hot tensor** when the target is a label map:
the probability of the labelled class is gathered per pixel and added into per-class bins
(``scatter_add``), :math:`\Sigma g` is a (weighted) label histogram and :math:`\Sigma p` a
masked sum. For this path an autograd function returns the gradient with respect to the
logits directly, written in place into the probabilities' buffer (the only (N, C, S) tensor
of the step besides the logits, instead of autograd's chain of one-hot-sized
intermediates). Dense targets — one-channel binary maps, multi-label maps and soft targets —
are already (N, C', S) tensors; their first-moment sums also have an analytic backward (the
second moments use plain autograd). ``fused_kernel=True`` replaces these paths by two
``torch.compile`` kernels (:mod:`.fused_stats`).

Everything accumulates in float32 (float64 inputs stay float64), whatever the autocast dtype.
:class:`RegionLoss` is the thin module base of the region losses: it parses the options they
share (``use_sigmoid``, ``include_background``, ``batch``, ``smooth``, ``class_weight``,
``ignore_index``), validates the inputs and reduces the per-image, per-class losses.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Tuple

import torch

from ..utils import (
    BaseLoss,
    check_finite,
    check_ignore_index,
    check_non_negative,
    float32_compute,
    mask_ignored,
    prepare_targets,
    split_ignored_labels,
    to_float32,
    warn_once,
)

__all__ = ['SegTargets', 'RegionStats', 'prepare_seg_targets', 'region_stats', 'RegionLoss']


# ------------------------------------------------------------------------------ targets
class SegTargets(NamedTuple):
    """Validated, flattened segmentation targets for an (N, C, \\*spatial) prediction.

    Exactly one of ``index`` and ``dense`` is set.

    Attributes:
        index (Tensor | None): (N, S) int64 class indices (ignored pixels set to 0).
        dense (Tensor | None): (N, C', S) float targets in [0, 1]: the foreground map of a
            one-channel binary output (C' = 1), a multi-label map or soft targets (C' = C).
        valid (Tensor | None): (N, S) or (N, C', S) bool mask of non-ignored entries;
            ``None`` when every entry is valid.
        weight (Tensor | None): (N, S) float per-pixel weight, or ``None``.
    """

    index: Optional[torch.Tensor]
    dense: Optional[torch.Tensor]
    valid: Optional[torch.Tensor]
    weight: Optional[torch.Tensor]

    def mask(self, dtype: torch.dtype) -> Optional[torch.Tensor]:
        """``valid * weight`` in ``dtype`` ((N, S) or (N, C', S)), or ``None`` if all ones."""
        m = None if self.weight is None else self.weight.to(dtype)
        if self.valid is not None:
            if m is None:
                m = self.valid.to(dtype)
            elif self.valid.dim() == 3:
                m = self.valid.to(dtype) * m.unsqueeze(1)
            else:
                m = m * self.valid
        return m


def _pixel_weight(weight: Optional[torch.Tensor], n: int, spatial: Tuple[int, ...]
                  ) -> Optional[torch.Tensor]:
    if weight is None:
        return None
    if not torch.is_tensor(weight):
        raise TypeError(f'weight must be a tensor of per-pixel weights shaped {(n,) + spatial}, '
                        f'got {type(weight).__name__}')
    if weight.dim() == len(spatial) + 2 and weight.shape[1] == 1:
        weight = weight.squeeze(1)
    if tuple(weight.shape) != (n,) + spatial:
        raise ValueError(f'weight must be a per-pixel weight of shape {(n,) + spatial} (or with '
                         f'a singleton channel), got {tuple(weight.shape)}')
    return to_float32(weight.float() if not weight.is_floating_point() else weight
                      ).reshape(n, -1)


#: Integer maps are converted to float32 before their range check when the ignore index is
#: exactly representable there (every integer up to 2**24 is): the float32 ``aminmax`` is
#: vectorised where the int64 one is not, and the float map is needed anyway. The conversion
#: keeps the order of the values, so a label below 0 or above 1 stays out of [0, 1].
_EXACT_FLOAT32_INT = 2 ** 24


def _binary_map(target: torch.Tensor, ignore_index: Optional[int], name: str
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """0/1 (or soft [0, 1]) map with ignore entries -> (float map with 0 there, valid mask)."""
    if target.dtype == torch.bool:
        return target.float(), None
    ignore_index = check_ignore_index(ignore_index, 2)
    integer = not target.is_floating_point()
    if integer and ignore_index is not None and abs(ignore_index) >= _EXACT_FLOAT32_INT:
        labels, valid = split_ignored_labels(target, 2, ignore_index, name)
        return labels.float(), valid
    x = target.float() if integer else target
    if not x.numel():
        return to_float32(x), None
    x, valid, lo, hi = mask_ignored(x, ignore_index)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi > 1:
        if integer:  # the error names the (exact) integer label
            split_ignored_labels(target, 2, ignore_index, name)
        extra = '' if ignore_index is None else f' or ignore_index={ignore_index}'
        raise ValueError(f'{name} must hold values in [0, 1]{extra} for sigmoid outputs, got '
                         f'values in [{lo}, {hi}]')
    return to_float32(x), valid


def prepare_seg_targets(pred: torch.Tensor, target: torch.Tensor,
                        ignore_index: Optional[int] = None, use_sigmoid: bool = False,
                        weight: Optional[torch.Tensor] = None) -> SegTargets:
    r"""Validate and flatten segmentation targets for ``pred`` of shape (N, C, \*spatial).

    Accepted targets:

    * softmax (``use_sigmoid=False``, C >= 2): (N, \*spatial) or (N, 1, \*spatial) integer
      class indices, or (N, C, \*spatial) float soft targets;
    * sigmoid, one channel (C = 1, binary): (N, \*spatial) or (N, 1, \*spatial) 0/1 labels
      (or probabilities in [0, 1]);
    * sigmoid, C > 1: (N, C, \*spatial) multi-label 0/1 maps (per-entry ``ignore_index``
      allowed), or (N, \*spatial) class indices (one-vs-rest).

    Entries equal to ``ignore_index`` are marked invalid; labels outside the valid range raise
    ``ValueError``.

    Args:
        pred (Tensor): (N, C, \*spatial) logits, at least one spatial axis.
        target (Tensor): Targets as above.
        ignore_index (int, optional): Label value to ignore.
        use_sigmoid (bool): Whether ``pred`` holds sigmoid logits.
        weight (Tensor, optional): (N, \*spatial) or (N, 1, \*spatial) per-pixel weight.

    Returns:
        SegTargets: flattened targets, validity mask and pixel weight.
    """
    if not torch.is_tensor(pred) or pred.dim() < 3:
        shape = tuple(pred.shape) if torch.is_tensor(pred) else type(pred).__name__
        raise ValueError(f'pred must be a tensor of shape (N, C, *spatial) with at least one '
                         f'spatial axis, got {shape}')
    if not torch.is_tensor(target):
        raise TypeError(f'target must be a tensor, got {type(target).__name__}')
    n, c = pred.shape[:2]
    spatial = tuple(pred.shape[2:])
    pix_weight = _pixel_weight(weight, n, spatial)
    if use_sigmoid and (c == 1 or tuple(target.shape) == tuple(pred.shape)):
        if c == 1 and target.dim() == pred.dim() and target.shape[1] == 1:
            target = target.squeeze(1)
        expected = (n,) + spatial if c == 1 else tuple(pred.shape)
        if tuple(target.shape) != expected:
            raise ValueError(f'target shape {tuple(target.shape)} does not match pred shape '
                             f'{tuple(pred.shape)}: expected {expected} 0/1 labels for a '
                             'one-channel sigmoid output')
        dense, valid = _binary_map(target, ignore_index, 'target')
        if c == 1:
            dense = dense.reshape(n, 1, -1)
            valid = None if valid is None else valid.reshape(n, -1)
        else:
            dense = dense.reshape(n, c, -1)
            valid = None if valid is None else valid.reshape(n, c, -1)
        return SegTargets(None, dense, valid, pix_weight)
    if c == 1:
        raise ValueError('pred has a single channel: set use_sigmoid=True for one-channel '
                         'binary outputs (softmax over one channel is constant)')
    t = prepare_targets(pred, target, ignore_index)
    if t.is_soft:
        return SegTargets(None, t.soft.reshape(n, c, -1), None, pix_weight)
    valid = None if t.valid is None else t.valid.reshape(n, -1)
    return SegTargets(t.index.reshape(n, -1), None, valid, pix_weight)


# ---------------------------------------------------------------------------- statistics
class RegionStats(NamedTuple):
    """Per-class sums, each of shape (B, K): B = N images (or 1 with ``batch=True``).

    Attributes:
        tp (Tensor): :math:`\\sum m p g`.
        pred_sum (Tensor): :math:`\\sum m p`.
        target_sum (Tensor): :math:`\\sum m g`.
        count (Tensor): :math:`\\sum m` (valid, weighted pixels), (B, 1) or (B, K).
        tp_sq (Tensor | None): :math:`\\sum m p^2 g` (``second_moments=True`` only).
        pred_sq_sum (Tensor | None): :math:`\\sum m p^2` (``second_moments=True`` only).
    """

    tp: torch.Tensor
    pred_sum: torch.Tensor
    target_sum: torch.Tensor
    count: torch.Tensor
    tp_sq: Optional[torch.Tensor] = None
    pred_sq_sum: Optional[torch.Tensor] = None

    @property
    def fp(self) -> torch.Tensor:
        """False positives :math:`\\sum m p (1 - g)`."""
        return self.pred_sum - self.tp

    @property
    def fn(self) -> torch.Tensor:
        """False negatives :math:`\\sum m (1 - p) g`."""
        return self.target_sum - self.tp

    @property
    def present(self) -> torch.Tensor:
        """(B,) bool: rows with at least one counted pixel."""
        return self.count.sum(1) > 0

    def drop_first_class(self) -> RegionStats:
        """Statistics without class 0 (``include_background=False``)."""
        return RegionStats(*(None if t is None else (t[:, 1:] if t.shape[1] > 1 else t)
                             for t in self))


def _activate(z: torch.Tensor, use_sigmoid: bool) -> torch.Tensor:
    """Sigmoid per channel, or softmax over dim 1, as a contiguous new tensor."""
    return (z.sigmoid() if use_sigmoid else z.softmax(1)).contiguous()


def _masked_sum(x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """(N, C) :math:`\\sum_s m_s x_{c,s}` of an (N, C, S) tensor without an (N, C, S) temporary."""
    if mask is None:
        return x.sum(2)
    return torch.bmm(x, mask.unsqueeze(2)).squeeze(2)


class _IndexRegionSums(torch.autograd.Function):
    """Fused ``act(z)`` + per-class sums against a label map, with an analytic backward.

    Outputs (N, C) tensors: :math:`\\sum m p`, :math:`\\sum_{y=c} m p` and, with
    ``second``, :math:`\\sum m p^2`, :math:`\\sum_{y=c} m p^2`.

    Memory: the probabilities are the only (N, C, S) tensor of the forward pass, and the
    backward pass writes the gradient of the logits into that same buffer (it is private to
    this function); a second backward through a retained graph recomputes them from the
    saved logits.
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, index: torch.Tensor, mask: Optional[torch.Tensor],
                use_sigmoid: bool, second: bool):
        p = _activate(z, use_sigmoid)
        n, c, s = p.shape
        # position of (y_s, s) in each image's flattened (C * S) plane: gathering along the
        # last, contiguous axis is faster than along the class axis (the int64 positions,
        # as large as p for C = 2, are not kept for the backward pass)
        flat = torch.arange(s, device=z.device).add(index, alpha=s)
        p_t = p.view(n, c * s).gather(1, flat)  # (N, S) probability of the labelled class
        del flat
        p_t_m = p_t if mask is None else p_t * mask
        outs = [_masked_sum(p, mask), p.new_zeros(n, c).scatter_add_(1, index, p_t_m)]
        if second:
            outs.append(_masked_sum(p * p, mask))
            outs.append(p.new_zeros(n, c).scatter_add_(1, index, p_t_m * p_t))
        del p_t_m
        ctx.use_sigmoid, ctx.second = use_sigmoid, second
        # not saved tensors: the backward pass frees p_t early and overwrites p with the
        # gradient (both are private to this function)
        ctx.probs = (p, p_t)
        ctx.save_for_backward(z, index, mask)
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        z, index, mask = ctx.saved_tensors
        if ctx.probs is None:  # consumed by an earlier backward (retain_graph=True)
            p = _activate(z, ctx.use_sigmoid)
            p_t = p.gather(1, index.unsqueeze(1)).squeeze(1)
        else:
            (p, p_t), ctx.probs = ctx.probs, None
        n, c, s = p.shape
        a, b = (torch.zeros(n, c, dtype=p.dtype, device=p.device) if g is None else g
                for g in grads[:2])
        # dL/dp_c = m (G_c + [y = c] u) with G_c = a_c (+ 2 a2_c p_c) and, at the labelled
        # class, u = b_y (+ 2 b2_y p_t); a, b (a2, b2) are the incoming output gradients.
        u = b.gather(1, index)
        if ctx.second:
            a2, b2 = (torch.zeros_like(a) if g is None else g for g in grads[2:])
            u.addcmul_(b2.gather(1, index), p_t, value=2.0)
            g_off = torch.addcmul(a.unsqueeze(2), a2.unsqueeze(2), p, value=2.0)
            if ctx.use_sigmoid:  # dz = p (1 - p) dL/dp
                grad_z = g_off.mul_(p.addcmul_(p, p, value=-1.0))
                u.mul_(p_t).mul_(1.0 - p_t)
            else:  # dz_c = p_c (dL/dp_c - sum_k p_k dL/dp_k)
                u.mul_(p_t)
                g_off.mul_(p)
                dot = g_off.sum(1, keepdim=True).add_(u.unsqueeze(1))
                grad_z = g_off.addcmul_(p, dot, value=-1.0)
                del dot
            del p
            if mask is not None:
                grad_z.mul_(mask.unsqueeze(1))
        else:  # G_c = a_c: every (N, C, S) step runs in place on p
            grad_z = p
            if ctx.use_sigmoid:
                grad_z.addcmul_(p, p, value=-1.0).mul_(a.unsqueeze(2))
                u.mul_(p_t).mul_(1.0 - p_t)
                if mask is not None:
                    grad_z.mul_(mask.unsqueeze(1))
            else:  # dz_c = m p_c (a_c - dot), dot = sum_k p_k a_k + p_t u
                u.mul_(p_t)
                del p_t
                dot = torch.bmm(a.unsqueeze(1), p).squeeze(1).add_(u)
                if mask is not None:
                    dot.mul_(mask)
                row = torch.empty_like(dot)
                for k in range(c):  # one (N, S) row buffer instead of an (N, C, S) one
                    if mask is None:
                        torch.sub(a[:, k:k + 1], dot, out=row)
                    else:
                        torch.mul(mask, a[:, k:k + 1], out=row).sub_(dot)
                    grad_z[:, k].mul_(row)
                del row, dot
        if mask is not None:
            u.mul_(mask)
        grad_z.scatter_add_(1, index.unsqueeze(1), u.unsqueeze(1))
        return grad_z, None, None, None, None


def _dense_grad(g: torch.Tensor, grad_a: Optional[torch.Tensor],
                grad_b: Optional[torch.Tensor], shape: Tuple[int, int]) -> torch.Tensor:
    """``a_c + b_c g`` as a new (N, C, S) tensor, for (N, C) ``a``/``b`` (``None``: zeros).

    Two broadcasting binary ops rather than one ``addcmul``: the CPU kernels vectorise a binary
    op with a per-row scalar operand but not a ternary one, which makes ``addcmul`` about 1.7x
    slower than the pair here.
    """
    # (N, C', S) * (N, C, 1) -> (N, C, S)
    d = g.new_zeros(*shape, g.shape[2]) if grad_b is None else torch.mul(g, grad_b.unsqueeze(2))
    return d if grad_a is None else d.add_(grad_a.unsqueeze(2))


class _DenseRegionSums(torch.autograd.Function):
    """``act(z)`` + per-class :math:`\\sum m p` and :math:`\\sum m p g` against a dense target.

    The first-moment counterpart of :class:`_IndexRegionSums` for (N, C, S) targets (one-channel
    binary maps, multi-label maps, soft targets) that do not require a gradient: the products
    are reduced by ``einsum``/``bmm`` without (N, C, S) temporaries, and the backward pass
    writes the gradient of the logits with one (N, C, S) buffer besides the probabilities.
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, g: torch.Tensor, mask: Optional[torch.Tensor],
                use_sigmoid: bool):
        p = _activate(z, use_sigmoid)
        gm = g if mask is None else g * (mask.unsqueeze(1) if mask.dim() == 2 else mask)
        pred_sum = _masked_sum(p, mask) if mask is None or mask.dim() == 2 \
            else torch.einsum('ncs,ncs->nc', p, mask)
        tp = torch.einsum('ncs,ncs->nc', p, gm.expand_as(p))  # no (N, C, S) product
        ctx.use_sigmoid = use_sigmoid
        ctx.probs = p  # not a saved tensor: the sigmoid backward overwrites it
        ctx.save_for_backward(z, g, mask)
        return pred_sum, tp

    @staticmethod
    def backward(ctx, grad_ps, grad_tp):
        z, g, mask = ctx.saved_tensors
        p, ctx.probs = ctx.probs, None
        if p is None:  # consumed by an earlier backward (retain_graph=True)
            p = _activate(z, ctx.use_sigmoid)
        d = _dense_grad(g, grad_ps, grad_tp, p.shape[:2])  # dL/dp = m (a_c + b_c g)
        if mask is not None:
            d.mul_(mask.unsqueeze(1) if mask.dim() == 2 else mask)
        if ctx.use_sigmoid:  # dz = p (1 - p) dL/dp
            return d.mul_(p.addcmul_(p, p, value=-1.0)), None, None, None
        d.mul_(p)  # softmax: dz = p dL/dp - p sum_c p dL/dp
        return d.addcmul_(p, d.sum(1, keepdim=True), value=-1.0), None, None, None


def _fused_sums(z: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor],
                use_sigmoid: bool, second: bool) -> Optional[Tuple[torch.Tensor, ...]]:
    """The compiled kernels' sums, or ``None`` (with a one-time warning) for the eager path."""
    from . import fused_stats  # torch.compile is imported only when asked for
    if target.requires_grad:  # the kernels treat targets as constants
        return None
    if not fused_stats.supports_classes(z.shape[1]):
        return None
    return fused_stats.fused_region_sums(z, target, mask, use_sigmoid, second)


def region_stats(logits: torch.Tensor, targets: SegTargets, use_sigmoid: bool = False,
                 batch: bool = False, second_moments: bool = False,
                 fused_kernel: bool = False, finite_check: Optional[str] = None
                 ) -> RegionStats:
    r"""Per-class TP, :math:`\Sigma p`, :math:`\Sigma g` (and second moments) of a prediction.

    Applies the activation (softmax over classes, or sigmoid) to ``logits`` and reduces over
    the spatial axes — and over the batch when ``batch`` — with ignored pixels removed and
    the per-pixel weight applied to both :math:`p` and :math:`g`. A label-map target is never
    expanded to a one-hot tensor.

    Args:
        logits (Tensor): (N, C, \*spatial) raw scores, float32 or float64.
        targets (SegTargets): from :func:`prepare_seg_targets`.
        use_sigmoid (bool): Sigmoid per channel instead of softmax over channels.
        batch (bool): Sum over the batch as well (one row) instead of per image.
        second_moments (bool): Also return :math:`\sum m p^2 g` and :math:`\sum m p^2`.
        fused_kernel (bool): With at most
            :data:`~mmloss_plugin.losses.segmentation.fused_stats.MAX_FUSED_CLASSES` classes,
            use the ``torch.compile`` kernels of
            :mod:`~mmloss_plugin.losses.segmentation.fused_stats` (one pass over the logits
            forward, one backward); with more classes, or when they can not be compiled, the
            eager path runs (with a one-time warning).
        finite_check (str, optional): Also check ``logits`` for NaN/Inf, naming them so in
            the error (:func:`~mmloss_plugin.losses.utils.check_finite`). The fused kernels
            make their :math:`\Sigma p` NaN where a logit is not finite, which saves the
            check's own pass over the logits.

    Returns:
        RegionStats: (B, K) sums with B = 1 if ``batch`` else N and K the number of channels.
    """
    n, c = logits.shape[:2]
    z = logits.reshape(n, c, -1)
    dtype = z.dtype
    mask = targets.mask(dtype)
    s = z.shape[2]
    use_sigmoid, second_moments = bool(use_sigmoid), bool(second_moments)
    m = None if mask is None else (mask.unsqueeze(1) if mask.dim() == 2 else mask)
    target = targets.index if targets.index is not None else targets.dense.to(dtype)
    outs = _fused_sums(z, target, mask, use_sigmoid, second_moments) if fused_kernel else None
    if finite_check is not None:
        check_finite(z, finite_check, total=None if outs is None else outs[0])
    if outs is not None:
        pred_sum, tp, target_sum = outs[:3]
        pred_sq, tp_sq = (outs[3], outs[4]) if second_moments else (None, None)
    elif targets.index is not None:
        outs = _IndexRegionSums.apply(z, target, mask, use_sigmoid, second_moments)
        pred_sum, tp = outs[0], outs[1]
        pred_sq, tp_sq = (outs[2], outs[3]) if second_moments else (None, None)
        ones = mask if mask is not None else z.new_ones(()).expand(n, s)
        target_sum = z.new_zeros(n, c).scatter_add_(1, target, ones)
    elif not (second_moments or target.requires_grad):
        pred_sum, tp = _DenseRegionSums.apply(z, target, mask, use_sigmoid)
        target_sum = (target if m is None else target * m).sum(2).expand_as(tp)
        pred_sq = tp_sq = None
    else:  # plain autograd (also propagates to targets that require a gradient)
        g = target
        p = z.sigmoid() if use_sigmoid else z.softmax(1)
        pm = p if m is None else p * m
        gm = g if m is None else g * m
        tp = (pm * g).sum(2)
        pred_sum = pm.sum(2)
        target_sum = gm.sum(2).expand_as(tp)
        pred_sq = (pm * p).sum(2) if second_moments else None
        tp_sq = (pm * p * g).sum(2) if second_moments else None
    count = z.new_full((n, 1), float(s)) if m is None else m.sum(2)
    stats = RegionStats(tp, pred_sum, target_sum, count, tp_sq, pred_sq)
    if batch:
        stats = RegionStats(*(None if t is None else t.sum(0, keepdim=True) for t in stats))
    return stats


# --------------------------------------------------------------------------- module base
class RegionLoss(BaseLoss):
    """Module base of the region (overlap) losses: options, inputs, reduction.

    Subclasses implement :meth:`loss_from_stats`, returning (B, K) per-row, per-class losses
    (or (B,) when the classes are combined inside the formula, as in generalized Dice).

    Args:
        use_sigmoid (bool): ``False``: softmax over C >= 2 channels and (N, \\*spatial)
            labels. ``True``: sigmoid per channel; a one-channel output is binary (its
            statistics are those of the foreground, label 1) and C > 1 channels take
            multi-label (N, C, \\*spatial) 0/1 maps or labels (one-vs-rest). Default False.
        include_background (bool): Keep class 0 in the class mean. Default True (as MONAI).
            Ignored, with a warning, for one-channel binary outputs.
        batch (bool): Statistics summed over the whole batch (one loss per class) instead of
            per image (a loss per image and class, then the mean). Default False.
        smooth (float): Added to numerator and denominator of each ratio. Default 1e-5
            (MONAI's ``smooth_nr = smooth_dr``).
        class_weight (list[float] | str, optional): C per-class weights multiplying the
            per-class losses before the mean (like MONAI's ``weight``; not renormalised).
            With ``include_background=False`` the first entry is unused.
        ignore_index (int, optional): Label whose pixels leave every sum. Default 255; the
            value passed to ``forward`` (mmseg's decode head passes its own) wins.
        reduction (str): ``'mean'`` (over images that have valid pixels and over classes),
            ``'sum'`` or ``'none'`` ((B, K) losses). Default ``'mean'``.
        loss_weight (float): Multiplier of the loss. Default 1.0.
        loss_name (str, optional): Key under which mmseg logs the loss.
        fused_kernel (bool): Opt-in speed-up: the activation, the per-class sums and their
            gradient run in two kernels generated by ``torch.compile`` (inductor: C++ on CPU,
            Triton on GPU; see :mod:`~mmloss_plugin.losses.segmentation.fused_stats`)
            instead of a chain of ATen kernels. Same values up to float rounding, and the
            probabilities are the only (N, C, S) tensor kept besides the gradient. The first
            call for each number of classes, dtype, activation and weighting compiles (about
            15 s on a 2-core CPU with an empty inductor cache, 1-2 s with inductor's on-disk
            cache), and small inputs gain nothing (one forward+backward step on a 2x4x8x8
            input takes about 0.7 ms on one CPU thread, 0.6 ms eager). The NaN/Inf check of
            ``pred`` comes from the forward kernel's own sums instead of a separate pass.
            More than 16 classes keep the eager path; if compilation
            fails, a one-time warning is issued and the eager path is used. Default False.
    """

    #: Whether :meth:`loss_from_stats` needs :math:`\sum p^2` terms.
    second_moments: bool = False

    def __init__(self, use_sigmoid: bool = False, include_background: bool = True,
                 batch: bool = False, smooth: float = 1e-5, class_weight=None,
                 ignore_index: Optional[int] = 255, reduction: str = 'mean',
                 loss_weight: float = 1.0, loss_name: Optional[str] = None,
                 fused_kernel: bool = False) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight, loss_name=loss_name,
                         class_weight=class_weight)
        for name, value in (('use_sigmoid', use_sigmoid),
                            ('include_background', include_background), ('batch', batch),
                            ('fused_kernel', fused_kernel)):
            if not isinstance(value, bool):
                raise TypeError(f'{name} must be True or False, got {value!r}')
        if ignore_index is not None and (isinstance(ignore_index, bool)
                                         or not isinstance(ignore_index, int)):
            raise TypeError(f'ignore_index must be an int or None, got {ignore_index!r}')
        self.use_sigmoid = use_sigmoid
        self.include_background = include_background
        self.batch = batch
        self.fused_kernel = fused_kernel
        self.smooth = check_non_negative(smooth, 'smooth')
        self.ignore_index = ignore_index

    @property
    def defers_finite_check(self) -> bool:
        """With ``fused_kernel`` the NaN/Inf check of ``pred`` rides on the forward kernel."""
        return self.fused_kernel

    def extra_repr(self) -> str:
        return (f'use_sigmoid={self.use_sigmoid}, include_background={self.include_background}, '
                f'batch={self.batch}, smooth={self.smooth}, ignore_index={self.ignore_index}, '
                + ('fused_kernel=True, ' if self.fused_kernel else '') + super().extra_repr())

    def loss_from_stats(self, stats: RegionStats,
                        class_weight: Optional[torch.Tensor]) -> torch.Tensor:
        """Per-row (B, K) or (B,) losses from statistics (class_weight already sliced)."""
        raise NotImplementedError

    @staticmethod
    def apply_class_weight(loss: torch.Tensor, class_weight: Optional[torch.Tensor]
                           ) -> torch.Tensor:
        """Multiply (B, K) per-class losses by (K,) class weights (if any)."""
        if class_weight is None:
            return loss
        return loss * class_weight.to(device=loss.device, dtype=loss.dtype)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                weight: Optional[torch.Tensor] = None, avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None, ignore_index: Optional[int] = None,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): (N, C, H, W) or (N, C, D, H, W) logits.
            target (Tensor): (N, \\*spatial) or (N, 1, \\*spatial) labels; (N, C, \\*spatial)
                multi-label maps (sigmoid) or soft targets (softmax).
            weight (Tensor, optional): (N, \\*spatial) per-pixel weight multiplying the
                contributions of p and g (e.g. mmseg's OHEM ``seg_weight``).
            avg_factor (float, optional): Divides the sum of the (B, K) losses instead of
                their count (``'mean'`` only).
            reduction_override (str, optional): Overrides ``reduction``.
            ignore_index (int, optional): Overrides the constructor's value when not None.

        Returns:
            Tensor: Scalar loss, or (B, K) (per row, per class) for ``'none'``.
        """
        ignore = self.ignore_index if ignore_index is None else ignore_index
        num_classes = pred.shape[1] if torch.is_tensor(pred) and pred.dim() > 1 else None
        targets = prepare_seg_targets(pred, target, ignore, self.use_sigmoid, weight)
        self.check_num_classes(num_classes)
        reduction = self._reduction(reduction_override)
        with float32_compute(pred):
            stats = region_stats(to_float32(pred), targets, self.use_sigmoid, self.batch,
                                 self.second_moments, self.fused_kernel,
                                 self.deferred_finite_check(pred))
            class_weight = self.effective_class_weight()
            if not self.include_background:
                if num_classes == 1:
                    warn_once(f'{type(self).__name__}.include_background',
                              f'{type(self).__name__}: include_background=False has no effect '
                              'on a one-channel (binary) output')
                else:
                    stats = stats.drop_first_class()
                    if class_weight is not None:
                        class_weight = class_weight[1:]
            loss = self.loss_from_stats(stats, class_weight)
            # without ignored pixels or pixel weights every row has valid pixels
            present = None if targets.valid is None and targets.weight is None \
                else stats.present
            loss = self._reduce_rows(loss, present, reduction, avg_factor)
            return loss if self.loss_weight == 1.0 else self.loss_weight * loss

    @staticmethod
    def _reduce_rows(loss: torch.Tensor, present: Optional[torch.Tensor], reduction: str,
                     avg_factor: Optional[float]) -> torch.Tensor:
        if reduction == 'none':
            return loss
        if reduction == 'sum':
            if avg_factor is not None:
                raise ValueError('avg_factor can not be used with reduction="sum"')
            return loss.sum()
        if avg_factor is not None:
            return loss.sum() / (avg_factor + torch.finfo(loss.dtype).eps)
        if present is None:
            return loss.mean()
        # Rows without any valid pixel have loss exactly 0 and zero gradient; they are left
        # out of the mean, and an all-ignored batch gives 0.
        per_row = loss[0].numel() if loss.dim() > 1 else 1
        denom = (present.sum() * per_row).clamp_min(1).to(loss.dtype)
        return loss.sum() / denom
