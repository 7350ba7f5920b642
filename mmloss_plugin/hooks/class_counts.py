"""ClassCountsHook: give every plugin loss the per-class counts of the training set.

Count-based losses (LDAM margins, logit-adjustment priors, class-balanced weights, DRW) need
the class distribution of the *whole* training set. Instead of copying a ``cls_num_list``
into the config, add::

    custom_hooks = [dict(type='ClassCountsHook')]

and the counts are read from ``runner.train_dataloader.dataset`` before the first iteration.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch.nn as nn
from mmengine.dist import broadcast_object_list, get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from ..losses.model_checks import check_model_losses
from ..losses.utils import BaseLoss, load_class_counts, warn_once
from ..registry import register_hook
from ..utils.dataset_counts import (
    COUNT_MODES,
    dataset_class_counts,
    dataset_num_classes,
    resolve_count_mode,
)

__all__ = ['ClassCountsHook', 'find_plugin_losses', 'evaluator_metrics']


def find_plugin_losses(model: nn.Module) -> List[Tuple[str, BaseLoss]]:
    """``(name, module)`` of every :class:`BaseLoss` inside ``model`` (DDP unwrapped)."""
    if is_model_wrapper(model):
        model = model.module
    return [(name, m) for name, m in model.named_modules() if isinstance(m, BaseLoss)]


def evaluator_metrics(runner: Any) -> List[Any]:
    """Metrics of the validation/test evaluators that are already built.

    Loops still given as config dicts are not built here (building the test loop would build
    its dataloader), so only evaluators that exist at this point are returned.
    """
    from mmengine.runner import BaseLoop
    metrics = []
    for attr in ('_val_loop', '_test_loop'):
        loop = getattr(runner, attr, None)
        evaluator = getattr(loop, 'evaluator', None) if isinstance(loop, BaseLoop) else None
        metrics.extend(getattr(evaluator, 'metrics', None) or [])
    return metrics


def _metrics_without_counts(runner: Any) -> List[Any]:
    return [m for m in evaluator_metrics(runner)
            if callable(getattr(m, 'set_class_counts', None))
            and getattr(m, 'class_counts', False) is None]


def _format_counts(counts: np.ndarray) -> str:
    return '[' + ', '.join(str(int(c)) if float(c).is_integer() else f'{c:g}'
                           for c in counts) + ']'


@register_hook
class ClassCountsHook(Hook):
    """Set per-class training counts on plugin losses (and LongTailMetric) before training.

    In ``before_train`` (after ``load_from``/``resume`` and before the first iteration) it
    finds every :class:`~mmloss_plugin.losses.utils.BaseLoss` in the model (DDP-unwrapped)
    whose counts are unset — or all of them with ``overwrite=True`` — and calls
    ``loss.set_class_counts(counts)``. Counts restored from a resumed checkpoint or given as
    ``cls_num_list`` in a loss config are kept unless ``overwrite=True``.

    The counts are computed once on rank 0 from ``runner.train_dataloader.dataset`` and
    broadcast, so every rank holds identical margins/weights (mmengine's DDP does not
    broadcast buffers). Dataset wrappers (``RepeatDataset``, ``ClassBalancedDataset``,
    ``ConcatDataset``, ``Subset``) are unwrapped; the original class distribution is counted.
    Classes without samples get a count of 0 (the losses clamp it).

    The counts are also pushed to every built evaluator metric that accepts them and has
    none yet (:class:`~mmloss_plugin.metrics.LongTailMetric`, for its many/medium/few-shot
    accuracies), here and before each validation/test run.

    Args:
        counts (list | str, optional): Explicit counts (or a ``.txt``/``.json`` path); then the
            dataset is not read. Default ``None``.
        mode (str): ``'image'`` counts samples per class (classification), ``'pixel'``
            counts labelled pixels per class from mmseg ``seg_map_path`` files (honouring
            ``reduce_zero_label`` and ``label_map``), ``'auto'`` picks pixels when the
            dataset has segmentation maps. Default ``'auto'``.
        overwrite (bool): Replace counts that are already set. Default ``False``.
        ignore_index (int): Pixel value not counted in ``'pixel'`` mode. Default 255.

    The hook's priority is ``'ABOVE_NORMAL'``, so it runs before :class:`DRWHook`
    (``'NORMAL'``) whatever their order in ``custom_hooks``; a ``priority=...`` key in the
    config dict overrides it (mmengine's ``register_hook``).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, counts: Union[None, str, Sequence[float]] = None, mode: str = 'auto',
                 overwrite: bool = False, ignore_index: int = 255) -> None:
        if mode not in COUNT_MODES:
            raise ValueError(f'ClassCountsHook: mode must be one of {COUNT_MODES}, got {mode!r}')
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise TypeError(f'ClassCountsHook: ignore_index must be an int, got '
                            f'{ignore_index!r}')
        if not isinstance(overwrite, bool):
            raise TypeError(f'ClassCountsHook: overwrite must be a bool, got {overwrite!r}')
        self.explicit_counts = load_class_counts(counts, name='ClassCountsHook counts')
        self.mode = mode
        self.overwrite = overwrite
        self.ignore_index = ignore_index
        self.counts: Optional[np.ndarray] = self.explicit_counts

    # ------------------------------------------------------------------ computation
    def _count(self, runner: Any, losses: List[Tuple[str, BaseLoss]]
               ) -> Tuple[str, np.ndarray]:
        """``(mode, counts)`` from the dataset on rank 0, broadcast to every rank."""
        payload: List[Any] = [None]
        if get_rank() == 0:
            try:
                dataset = runner.train_dataloader.dataset
                num_classes = dataset_num_classes(dataset)
                if num_classes is None:
                    num_classes = next((m.num_classes for _, m in losses
                                        if m.num_classes is not None), None)
                mode = resolve_count_mode(dataset, self.mode)
                payload[0] = (mode, dataset_class_counts(dataset, mode, num_classes,
                                                         self.ignore_index))
            except Exception as e:  # noqa: BLE001 - re-raised on every rank below
                payload[0] = e
        broadcast_object_list(payload)
        if isinstance(payload[0], Exception):
            raise RuntimeError(f'ClassCountsHook could not count the training classes: '
                               f'{payload[0]}') from payload[0]
        mode, counts = payload[0]
        return mode, np.asarray(counts, dtype=np.float64)

    def _push_to_metrics(self, runner: Any) -> None:
        if self.counts is None:
            return
        for metric in _metrics_without_counts(runner):
            metric.set_class_counts(self.counts)
            print_log(f'ClassCountsHook: class counts set on {type(metric).__name__}',
                      logger='current')

    # ------------------------------------------------------------------------ hooks
    def before_train(self, runner: Any) -> None:
        losses = find_plugin_losses(runner.model)
        targets = [(n, m) for n, m in losses if self.overwrite or m.cls_num is None]
        if not losses:
            warn_once('ClassCountsHook-no-loss',
                      'ClassCountsHook: the model contains no mmloss_plugin loss; only '
                      'evaluator metrics can receive the counts')
        if not targets and not _metrics_without_counts(runner):
            if losses:
                print_log('ClassCountsHook: every plugin loss already has class counts '
                          '(config cls_num_list or checkpoint); nothing to do',
                          logger='current')
            return
        if self.counts is None:
            mode, self.counts = self._count(runner, losses)
            source = f'{mode} counts of the training dataset'
        else:
            source = 'counts given to the hook'
        for name, loss in targets:
            try:
                loss.set_class_counts(self.counts)
            except ValueError as e:
                raise ValueError(f'ClassCountsHook: cannot set {len(self.counts)} class '
                                 f'counts on {type(loss).__name__} at "{name}": {e}') from e
        print_log(f'ClassCountsHook: {source} = {_format_counts(self.counts)}; set on '
                  f'{[f"{n} ({type(m).__name__})" for n, m in targets]}', logger='current')
        # Dataset counts vs the heads' num_classes: fail now, not at the first forward.
        check_model_losses(runner.model)
        self._push_to_metrics(runner)

    def before_val(self, runner: Any) -> None:
        self._push_to_metrics(runner)

    def before_test(self, runner: Any) -> None:
        self._push_to_metrics(runner)
