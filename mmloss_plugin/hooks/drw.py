r"""DRWHook: deferred re-weighting (Cao et al., "Learning Imbalanced Datasets with
Label-Distribution-Aware Margin Loss", NeurIPS 2019, arXiv 1906.07413).

The model first trains with the losses' configured class weights (usually none), then from
epoch/iteration ``start`` on every plugin loss uses the class-balanced weights of Cui et al.
(CVPR 2019)

.. math::

    w_c \propto \frac{1 - \beta}{1 - \beta^{n_c}}, \qquad \sum_c w_c = C,

computed from the loss's class counts ``n`` (see :class:`ClassCountsHook`). In the LDAM-DRW
recipe ``start`` is the epoch of the first learning-rate drop (160 of 200) and
``beta=0.9999``.

How the re-weighted mean is normalised (``normalize``): by default (``'classes'``, the
OpenMMLab convention for ``class_weight``) the losses still divide by the batch size, so
the loss shrinks by the average training sample's weight when the weights switch on (0.15
on the long-tailed demo set, counts 13-1340), like a smaller learning rate for the DRW
phase. ``'batch'`` averages as ``F.cross_entropy(weight=...)`` and the reference LDAM-DRW
code do, :math:`\sum_i w_{y_i} \ell_i / \sum_i w_{y_i}`, so the loss keeps its scale. On
the demo data neither is reliably better (docs/benchmarks.md).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ..datasets.samplers import DeferredClassBalancedSampler
from ..losses.utils import (
    check_non_negative_int,
    check_unit_interval,
    class_weights_from_counts,
    warn_once,
)
from ..registry import register_hook
from .class_counts import find_plugin_losses

__all__ = ['DRWHook']


@register_hook
class DRWHook(Hook):
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
                 normalize: str = 'classes') -> None:
        check_non_negative_int(start, 'DRWHook: start', ' (0-based epoch or iteration index)')
        if not isinstance(by_epoch, bool):
            raise TypeError(f'DRWHook: by_epoch must be a bool, got {by_epoch!r}')
        self.start = start
        self.by_epoch = by_epoch
        self.beta = check_unit_interval(beta, 'DRWHook beta', open_right=True)
        if normalize not in self.NORMALIZATIONS:
            raise ValueError(f'DRWHook: normalize must be one of {self.NORMALIZATIONS}, got '
                             f'{normalize!r}')
        self.normalize = normalize
        self._active: Optional[bool] = None
        # id(loss) -> the cls_num tensor the DRW weight was computed from (this process).
        self._source: Dict[int, torch.Tensor] = {}
        self._losses: Optional[Tuple[int, List[Tuple[str, nn.Module]]]] = None

    def _find_losses(self, runner: Any) -> List[Tuple[str, nn.Module]]:
        """Plugin losses of the model, looked up once per model (not every iteration)."""
        if self._losses is None or self._losses[0] != id(runner.model):
            self._losses = (id(runner.model), find_plugin_losses(runner.model))
        return self._losses[1]

    def _position(self, runner: Any) -> int:
        return runner.epoch if self.by_epoch else runner.iter

    def _apply(self, runner: Any) -> None:
        active = self._position(runner) >= self.start
        losses = self._find_losses(runner)
        for name, loss in losses:
            if not active:
                if loss.drw_weight is not None:
                    loss.set_drw_weight(None)
                self._source.pop(id(loss), None)
                continue
            if loss.cls_num is None:
                raise RuntimeError(
                    f'DRWHook: {type(loss).__name__} at "{name}" has no class counts, so the '
                    'deferred re-weighting weights cannot be computed. Add '
                    "dict(type='ClassCountsHook') to custom_hooks (before DRWHook) or set "
                    'cls_num_list=[...] in the loss config.')
            if loss.drw_weight is not None and self._source.get(id(loss)) is loss.cls_num:
                continue  # already set by this hook from the current counts
            weight = class_weights_from_counts(loss.cls_num.detach().cpu().numpy(),
                                               'effective_number', self.beta)
            loss.set_drw_weight(weight, weighted_mean=self.normalize == 'batch')
            self._source[id(loss)] = loss.cls_num
        if active and not self._active:
            unit = 'epoch' if self.by_epoch else 'iteration'
            print_log(f'DRWHook: deferred re-weighting on from {unit} {self.start} (now '
                      f'{unit} {self._position(runner)}, beta={self.beta}, '
                      f'normalize={self.normalize!r}) for '
                      f'{[n for n, _ in losses]}', logger='current')
        self._active = active

    def before_train(self, runner: Any) -> None:
        from mmengine.runner import IterBasedTrainLoop
        if self.by_epoch and isinstance(runner.train_loop, IterBasedTrainLoop):
            raise ValueError('DRWHook(by_epoch=True) cannot work with an iteration-based '
                             'train loop (the epoch never advances): set by_epoch=False and '
                             'give start as an iteration')
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

    def before_train_epoch(self, runner: Any) -> None:
        if self.by_epoch:
            self._apply(runner)

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        if not self.by_epoch:
            self._apply(runner)
