"""Shared machinery of every mmloss_plugin loss.

Everything that is not a loss formula lives here, once:

* argument validation with messages that name the argument and the expected form,
* OpenMMLab-style element-wise weighting and reduction (``weight_reduce_loss``),
* class-count parsing (list, ``.txt``/``.json`` path) and class-weight strategies,
* :class:`BaseLoss`, the thin ``nn.Module`` base that parses config arguments, keeps
  per-class tensors as buffers (they follow ``.to(device)`` and are saved in
  checkpoints) and runs the formula in float32 whatever the autocast dtype.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import threading
import warnings
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

__all__ = [
    'REDUCTIONS', 'CLASS_WEIGHT_STRATEGIES', 'BaseLoss', 'weight_reduce_loss', 'reduce_summed',
    'check_reduction', 'check_positive', 'check_non_negative', 'check_unit_interval',
    'check_ignore_index', 'check_finite',
    'load_class_counts', 'class_weights_from_counts', 'resolve_class_weight',
    'check_class_labels', 'mask_ignored', 'split_ignored_labels', 'to_float32',
    'float32_compute', 'Targets', 'prepare_targets', 'warn_once', 'pred_checked',
]

REDUCTIONS = ('none', 'mean', 'sum')
CLASS_WEIGHT_STRATEGIES = ('inverse', 'sqrt_inverse', 'effective_number')

ClassWeightSpec = Union[None, str, Sequence[float], torch.Tensor]
CountsSpec = Union[None, str, os.PathLike, Sequence[float], np.ndarray, torch.Tensor]


# --------------------------------------------------------------------------- validation
def check_reduction(reduction: Optional[str], name: str = 'reduction') -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f'{name} must be one of {REDUCTIONS}, got {reduction!r}')
    return reduction


def _check_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f'{name} must be a number, got {type(value).__name__} {value!r}')
    if not math.isfinite(value):
        raise ValueError(f'{name} must be finite, got {value!r}')
    return float(value)


def check_positive(value: Any, name: str) -> float:
    value = _check_number(value, name)
    if value <= 0:
        raise ValueError(f'{name} must be > 0, got {value!r}')
    return value


def check_non_negative(value: Any, name: str) -> float:
    value = _check_number(value, name)
    if value < 0:
        raise ValueError(f'{name} must be >= 0, got {value!r}')
    return value


def check_non_negative_int(value: Any, name: str, what: str = '') -> int:
    """``value`` as an int >= 0 (bools refused); ``what`` says what it counts, e.g.
    ``' (0-based epoch)'``, in the error message."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f'{name} must be an int >= 0{what}, got {value!r}')
    return value


def check_unit_interval(value: Any, name: str, *, open_right: bool = False) -> float:
    value = _check_number(value, name)
    if value < 0 or value > 1 or (open_right and value == 1):
        interval = '[0, 1)' if open_right else '[0, 1]'
        raise ValueError(f'{name} must be in {interval}, got {value!r}')
    return value


def check_ignore_index(ignore_index: Any, num_classes: Optional[int] = None,
                       name: str = 'ignore_index') -> Optional[int]:
    """Validate an ``ignore_index``: ``None``, or an int that is not a real class index.

    A value in ``[0, num_classes)`` would silently drop every sample/pixel of that class from
    the loss (and from the mean), so it is rejected whenever ``num_classes`` is known.

    Returns:
        int | None: ``ignore_index`` as a Python int (or ``None``).
    """
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f'{name} must be an int or None, got {ignore_index!r}')
    ignore_index = int(ignore_index)
    if num_classes is not None and 0 <= ignore_index < num_classes:
        raise ValueError(f'{name}={ignore_index} is a real class index (classes are 0..'
                         f'{num_classes - 1}): every entry of that class would be dropped from '
                         f'the loss; use a value outside [0, {num_classes - 1}] for unlabelled '
                         'entries (e.g. 255)')
    return ignore_index


def check_finite(x: torch.Tensor, name: str = 'pred',
                 total: Optional[torch.Tensor] = None) -> None:
    """Raise ``ValueError`` naming ``name`` if the floating tensor ``x`` holds NaN or Inf.

    The fast path is one ``sum`` (a single reduction without a temporary, several times
    cheaper than ``isfinite(x).all()`` on CPU); NaN/Inf entries make the sum non-finite. Only
    then — or when a sum of huge finite values overflows — are the entries tested one by one.
    Non-tensors and non-floating tensors are left to the callers' own checks.

    Args:
        x (Tensor): The tensor to check.
        name (str): How the error message names it.
        total (Tensor, optional): The sum of ``x`` (any partial sums of it), already computed
            elsewhere — e.g. inside a fused kernel that reads ``x`` anyway — instead of the
            pass over ``x``.
    """
    if not torch.is_tensor(x) or not x.is_floating_point() or x.numel() == 0:
        return
    x = x.detach()
    if total is None:
        # float16 sums of large maps overflow easily (65504): accumulate those in float32
        total = x.sum(dtype=torch.float32) if x.dtype == torch.float16 else x.sum()
    if bool(torch.isfinite(total).all()):
        return
    n_nan, n_inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
    if n_nan or n_inf:
        raise ValueError(f'{name} contains {n_nan} NaN and {n_inf} Inf value(s) (shape '
                         f'{tuple(x.shape)}, {x.dtype}): the model output is not finite; '
                         'training diverged (lower the learning rate, clip gradients) or the '
                         'input or fp16 activations overflowed')


def check_class_labels(label: torch.Tensor, num_classes: int, ignore_index: Optional[int] = None,
                       name: str = 'label') -> None:
    """Raise a clear error for integer labels outside ``[0, num_classes)``.

    Pixels/samples equal to ``ignore_index`` are allowed. The check runs on the host copy of
    ``min``/``max`` so it never turns into a device-side assert.
    """
    split_ignored_labels(label, num_classes, ignore_index, name)


def mask_ignored(x: torch.Tensor, ignore_index: Optional[int]
                 ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Any, Any]:
    """Set entries equal to ``ignore_index`` to 0 and return the range of the others.

    Min/max run on the host copy of one ``aminmax`` pass; only when ``ignore_index`` lies within
    that range is the validity mask built (and min/max recomputed with ignored entries set to
    0). No boolean indexing, which is several times slower on large maps. Works on integer and
    floating tensors (a NaN makes ``lo``/``hi`` NaN, which the callers' range checks reject).

    Args:
        x (Tensor): Non-empty label or target map.
        ignore_index (int, optional): Value of the ignored entries (already validated).

    Returns:
        tuple: ``(x, valid, lo, hi)`` — ``x`` with ignored entries set to 0 (unchanged when
        none is), the bool mask of non-ignored entries (``None`` when all are valid), and the
        min/max of the non-ignored entries as Python numbers (``0, 0`` when all are ignored).
    """
    lo, hi = (v.item() for v in torch.aminmax(x))
    if ignore_index is None or not lo <= ignore_index <= hi:  # no entry can be ignored
        return x, None, lo, hi
    valid = x != ignore_index
    if not bool(valid.any()):
        return x.masked_fill(~valid, 0), valid, 0, 0
    if bool(valid.all()):
        return x, None, lo, hi
    x = x.masked_fill(~valid, 0)  # 0 is a valid class/target: no effect on the range check
    lo, hi = (v.item() for v in torch.aminmax(x))
    return x, valid, lo, hi


def split_ignored_labels(label: torch.Tensor, num_classes: int,
                         ignore_index: Optional[int] = None, name: str = 'label'
                         ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Check integer labels (see :func:`check_class_labels`) and split off ignored entries.

    The range check and the ignore mask come from :func:`mask_ignored` (one ``aminmax`` pass
    when no entry equals ``ignore_index``).

    Returns:
        tuple: ``(labels, valid)`` — the labels with ignored entries set to 0, and the bool mask
        of non-ignored entries, or ``None`` (labels returned unchanged) when all are valid.
    """
    if label.is_floating_point() or label.dtype == torch.bool:
        raise TypeError(f'{name} must be an integer tensor of class indices, got {label.dtype}')
    ignore_index = check_ignore_index(ignore_index, num_classes)
    if label.numel() == 0:
        return label, None
    label, valid, lo, hi = mask_ignored(label, ignore_index)
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        extra = '' if ignore_index is None else f' or ignore_index={ignore_index}'
        raise ValueError(f'{name} contains class index {bad}, expected values in '
                         f'[0, {num_classes - 1}] (num_classes={num_classes}){extra}')
    return label, valid


def float32_compute(ref: torch.Tensor):
    """Context manager that disables autocast on ``ref``'s device type.

    Loss formulas run inside it on :func:`to_float32` inputs, so fp16/bf16 autocast never
    downcasts the sums over large images (fp16 overflows past 65504).
    """
    return torch.autocast(device_type=ref.device.type, enabled=False)


def to_float32(x: torch.Tensor) -> torch.Tensor:
    """Cast floating tensors (fp16/bf16/fp64 stay fp64) to at least float32."""
    if x.is_floating_point() and x.dtype in (torch.float16, torch.bfloat16):
        return x.float()
    return x


# ------------------------------------------------------------------------------ targets
class Targets:
    """Validated targets for a (N, C, *spatial) prediction.

    Attributes:
        index (Tensor | None): (N, *spatial) int64 class indices with ignored entries set to 0,
            or ``None`` for soft targets.
        soft (Tensor | None): (N, C, *spatial) float32 target distribution (Mixup/CutMix
            ``gt_score``), or ``None`` for hard labels.
        valid (Tensor | None): (N, *spatial) bool mask of non-ignored entries, or ``None``
            when every entry is valid.
    """

    __slots__ = ('index', 'soft', 'valid')

    def __init__(self, index: Optional[torch.Tensor], soft: Optional[torch.Tensor],
                 valid: Optional[torch.Tensor]) -> None:
        self.index, self.soft, self.valid = index, soft, valid

    @property
    def is_soft(self) -> bool:
        return self.soft is not None

    def num_valid(self, like: torch.Tensor) -> torch.Tensor:
        """Number of non-ignored entries as a float tensor on ``like``'s device."""
        if self.valid is None:
            ref = self.index if self.index is not None else self.soft[:, 0]
            return like.new_tensor(float(ref.numel()))
        return self.valid.sum().to(like.dtype)


def prepare_targets(pred: torch.Tensor, target: torch.Tensor,
                    ignore_index: Optional[int] = None, allow_soft: bool = True) -> Targets:
    """Validate ``target`` against ``pred`` of shape (N, C, *spatial).

    Accepted targets: (N, *spatial) integer class indices, the same with a singleton channel
    (N, 1, *spatial), or — when ``allow_soft`` — an (N, C, *spatial) float distribution.
    Integer labels outside ``[0, C)`` other than ``ignore_index`` raise ``ValueError``.
    """
    if pred.dim() < 2:
        raise ValueError(f'pred must have shape (N, C, *spatial), got {tuple(pred.shape)}')
    n, c = pred.shape[:2]
    spatial = tuple(pred.shape[2:])
    if target.is_floating_point() and target.shape == pred.shape and (c > 1 or target.dim() > 2):
        if not allow_soft:
            raise ValueError(f'soft (float) targets of shape {tuple(target.shape)} are not '
                             'supported by this loss; pass integer class indices of shape '
                             f'{(n,) + spatial}')
        soft = target.float()
        if not torch.isfinite(soft).all() or (soft < 0).any():
            raise ValueError('soft targets must be finite and non-negative')
        return Targets(None, soft, None)
    if target.dim() == pred.dim() and target.shape[1] == 1:
        target = target.squeeze(1)
    if tuple(target.shape) != (n,) + spatial:
        raise ValueError(f'target shape {tuple(target.shape)} does not match pred shape '
                         f'{tuple(pred.shape)}: expected {(n,) + spatial} class indices'
                         + (f' or {tuple(pred.shape)} soft targets' if allow_soft else ''))
    if target.is_floating_point():
        if not torch.equal(target, target.round()):
            raise ValueError('target holds non-integer floats; pass integer class indices')
        target = target.long()
    target, valid = split_ignored_labels(target, c, ignore_index, name='target')
    return Targets(target.long(), None, valid)


# ---------------------------------------------------------------------------- reduction
def weight_reduce_loss(loss: torch.Tensor, weight: Optional[torch.Tensor] = None,
                       reduction: str = 'mean',
                       avg_factor: Optional[Union[float, torch.Tensor]] = None) -> torch.Tensor:
    """Apply an element-wise weight and reduce, with OpenMMLab semantics.

    Args:
        loss (Tensor): Element-wise loss, e.g. (N,) per sample or (N, *spatial) per pixel.
        weight (Tensor, optional): Broadcastable element-wise weight.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor (float | Tensor, optional): With ``'mean'``, the sum is divided by it
            instead of by the number of elements. Combined with ``'sum'`` it is an error.

    Returns:
        Tensor: Reduced loss (scalar) or the weighted element-wise loss for ``'none'``.
    """
    check_reduction(reduction)
    if weight is not None:
        if weight.dim() < loss.dim() and weight.shape != loss.shape:
            # (N,) sample weights on an (N, ...) loss.
            weight = weight.reshape(weight.shape + (1,) * (loss.dim() - weight.dim()))
        loss = loss * weight.to(loss.dtype)
    if reduction == 'none':
        return loss
    return reduce_summed(loss.sum(), loss.numel(), reduction, avg_factor)


def reduce_summed(total: torch.Tensor, num_entries: int, reduction: str = 'mean',
                  avg_factor: Optional[Union[float, torch.Tensor]] = None) -> torch.Tensor:
    """The ``'mean'``/``'sum'`` reduction of :func:`weight_reduce_loss` for a loss already
    summed over its ``num_entries`` elements (e.g. by a fused ``reduction='sum'`` kernel).

    Args:
        total (Tensor): Scalar sum of the element-wise loss.
        num_entries (int): Number of elements summed (the denominator of the plain mean).
        reduction (str): ``'mean'`` or ``'sum'``.
        avg_factor (float | Tensor, optional): As in :func:`weight_reduce_loss`.

    Returns:
        Tensor: The reduced loss.
    """
    if avg_factor is None:
        # the mean of no elements is 0 (zero gradient), not NaN
        return total / num_entries if reduction == 'mean' and num_entries else total
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum"')
    eps = torch.finfo(total.dtype).eps
    return total / (avg_factor + eps)


# ------------------------------------------------------------------ class counts/weights
def load_class_counts(spec: CountsSpec, name: str = 'cls_num_list') -> Optional[np.ndarray]:
    """Parse per-class training counts.

    Args:
        spec: ``None``; a sequence/array/tensor of non-negative numbers; or a path to a
            ``.txt`` file (numbers separated by whitespace or commas, one class per line
            or all on one line) or a ``.json`` file (a list, or a dict with a
            ``"cls_num_list"``/``"counts"`` list).
        name: Argument name used in error messages.

    Returns:
        ``np.ndarray`` of float64 counts, or ``None`` when ``spec`` is ``None``.
    """
    if spec is None:
        return None
    if isinstance(spec, (str, os.PathLike)):
        path = os.fspath(spec)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{name}: file {path!r} does not exist (expected a list of '
                                    'per-class counts, or a .txt/.json file holding one)')
        if path.endswith('.json'):
            with open(path) as f:
                data = json.load(f)
            if isinstance(data, dict):
                for key in ('cls_num_list', 'counts', 'class_counts'):
                    if key in data:
                        data = data[key]
                        break
                else:
                    raise ValueError(f'{name}: JSON file {path!r} must hold a list or a dict with '
                                     'a "cls_num_list" or "counts" list')
            values = data
        else:
            with open(path) as f:
                text = f.read().replace(',', ' ')
            try:
                values = [float(tok) for tok in text.split()]
            except ValueError as e:
                raise ValueError(f'{name}: {path!r} must contain only numbers ({e})') from None
        spec = values
    if isinstance(spec, torch.Tensor):
        spec = spec.detach().cpu().numpy()
    try:
        counts = np.asarray(spec, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f'{name} must be a list of per-class counts or a path to a .txt/.json '
                        f'file, got {spec!r}') from None
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f'{name} must be a non-empty 1-D list of per-class counts, got shape '
                         f'{counts.shape}')
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError(f'{name} must hold finite non-negative counts, got {counts.tolist()}')
    return counts


def class_weights_from_counts(counts: Union[np.ndarray, Sequence[float]], strategy: str,
                              beta: float = 0.9999) -> np.ndarray:
    """Per-class weights from training counts, normalised to sum to the number of classes.

    Strategies (n_c = count of class c, C = number of classes):

    * ``'inverse'``:          w_c ∝ 1 / n_c
    * ``'sqrt_inverse'``:     w_c ∝ 1 / sqrt(n_c)
    * ``'effective_number'``: w_c ∝ (1 - beta) / (1 - beta^{n_c})
      (Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019)

    Classes with zero samples are treated as having one sample: they get the largest
    weight, finite, so a class missing from the training split never produces inf/NaN.
    """
    if strategy not in CLASS_WEIGHT_STRATEGIES:
        raise ValueError(f'class_weight strategy must be one of {CLASS_WEIGHT_STRATEGIES} or a '
                         f'list of per-class weights, got {strategy!r}')
    n = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    if strategy == 'inverse':
        w = 1.0 / n
    elif strategy == 'sqrt_inverse':
        w = 1.0 / np.sqrt(n)
    else:
        beta = check_unit_interval(beta, 'beta', open_right=True)
        # 1 - beta**n, computed as -expm1(n*log(beta)) to stay accurate for beta -> 1.
        eff = -np.expm1(n * np.log(beta)) if beta > 0 else np.ones_like(n)
        w = (1.0 - beta) / eff if beta > 0 else np.ones_like(n)
    return w * (len(w) / w.sum())


def resolve_class_weight(spec: ClassWeightSpec, counts: Optional[np.ndarray] = None,
                         beta: float = 0.9999, name: str = 'class_weight'
                         ) -> Optional[np.ndarray]:
    """Turn a ``class_weight`` config value into per-class weights (or ``None``).

    ``spec`` may be ``None``, a list of weights, or a strategy name from
    :data:`CLASS_WEIGHT_STRATEGIES` (which needs ``counts``; ``None`` is returned while the
    counts are unknown, e.g. before :class:`ClassCountsHook` has run).
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in CLASS_WEIGHT_STRATEGIES:
            raise ValueError(f'{name} must be a list of per-class weights or one of '
                             f'{CLASS_WEIGHT_STRATEGIES}, got {spec!r}')
        return None if counts is None else class_weights_from_counts(counts, spec, beta)
    if isinstance(spec, torch.Tensor):
        spec = spec.detach().cpu().numpy()
    try:
        w = np.asarray(spec, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f'{name} must be None, a list of per-class weights or one of '
                        f'{CLASS_WEIGHT_STRATEGIES}, got {spec!r}') from None
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f'{name} must be a 1-D list of per-class weights, got shape {w.shape}')
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f'{name} must hold finite non-negative weights, got {w.tolist()}')
    return w


# ------------------------------------------------------------------------------ base
def summed_class_weight(class_weight: torch.Tensor, targets: Targets) -> torch.Tensor:
    r"""Sum of the per-class weights of the non-ignored targets.

    Args:
        class_weight (Tensor): (C,) per-class weights.
        targets (Targets): Validated targets: (N, \*) class indices or (N, C, \*) soft
            targets.

    Returns:
        Tensor: Scalar :math:`\sum_i w_{y_i}` over non-ignored entries (hard labels) or
        :math:`\sum_i \sum_c t_{ic} w_c` (soft targets), float32.
    """
    if targets.is_soft:
        soft = targets.soft
        w = class_weight.to(device=soft.device, dtype=soft.dtype)
        per_entry = (soft * w.view(1, -1, *([1] * (soft.dim() - 2)))).sum(1)
    else:
        per_entry = class_weight.to(targets.index.device)[targets.index]
    if targets.valid is not None:
        per_entry = per_entry[targets.valid]
    return per_entry.sum()


class BaseLoss(nn.Module):
    """Thin module base: config parsing, class weights/counts as buffers, float32, reduction.

    Subclasses implement :meth:`compute` (the pure formula, returning element-wise losses)
    or override ``forward`` entirely for non-element-wise losses (Dice family).

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Default ``'mean'``.
        loss_weight (float): Multiplier of the loss. Default 1.0.
        loss_name (str): Key under which mmseg logs the loss; must contain ``'loss'`` for
            mmengine to back-propagate it.
        class_weight (list | str, optional): Per-class weights, or a strategy computed from
            the class counts (``'inverse'``, ``'sqrt_inverse'``, ``'effective_number'``).
        cls_num_list (list | str, optional): Per-class training counts, a path to a
            ``.txt``/``.json`` file, or ``None`` (then :class:`ClassCountsHook` fills them).
        cb_beta (float): ``beta`` of the ``'effective_number'`` strategy. Default 0.9999.
    """

    #: Whether the formula needs class counts even without a count-based class weight.
    requires_counts: bool = False

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0,
                 loss_name: Optional[str] = None, class_weight: ClassWeightSpec = None,
                 cls_num_list: CountsSpec = None, cb_beta: float = 0.9999) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.loss_weight = _check_number(loss_weight, 'loss_weight')
        if loss_name is None:
            loss_name = 'loss_' + _snake(type(self).__name__).replace('_loss', '')
        if not isinstance(loss_name, str) or 'loss' not in loss_name:
            raise ValueError(f'loss_name must be a string containing "loss" (mmengine only '
                             f'back-propagates such keys), got {loss_name!r}')
        self._loss_name = loss_name
        self._ignore_index: Optional[int] = None
        self.cb_beta = check_unit_interval(cb_beta, 'cb_beta', open_right=True)
        self.class_weight_spec = class_weight if isinstance(class_weight, str) else None
        self.register_buffer('class_weight', None)
        self.register_buffer('cls_num', None)
        # DRW overrides the configured class weight from a point in training on.
        self.register_buffer('drw_weight', None)
        # with DRWHook(normalize='batch'): the mean divides by the batch's summed DRW weights
        self.drw_weighted_mean = False
        resolve_class_weight(class_weight)  # validates strategy names early
        if class_weight is not None and not isinstance(class_weight, str):
            self.class_weight = torch.as_tensor(resolve_class_weight(class_weight),
                                                dtype=torch.float32)
        counts = load_class_counts(cls_num_list)
        if counts is not None:
            self.set_class_counts(counts)
        # Empty or NaN/Inf predictions fail with a clear error before any formula runs.
        try:
            self.register_forward_pre_hook(_check_pred, with_kwargs=True)
        except TypeError:  # torch < 2.0: no keyword arguments in pre-hooks
            self.register_forward_pre_hook(_check_positional_pred)

    #: Whether ``forward`` checks ``pred`` for NaN/Inf itself (a fused kernel that reads the
    #: logits anyway returns their sum) instead of the pre-hook's pass over them; such a
    #: ``forward`` calls :meth:`deferred_finite_check` and checks on every path.
    defers_finite_check: bool = False

    def deferred_finite_check(self, pred: torch.Tensor) -> Optional[str]:
        """Name for the error of the NaN/Inf check ``forward`` still owes ``pred``, or ``None``.

        ``None`` unless :attr:`defers_finite_check` is set and ``pred`` was not already
        checked by an enclosing loss (:func:`pred_checked`).
        """
        if not self.defers_finite_check or pred is getattr(_CHECKED, 'pred', None):
            return None
        return f'{type(self).__name__}: pred'

    # -- properties mmseg/mmpretrain expect
    @property
    def loss_name(self) -> str:
        return self._loss_name

    @property
    def ignore_index(self) -> Optional[int]:
        """Label value that contributes nothing (``None``: none); see :func:`check_ignore_index`.

        Validated when set, against the number of classes when the loss knows it (from
        ``cls_num_list`` or a ``class_weight`` list), and again whenever counts are set.
        """
        return self._ignore_index

    @ignore_index.setter
    def ignore_index(self, value: Optional[int]) -> None:
        self._ignore_index = check_ignore_index(value, self.num_classes)

    @property
    def num_classes(self) -> Optional[int]:
        for t in (self.cls_num, self.class_weight):
            if t is not None:
                return int(t.numel())
        return None

    @property
    def needs_counts(self) -> bool:
        return self.requires_counts or self.class_weight_spec is not None

    # -- state set by hooks
    def set_class_counts(self, counts: CountsSpec) -> None:
        """Store per-class training counts (a buffer) and refresh count-derived tensors."""
        counts = load_class_counts(counts)
        if self.class_weight is not None and self.class_weight_spec is None \
                and len(counts) != self.class_weight.numel():
            raise ValueError(f'cls_num_list has {len(counts)} classes but class_weight has '
                             f'{self.class_weight.numel()}')
        check_ignore_index(self.ignore_index, len(counts))
        device = self._buffer_device()
        self.cls_num = torch.as_tensor(counts, dtype=torch.float32, device=device)
        if self.class_weight_spec is not None:
            w = resolve_class_weight(self.class_weight_spec, counts, self.cb_beta)
            self.class_weight = torch.as_tensor(w, dtype=torch.float32, device=device)
        self._on_counts_changed()

    def set_drw_weight(self, weight: Optional[Union[np.ndarray, torch.Tensor]],
                       weighted_mean: bool = False) -> None:
        """Turn deferred re-weighting on (per-class weights) or off (``None``).

        ``weighted_mean``: while the weights are on, losses that average per-sample (or
        per-pixel) terms divide by the summed weights of the batch's targets instead of their
        number (see :meth:`drw_avg_factor`).
        """
        if weight is None:
            self.drw_weight = None
            self.drw_weighted_mean = False
            return
        self.drw_weight = torch.as_tensor(np.asarray(weight), dtype=torch.float32,
                                          device=self._buffer_device())
        self.drw_weighted_mean = bool(weighted_mean)

    def drw_avg_factor(self, targets: Targets,
                       avg_factor: Optional[Union[float, torch.Tensor]] = None
                       ) -> Optional[Union[float, torch.Tensor]]:
        r"""Denominator of a ``'mean'`` over per-sample terms while DRW re-weights.

        Without DRW, or with ``weighted_mean=False``, ``avg_factor`` is returned unchanged.
        Otherwise the mean becomes a weighted mean, as ``F.cross_entropy(weight=...)``
        computes it: the denominator is the summed DRW weight of the non-ignored targets
        (:math:`\sum_i w_{y_i}`; soft targets :math:`\sum_i \sum_c t_{ic} w_c`), and a given
        ``avg_factor`` (mmpretrain's heads pass the batch size) is scaled by that sum over
        the number of non-ignored targets. An all-ignored batch gives 0, so the loss stays
        0 with zero gradient.
        """
        if self.drw_weight is None or not self.drw_weighted_mean:
            return avg_factor
        summed = summed_class_weight(self.drw_weight, targets)
        if avg_factor is None:
            return summed
        return summed * (avg_factor / targets.num_valid(summed))

    def _on_counts_changed(self) -> None:
        """Hook for subclasses that derive buffers (margins, log-priors) from counts."""

    def _buffer_device(self) -> torch.device:
        for b in self.buffers():
            if b is not None:
                return b.device
        return torch.device('cpu')

    def effective_class_weight(self) -> Optional[torch.Tensor]:
        """The class weight in force: DRW's when active, else the configured one."""
        return self.drw_weight if self.drw_weight is not None else self.class_weight

    # -- checks
    def check_num_classes(self, num_classes: int) -> None:
        """Fail clearly when counts are missing or per-class lengths disagree with the logits."""
        if self.needs_counts and self.cls_num is None:
            raise RuntimeError(
                f'{type(self).__name__} needs per-class training counts: set cls_num_list=[...] '
                '(a list or a .txt/.json path) in the loss config, or add '
                "custom_hooks=[dict(type='ClassCountsHook')] so they are read from the training "
                'dataset before the first iteration')
        for name in ('cls_num', 'class_weight', 'drw_weight'):
            t = getattr(self, name)
            if t is not None and t.numel() != num_classes:
                label = {'cls_num': 'cls_num_list'}.get(name, name)
                raise ValueError(f'{type(self).__name__}: {label} has {t.numel()} entries but the '
                                 f'prediction has {num_classes} classes')

    def check_head(self, num_classes: int, out_channels: Optional[int] = None,
                   ignore_index: Any = 'own', head: str = 'head') -> None:
        """Build-time consistency with the head that owns this loss.

        Called by :func:`~mmloss_plugin.losses.model_checks.check_model_losses` once the
        model is built (before any data is loaded), so mistakes fail at build time instead of
        at the first iteration.

        Args:
            num_classes (int): The head's number of classes.
            out_channels (int, optional): Output channels when they differ from
                ``num_classes`` (mmseg's one-channel binary heads); per-class tensors may
                have either length.
            ignore_index (int | None | str): The value the head passes to ``forward`` (mmseg
                decode heads do), or ``'own'`` to check the loss's own ``ignore_index``.
            head (str): Name of the head, for messages.

        Raises:
            ValueError: per-class lengths that match neither, or an ``ignore_index`` that is a
                real class.
        """
        allowed = {num_classes} if out_channels is None else {num_classes, out_channels}
        for attr, label in (('cls_num', 'cls_num_list'), ('class_weight', 'class_weight')):
            t = getattr(self, attr)
            if t is not None and t.numel() not in allowed:
                raise ValueError(f'{type(self).__name__}: {label} has {t.numel()} entries but '
                                 f'{head} has num_classes={num_classes}')
        own = isinstance(ignore_index, str) and ignore_index == 'own'
        check_ignore_index(self.ignore_index if own else ignore_index, num_classes,
                           name='ignore_index' if own else f'{head}.ignore_index')

    # -- checkpoints: accept buffers that were still None when the module was built
    def _load_from_state_dict(self, state_dict: Dict[str, torch.Tensor], prefix: str,
                              *args: Any, **kwargs: Any) -> None:
        # Derived tensors (margins, log-priors) are refreshed whenever counts are loaded,
        # also when the module was built with (possibly different) counts.
        changed = prefix + 'cls_num' in state_dict
        for name in ('class_weight', 'cls_num', 'drw_weight'):
            key = prefix + name
            if key in state_dict and getattr(self, name) is None:
                setattr(self, name, state_dict[key].detach().clone().float())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if changed and self.cls_num is not None:
            self._on_counts_changed()

    def extra_repr(self) -> str:
        return (f'reduction={self.reduction!r}, loss_weight={self.loss_weight}, '
                f'loss_name={self.loss_name!r}')

    def _reduction(self, reduction_override: Optional[str]) -> str:
        if reduction_override is None:
            return self.reduction
        return check_reduction(reduction_override, 'reduction_override')

    def reduce(self, loss: torch.Tensor, weight: Optional[torch.Tensor] = None,
               avg_factor: Optional[Union[float, torch.Tensor]] = None,
               reduction_override: Optional[str] = None,
               targets: Optional[Targets] = None,
               summed_over: Optional[int] = None) -> torch.Tensor:
        """Weight, reduce and scale an element-wise loss (zero at ignored entries).

        With ``'mean'`` and no ``avg_factor``, the mean runs over non-ignored entries only
        (mmseg's ``avg_non_ignore=True``); an all-ignored batch gives 0 with zero gradient.

        ``summed_over``: ``loss`` is already the scalar sum over that many entries (a fused
        kernel's ``reduction='sum'``); only for ``'mean'``/``'sum'`` without ``weight``.
        """
        reduction = self._reduction(reduction_override)
        if weight is not None:
            weight = to_float32(weight)
        if reduction == 'mean' and avg_factor is None and targets is not None \
                and targets.valid is not None:
            avg_factor = targets.num_valid(loss)
        if summed_over is not None:
            if weight is not None or reduction == 'none':
                raise ValueError('a pre-summed loss can not take an element-wise weight or '
                                 "reduction='none'")
            return self.loss_weight * reduce_summed(loss, summed_over, reduction, avg_factor)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)


def _check_pred(module: nn.Module, args: tuple, kwargs: dict) -> None:
    """Forward pre-hook of :class:`BaseLoss`: the prediction must be non-empty and finite.

    Runs before every loss formula, so each loss reports these mistakes the same way (shape
    and target checks follow in the losses, e.g. :func:`prepare_targets`). Non-tensors are
    left to ``forward``. A loss whose :attr:`BaseLoss.defers_finite_check` is set checks
    finiteness in ``forward`` instead, from sums its fused kernel computes anyway.
    """
    pred = args[0] if args else kwargs.get(_first_forward_arg(type(module)))
    if not torch.is_tensor(pred) or pred is getattr(_CHECKED, 'pred', None):
        return
    name = type(module).__name__
    if pred.numel() == 0:
        raise ValueError(f'{name}: pred is empty (shape {tuple(pred.shape)}); a loss needs at '
                         'least one sample (check the data pipeline and batch size)')
    if not getattr(module, 'defers_finite_check', False):  # else forward checks it
        check_finite(pred, f'{name}: pred')


def _check_positional_pred(module: nn.Module, args: tuple) -> None:
    _check_pred(module, args, {})


_CHECKED = threading.local()


@contextlib.contextmanager
def pred_checked(pred: torch.Tensor):
    """Within the block, the pre-hook of plugin losses skips ``pred`` (already checked).

    A loss that calls other plugin losses on its own, already validated prediction (e.g.
    :class:`~mmloss_plugin.losses.segmentation.compound.CompoundLoss`) wraps the calls in it,
    so the finite check runs once instead of once per term. Other tensors are still checked.
    """
    previous = getattr(_CHECKED, 'pred', None)
    _CHECKED.pred = pred
    try:
        yield
    finally:
        _CHECKED.pred = previous


_FIRST_ARG: Dict[type, Optional[str]] = {}


def _first_forward_arg(cls: type) -> Optional[str]:
    """Name of the first argument of ``cls.forward`` after ``self`` (cached per class)."""
    if cls not in _FIRST_ARG:
        params = list(inspect.signature(cls.forward).parameters)
        _FIRST_ARG[cls] = params[1] if len(params) > 1 else None
    return _FIRST_ARG[cls]


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper()
                                   or (i + 1 < len(name) and name[i + 1].islower())):
            out.append('_')
        out.append(ch.lower())
    return ''.join(out)


def warn_once(key: str, message: str, _seen: set = set()) -> None:  # noqa: B006
    """Emit ``message`` as a UserWarning once per process per ``key``."""
    if key not in _seen:
        _seen.add(key)
        warnings.warn(message, UserWarning, stacklevel=3)
