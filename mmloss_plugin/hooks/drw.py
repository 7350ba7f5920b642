r"""DRWHook: deferred re-weighting (Cao et al., "Learning Imbalanced Datasets with
Label-Distribution-Aware Margin Loss", NeurIPS 2019, arXiv 1906.07413).

The model first trains with the losses' configured class weights (usually none), then from
epoch/iteration ``start`` on every plugin loss uses the class-balanced weights of Cui et al.
(CVPR 2019)

.. math::

    w_c \propto \frac{1 - \beta}{1 - \beta^{n_c}}, \qquad \sum_c w_c = C,

computed from the loss's class counts ``n`` (see :class:`ClassCountsHook`). In the LDAM-DRW
recipe ``start`` is the epoch of the first learning-rate drop (160 of 200) and
``beta=0.9999``. ``class_weight`` selects a flatter strategy (``'sqrt_inverse'``:
:math:`w_c \propto n_c^{-1/2}`), plain inverse frequency or fixed per-class weights instead.

How the re-weighted mean is normalised (``normalize``): by default (``'classes'``, the
OpenMMLab convention for ``class_weight``) the losses still divide by the batch size, so
the loss shrinks by the average training sample's weight when the weights switch on (0.15
on the long-tailed demo set, counts 13-1340), like a smaller learning rate for the DRW
phase. ``'batch'`` averages as ``F.cross_entropy(weight=...)`` and the reference LDAM-DRW
code do, :math:`\sum_i w_{y_i} \ell_i / \sum_i w_{y_i}`, so the loss keeps its scale. On
the demo data neither is reliably better (docs/benchmarks.md).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import print_log

from ..datasets.samplers import DeferredClassBalancedSampler
from ..losses.utils import (
    CLASS_WEIGHT_STRATEGIES,
    check_unit_interval,
    class_weights_from_counts,
    resolve_class_weight,
    warn_once,
)
from ..registry import register_hook
from .class_counts import find_plugin_losses
from .schedule import StartScheduledHook

__all__ = ['DRWHook']


@register_hook
class DRWHook(StartScheduledHook):
    r"""Switch every plugin loss to class-balanced weights from ``start`` on.

    The decision depends only on the current position (``runner.epoch >= start`` before each
    epoch when ``by_epoch``, ``runner.iter >= start`` before each iteration otherwise) and is
    also taken in ``before_train``, so a run resumed past ``start`` trains re-weighted from
    its first iteration, and a run before ``start`` (or fine-tuned with ``load_from``) uses
    the configured weights even if the checkpoint held DRW weights.

    Every plugin loss needs class counts when DRW switches on: add
    ``dict(type='ClassCountsHook')`` to ``custom_hooks`` (in any order, priorities run it
    first) or give each loss a ``cls_num_list``. ``start`` counts like the LDAM-DRW code:
    ``start=160`` re-weights the 161st epoch on (0-based index 160).

    Args:
        start (int): 0-based epoch (``by_epoch=True``) or iteration (``by_epoch=False``) from
            which the re-weighting is active. ``0`` re-weights from the start ("Reweight").
        by_epoch (bool): Count ``start`` in epochs (epoch-based loops) or iterations (needed
            for iteration-based loops such as mmseg's). Default ``True``.
        beta (float): ``beta`` of the effective number of samples, in [0, 1).
            Default 0.9999.
        class_weight (str | list[float]): How the DRW weights are computed from the counts:
            ``'effective_number'`` (the formula above, with ``beta``), ``'inverse'``
            (:math:`1/n_c`), ``'sqrt_inverse'`` (:math:`1/\sqrt{n_c}`), or a list of C
            fixed per-class weights (used as given). The strategies' weights sum to C.
            Default ``'effective_number'``.
        normalize (str): Denominator of the re-weighted mean. ``'classes'``: the weights
            sum to the number of classes and the mean stays over the batch size (OpenMMLab's
            ``class_weight`` convention); the loss shrinks by the average training sample's
            weight when DRW starts (about 7x for counts 13-1340). ``'batch'``: losses that
            average per-sample (per-pixel) terms, the cross-entropy family, focal, LDAM, LMF
            and logit adjustment, divide by the summed weights of the batch's targets
            (:math:`\sum_i w_{y_i}`), as ``F.cross_entropy(weight=...)`` and the reference
            LDAM-DRW code do; the loss keeps its scale. ``LogLoss`` and the losses that
            average over classes (Dice family) use the weights as they are in both modes.
            Default ``'classes'``.

    The hook's priority is ``'NORMAL'``: it runs after :class:`ClassCountsHook`
    (``'ABOVE_NORMAL'``), which must have set the counts first.

    Example:
        >>> custom_hooks = [dict(type='ClassCountsHook'),
        ...                 dict(type='DRWHook', start=160)]
    """

    priority = 'NORMAL'
    #: Accepted values of ``normalize``.
    NORMALIZATIONS = ('batch', 'classes')

    def __init__(self, start: int, by_epoch: bool = True, beta: float = 0.9999,
                 normalize: str = 'classes',
                 class_weight: Union[str, Sequence[float]] = 'effective_number') -> None:
        self._init_schedule(start, by_epoch)
        self.beta = check_unit_interval(beta, 'DRWHook beta', open_right=True)
        if normalize not in self.NORMALIZATIONS:
            raise ValueError(f'DRWHook: normalize must be one of {self.NORMALIZATIONS}, got '
                             f'{normalize!r}')
        self.normalize = normalize
        if class_weight is None:
            raise ValueError(f'DRWHook: class_weight must be one of {CLASS_WEIGHT_STRATEGIES} or '
                             'a list of per-class weights, got None')
        # validates a strategy name or a fixed list (finite, non-negative, 1-D) now
        fixed = resolve_class_weight(class_weight, name='DRWHook: class_weight')
        self.class_weight = class_weight if fixed is None else fixed
        self._active: Optional[bool] = None
        # id(loss) -> the cls_num tensor the DRW weight was computed from (this process).
        self._source: Dict[int, torch.Tensor] = {}
        self._losses: Optional[Tuple[int, List[Tuple[str, nn.Module]]]] = None

    def _find_losses(self, runner: Any) -> List[Tuple[str, nn.Module]]:
        """Plugin losses of the model, looked up once per model (not every iteration)."""
        if self._losses is None or self._losses[0] != id(runner.model):
            self._losses = (id(runner.model), find_plugin_losses(runner.model))
        return self._losses[1]

    def _weight(self, loss: nn.Module, name: str) -> np.ndarray:
        """The DRW weights of ``loss``: from its class counts, or the fixed list."""
        if isinstance(self.class_weight, str):
            return class_weights_from_counts(loss.cls_num.detach().cpu().numpy(),
                                             self.class_weight, self.beta)
        num_classes = loss.num_classes
        if num_classes is not None and len(self.class_weight) != num_classes:
            raise ValueError(f'DRWHook: class_weight has {len(self.class_weight)} weights but '
                             f'{type(loss).__name__} at "{name}" has {num_classes} classes')
        return self.class_weight

    def _apply(self, runner: Any) -> None:
        active = self._position(runner) >= self.start
        losses = self._find_losses(runner)
        for name, loss in losses:
            if not active:
                if loss.drw_weight is not None:
                    loss.set_drw_weight(None)
                self._source.pop(id(loss), None)
                continue
            if loss.cls_num is None and isinstance(self.class_weight, str):
                raise RuntimeError(
                    f'DRWHook: {type(loss).__name__} at "{name}" has no class counts, so the '
                    'deferred re-weighting weights cannot be computed. Add '
                    "dict(type='ClassCountsHook') to custom_hooks (before DRWHook) or set "
                    'cls_num_list=[...] in the loss config.')
            if loss.drw_weight is not None and self._source.get(id(loss)) is loss.cls_num:
                continue  # already set by this hook from the current counts
            weight = self._weight(loss, name)
            loss.set_drw_weight(weight, weighted_mean=self.normalize == 'batch')
            self._source[id(loss)] = loss.cls_num
        if active and not self._active:
            unit = self._unit
            print_log(f'DRWHook: deferred re-weighting on from {unit} {self.start} (now '
                      f'{unit} {self._position(runner)}, class_weight={self._weight_repr()}, '
                      f'normalize={self.normalize!r}) for '
                      f'{[n for n, _ in losses]}', logger='current')
        self._active = active

    def _weight_repr(self) -> str:
        if isinstance(self.class_weight, str):
            beta = f' (beta={self.beta})' if self.class_weight == 'effective_number' else ''
            return f'{self.class_weight!r}{beta}'
        return str([round(float(w), 4) for w in self.class_weight])

    def before_train(self, runner: Any) -> None:
        self._check_loop(runner)
        self._losses = None
        if not self._find_losses(runner):
            warn_once('DRWHook-no-loss', 'DRWHook: the model contains no mmloss_plugin loss; '
                      'deferred re-weighting has no effect')
        sampler = getattr(getattr(runner.train_loop, 'dataloader', None), 'sampler', None)
        if isinstance(sampler, DeferredClassBalancedSampler):
            warn_once('DRWHook-with-DRS', 'DRWHook together with DeferredClassBalancedSampler '
                      're-balances twice (class-balanced batches and class-balanced weights); '
                      'use one of them')
        self._apply(runner)
