r"""Optional ``torch.compile`` kernels for the region statistics (``fused_kernel=True``).

:func:`~mmloss_plugin.losses.segmentation.stats.region_stats` normally runs the activation and
the per-class sums as a chain of ATen kernels (for label maps: the softmax, a gather of the
labelled class, scatter-adds into per-class bins, and as many kernels again backward). With
``fused_kernel=True`` on a region loss the same quantities come from two kernels that
inductor generates (C++ on CPU, Triton on GPU):

* forward: one pass over the logits and the target computes the activation in registers,
  accumulates :math:`\Sigma p`, TP, :math:`\Sigma g` (and the second moments) for every class
  and stores the probabilities for the backward pass;
* backward: one pass over the probabilities writes the gradient of the logits.

The probabilities and the gradient are the only (N, C, S) tensors.
``WeightedCrossEntropyLoss(fused_kernel=True)`` uses a second pair of kernels
(:func:`fused_nll_sums`): per-class cross-entropy sums forward, the gradient backward with the
softmax recomputed from the logits. The class loop is unrolled
when the kernels are traced, so each number of classes (and dtype, activation, weighting,
target kind) is compiled once per process: the first call takes seconds. Label maps and dense
targets (one-channel binary, multi-label, soft) share the kernels; the values equal the eager
path's up to float rounding. If compilation fails, :func:`fused_region_sums` returns
``None`` (a failing backward kernel is replaced by the same formula in eager mode) and warns
once; the caller then uses the eager path.
"""
from __future__ import annotations

import contextlib
import functools
from typing import List, Optional, Sequence, Tuple

import torch

from ..utils import warn_once

__all__ = ['MAX_FUSED_CLASSES', 'RECOMPILE_LIMIT', 'LABEL_DTYPE', 'fused_region_sums',
           'fused_nll_sums', 'supports_classes', 'compile_error']

#: Above this many classes the unrolled kernels are no faster than the eager path, which
#: region_stats then uses (registers spill, C exponentials per pixel, long compilation).
MAX_FUSED_CLASSES = 16


def supports_classes(num_classes: int) -> bool:
    """Whether the kernels run for ``num_classes`` (else a one-time warning: eager path)."""
    if num_classes <= MAX_FUSED_CLASSES:
        return True
    warn_once('fused_kernel.classes', f'fused_kernel=True is used for at most '
              f'{MAX_FUSED_CLASSES} classes (the kernels unroll the class loop); '
              f'{num_classes} classes use the eager implementation')
    return False


def _poison(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``x + 0 z``: ``x`` itself where the logit ``z`` is finite, NaN where it is NaN or +-Inf.

    The kernels' activations pass through it, so a pixel with a logit that is not finite
    makes its probabilities, and every sum over that pixel, NaN (a ``-inf`` logit alone
    would give a valid softmax and sigmoid). The callers' NaN/Inf check of the logits then
    reads the (N, C) sums instead of making a pass over the logits of its own. (A separate
    reduction of the logits instead made inductor split the forward kernel in two and store
    the exponentials: 2.7x slower on 8x4x256x256.)
    """
    return x + z * 0.0


def _exp_terms(zs: Sequence[torch.Tensor]
               ) -> Tuple[torch.Tensor, List[torch.Tensor], torch.Tensor]:
    """Stable softmax pieces of per-class (N, S) logits: the max, ``exp(z_k - max)``, their
    sum (:func:`_poison`-ed by the smallest logit: NaN and +inf already reach every term
    through the max)."""
    top = functools.reduce(torch.maximum, zs)
    es = [(zk - top).exp() for zk in zs]
    total = functools.reduce(torch.add, es)
    return top, es, _poison(total, functools.reduce(torch.minimum, zs))


def _probs(zs: Sequence[torch.Tensor], use_sigmoid: bool) -> List[torch.Tensor]:
    """Per-class (N, S) probabilities of per-class (N, S) logits, as pointwise expressions
    (NaN at pixels with a logit that is not finite, see :func:`_poison`)."""
    if use_sigmoid:
        return [_poison(zk.sigmoid(), zk) for zk in zs]
    _, es, total = _exp_terms(zs)
    inv = total.reciprocal()
    return [ek * inv for ek in es]


#: dtype in which a label map enters the kernels. The caller checked the labels are in
#: [0, C); :func:`_labels` converts them once per step, before the forward kernel, and the
#: converted map is what both kernels read. float32 (exact for every label below 2**24):
#: each kernel then compares the label with every class in the float unit, with no integer
#: conversion inside the loop. On an AVX2 CPU (no AVX-512) inductor vectorises int64 (and
#: bool) loads poorly: converting int64 labels inside the forward kernel was 16-27 % slower
#: than reading float32 ones, which costs one eager conversion pass
#: (``tools/profile_fused_kernel.py`` compares float32, int32 and int64). A module constant
#: that the conversion reads: changing it compiles kernels for the other dtype.
LABEL_DTYPE = torch.float32


def _labels(target: torch.Tensor) -> torch.Tensor:
    """A label map as :data:`LABEL_DTYPE` (contiguous); dense targets as they are."""
    if target.is_floating_point() and target.dim() == 3:
        return target
    return target.to(LABEL_DTYPE).contiguous()


def _indicator(target: torch.Tensor, k: int, dtype: torch.dtype) -> torch.Tensor:
    """(N, S) target of class ``k``: ``[y = k]`` for an (N, S) label map (any dtype), the
    k-th row of an (N, C', S) dense one."""
    return target[:, k] if target.dim() == 3 else (target == k).to(dtype)


def _row(mask: Optional[torch.Tensor], k: int) -> Optional[torch.Tensor]:
    """(N, S) weight of class ``k`` from an (N, S) or (N, C, S) mask."""
    return mask[:, k] if mask is not None and mask.dim() == 3 else mask


def _forward(z: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor],
             use_sigmoid: bool, second: bool) -> Tuple[torch.Tensor, ...]:
    """Forward kernel: (N, C) sums of :func:`fused_region_sums`, then the probabilities."""
    sums: List[List[torch.Tensor]] = [[] for _ in range(5 if second else 3)]
    zs = z.unbind(1)
    ps = _probs(zs, use_sigmoid)
    for k, pk in enumerate(ps):
        g, m = _indicator(target, k, z.dtype), _row(mask, k)
        pm = pk if m is None else pk * m
        sums[0].append(pm.sum(1))
        sums[1].append((pm * g).sum(1))
        sums[2].append((g if m is None else g * m).sum(1))
        if second:
            sums[3].append((pm * pk).sum(1))
            sums[4].append((pm * pk * g).sum(1))
    return tuple(torch.stack(s, 1) for s in sums) + (torch.stack(ps, 1),)


def _backward(p: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor],
              use_sigmoid: bool, grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """Backward kernel: the (N, C, S) gradient of the logits from the sums' gradients."""
    ps = p.unbind(1)
    dl = []  # dL/dp_k = m (a_k + b_k g_k (+ 2 p_k (a2_k + b2_k g_k)))
    for k, pk in enumerate(ps):
        g, m = _indicator(target, k, p.dtype), _row(mask, k)
        d = grads[0][:, k:k + 1] + grads[1][:, k:k + 1] * g
        if len(grads) == 4:
            d = d + 2.0 * pk * (grads[2][:, k:k + 1] + grads[3][:, k:k + 1] * g)
        dl.append(d if m is None else d * m)
    if use_sigmoid:
        return torch.stack([pk * (1.0 - pk) * d for pk, d in zip(ps, dl)], 1)
    dot = functools.reduce(torch.add, [pk * d for pk, d in zip(ps, dl)])
    return torch.stack([pk * (d - dot) for pk, d in zip(ps, dl)], 1)


def _nll_forward(z: torch.Tensor, index: torch.Tensor,
                 mask: Optional[torch.Tensor]) -> torch.Tensor:
    r"""Cross-entropy kernel: (N, C) sums
    :math:`\sum_s m_s [y_s = k] (\operatorname{lse}(z_s) - z_{k,s})` (NaN where a logit is
    not finite, see :func:`_poison`)."""
    zs = z.unbind(1)
    top, _, total = _exp_terms(zs)
    lse = total.log() + top
    m = None if mask is None else mask.to(z.dtype)
    sums = []
    for k, zk in enumerate(zs):
        term = _indicator(index, k, z.dtype) * (lse - zk)
        sums.append((term if m is None else term * m).sum(1))
    return torch.stack(sums, 1)


def _nll_backward(z: torch.Tensor, index: torch.Tensor, mask: Optional[torch.Tensor],
                  grad: torch.Tensor) -> torch.Tensor:
    """Gradient of the logits, :math:`m_s e_{y_s} (p_{j,s} - [y_s = j])`, from the sums' (N, C)
    gradient :math:`e`; the probabilities are recomputed from the logits (nothing of size
    (N, C, S) is kept between the passes)."""
    ps = _probs(z.unbind(1), False)
    gs = [_indicator(index, k, z.dtype) for k in range(len(ps))]
    e_y = functools.reduce(torch.add, [grad[:, k:k + 1] * g for k, g in enumerate(gs)])
    if mask is not None:
        e_y = e_y * mask.to(z.dtype)
    return torch.stack([e_y * (pk - g) for pk, g in zip(ps, gs)], 1)


#: Configurations (numbers of classes, dtypes, activations, weightings, target kinds, dynamic
#: shapes) each kernel may be compiled for in a process; later ones run eagerly. torch's own
#: default (8 per function) is raised to this while the kernels run.
RECOMPILE_LIMIT = 64


@functools.lru_cache(maxsize=None)
def _compiled():
    """The compiled kernels (built lazily: importing the plugin never compiles): region
    statistics forward and backward, cross-entropy forward and backward."""
    return tuple(torch.compile(fn, fullgraph=True)
                 for fn in (_forward, _backward, _nll_forward, _nll_backward))


class _NoKernelError(Exception):
    """The forward kernel can not run: :func:`fused_region_sums` returns ``None``."""


def _recompile_limit() -> Tuple[object, Optional[str], Optional[int]]:
    """``(config, name, value)`` of dynamo's recompile limit; name and value ``None`` if absent.

    torch < 2.6 names it ``cache_size_limit``. pytest's (9.2) ``monkeypatch`` undo deletes torch
    config entries, which hides them until they are assigned again: that reads as absent.
    """
    import torch._dynamo
    config = torch._dynamo.config
    for name in ('recompile_limit', 'cache_size_limit'):
        value = getattr(config, name, None)
        if value is not None:
            return config, name, value
    return config, None, None


@contextlib.contextmanager
def recompile_limit_raised():
    """Context in which dynamo's recompile limit is at least :data:`RECOMPILE_LIMIT`.

    For callers of :func:`_compiled`'s kernels outside :func:`_run` (benchmarks, profilers):
    without it they share the default limit of 8 with every other compiled function.
    """
    config, name, previous = _recompile_limit()
    if name is None:
        yield
        return
    setattr(config, name, max(RECOMPILE_LIMIT, previous))
    try:
        yield
    finally:
        setattr(config, name, previous)


def _run(which: int, *args):
    """Result of compiled kernel ``which`` (index into :func:`_compiled`), or ``None``."""
    if compile_error is not None:
        return None
    # set and restored by hand, not through recompile_limit_raised(): on CPU the generator
    # context manager adds 4-8 us a call, ``config.patch`` about 40 us (it builds a class each
    # time), against about 0.8 ms for a small crop's whole compiled step (two calls)
    config, name, previous = _recompile_limit()
    limit = max(RECOMPILE_LIMIT, previous) if name is not None else "dynamo's maximum number of"
    try:
        if name is not None:
            setattr(config, name, limit)
        return _compiled()[which](*args)
    except Exception as e:
        if type(e).__name__ == 'FailOnRecompileLimitHit':  # the kernels still work
            warn_once('fused_kernel.recompiles', f'fused_kernel=True: the region statistics '
                      f'kernels were compiled for {limit} configurations in this process; '
                      'new ones use the eager implementation')
        else:  # no C++ compiler / Triton, or an unsupported torch build
            _disable(e)
        return None
    finally:
        if name is not None:
            setattr(config, name, previous)


class _FusedRegionSums(torch.autograd.Function):
    """Autograd wrapper of the two kernels; saves the probabilities, target and mask."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor],
                use_sigmoid: bool, second: bool):
        outs = _run(0, z, target, mask, use_sigmoid, second)
        if outs is None:
            raise _NoKernelError
        *outs, p = outs
        ctx.use_sigmoid, ctx.second = use_sigmoid, second
        ctx.save_for_backward(p, target, mask)
        ctx.mark_non_differentiable(outs[2])
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        p, target, mask = ctx.saved_tensors
        n, c = p.shape[:2]
        keep = (0, 1, 3, 4) if ctx.second else (0, 1)
        grads = [torch.zeros(n, c, dtype=p.dtype, device=p.device) if grads[i] is None
                 else grads[i].contiguous() for i in keep]
        grad_z = _run(1, p, target, mask, ctx.use_sigmoid, grads)
        if grad_z is None:  # the same formula, eagerly
            grad_z = _backward(p, target, mask, ctx.use_sigmoid, grads)
        return grad_z, None, None, None, None


class _FusedNLLSums(torch.autograd.Function):
    """Autograd wrapper of the cross-entropy kernels; saves only the inputs."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, index: torch.Tensor, mask: Optional[torch.Tensor]):
        sums = _run(2, z, index, mask)
        if sums is None:
            raise _NoKernelError
        ctx.save_for_backward(z, index, mask)
        return sums

    @staticmethod
    def backward(ctx, grad):
        z, index, mask = ctx.saved_tensors
        grad = grad.contiguous()
        grad_z = _run(3, z, index, mask, grad)
        if grad_z is None:  # the same formula, eagerly
            grad_z = _nll_backward(z, index, mask, grad)
        return grad_z, None, None


#: The first failure to compile (``None`` while the kernels work or were not used).
compile_error: Optional[BaseException] = None


def _disable(error: BaseException) -> None:
    global compile_error
    compile_error = error
    warn_once('fused_kernel', f'fused_kernel=True: torch.compile could not build the region '
              f'statistics kernels ({type(error).__name__}: {str(error)[:300]}); falling back '
              'to the eager implementation (same values, default speed)')


def fused_region_sums(z: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor],
                      use_sigmoid: bool, second: bool) -> Optional[Tuple[torch.Tensor, ...]]:
    r"""Per-class sums of ``act(z)`` against a target, from the compiled kernels.

    Args:
        z (Tensor): (N, C, S) logits, float32 or float64.
        target (Tensor): (N, S) integer labels in [0, C) (ignored pixels have ``mask`` 0;
            converted once to :data:`LABEL_DTYPE`), or
            (N, C, S) float targets (one-channel binary, multi-label or soft), a constant.
        mask (Tensor, optional): (N, S) or (N, C, S) validity times pixel weight.
        use_sigmoid (bool): Sigmoid per channel instead of softmax over channels.
        second (bool): Also return :math:`\sum m p^2` and :math:`\sum m p^2 g`.

    Returns:
        tuple | None: (N, C) :math:`\Sigma m p`, TP, :math:`\Sigma m g` (not differentiable)
        and, with ``second``, :math:`\Sigma m p^2`, :math:`\sum m p^2 g`; ``None`` when the
        kernels can not run (compilation failed — the error is kept in
        :data:`compile_error` — or :data:`RECOMPILE_LIMIT` configurations were compiled).
    """
    try:
        return _FusedRegionSums.apply(z, _labels(target), mask, use_sigmoid, second)
    except _NoKernelError:
        return None


def fused_nll_sums(z: torch.Tensor, index: torch.Tensor, mask: Optional[torch.Tensor]
                   ) -> Optional[torch.Tensor]:
    r"""Per-class sums of the cross-entropy :math:`-\log \operatorname{softmax}(z)_y`.

    Used by ``WeightedCrossEntropyLoss(fused_kernel=True)``: one pass over the logits and
    labels forward (log-sum-exp in registers, nothing of size (N, C, S) written), one pass
    backward (the softmax recomputed from the logits).

    Args:
        z (Tensor): (N, C, S) logits, float32 or float64.
        index (Tensor): (N, S) integer labels in [0, C) (ignored entries have ``mask`` False;
            converted once to :data:`LABEL_DTYPE`).
        mask (Tensor, optional): (N, S) bool validity mask (or float weights).

    Returns:
        Tensor | None: (N, C) :math:`\sum_s m_s [y_s = k] (-\log p_{k,s})`, differentiable
        with respect to ``z``; ``None`` when the kernels can not run.
    """
    if not supports_classes(z.shape[1]):
        return None
    try:
        return _FusedNLLSums.apply(z, _labels(index), mask)
    except _NoKernelError:
        return None
