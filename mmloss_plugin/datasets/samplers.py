r"""DeferredClassBalancedSampler: deferred re-sampling (DRS, Cao et al., "Learning Imbalanced
Datasets with Label-Distribution-Aware Margin Loss", NeurIPS 2019, arXiv 1906.07413).

Until epoch ``start`` the sampler is mmengine's ``DefaultSampler`` (every image once per
epoch, shuffled). From ``start`` on every epoch draws the same number of indices with
class-balanced sampling: a class uniformly at random, then one of its images uniformly at
random (with replacement), so each class is drawn with probability :math:`1/C` whatever its
count. It is the re-sampling counterpart of :class:`~mmloss_plugin.hooks.DRWHook`'s
re-weighting: the representation is learned on the natural distribution first, then the
classifier is re-balanced. Use one of the two, not both (that would re-balance twice).
"""
from __future__ import annotations

from typing import Any, Iterator, Optional, Tuple

import numpy as np
import torch
from mmengine.dataset import DefaultSampler

from ..losses.utils import check_non_negative_int
from ..registry import register_cls_sampler

__all__ = ['DeferredClassBalancedSampler', 'sample_labels']


def _labels_of(dataset: Any, i: int) -> np.ndarray:
    get = getattr(dataset, 'get_cat_ids', None)
    if callable(get):
        try:
            return np.atleast_1d(np.asarray(get(i))).ravel()
        except NotImplementedError:  # mmengine's BaseDataset leaves it abstract
            pass
    info = getattr(dataset, 'get_data_info', None)
    if callable(info):
        data = info(i)
        if isinstance(data, dict) and 'gt_label' in data:
            return np.atleast_1d(np.asarray(data['gt_label'])).ravel()
    raise TypeError(f'DeferredClassBalancedSampler: cannot read the label of sample {i} of '
                    f'{type(dataset).__name__}: it needs get_cat_ids(idx) or '
                    'get_data_info(idx)["gt_label"] (mmpretrain datasets and mmengine '
                    'wrappers have them)')


def sample_labels(dataset: Any) -> np.ndarray:
    """The single class index of every sample of ``dataset``, in index order, shape (N,).

    Read from ``dataset.get_cat_ids(i)`` (mmpretrain's datasets; mmengine's wrappers
    ``ConcatDataset``, ``RepeatDataset`` and ``ClassBalancedDataset`` forward it), else from
    ``get_data_info(i)['gt_label']``.
    """
    labels = np.empty(len(dataset), dtype=np.int64)
    for i in range(len(dataset)):
        ids = _labels_of(dataset, i)
        if ids.size != 1:
            raise ValueError(f'DeferredClassBalancedSampler: sample {i} has {ids.size} labels '
                             f'({ids.tolist()}); class-balanced sampling needs exactly one '
                             'label per sample (single-label classification)')
        labels[i] = int(ids[0])
    return labels


@register_cls_sampler
class DeferredClassBalancedSampler(DefaultSampler):
    """Shuffled sampling before ``start``, class-balanced re-sampling from ``start`` on.

    The epoch comes from ``set_epoch``, which mmengine's ``DistSamplerSeedHook`` (a default
    hook) calls before every epoch, so a resumed run samples like an uninterrupted one.
    The number of samples per epoch (and per rank) is that of ``DefaultSampler``; in
    distributed training every rank draws the same global sequence from ``seed + epoch``
    and keeps its own slice, as ``DefaultSampler`` does.

    Args:
        dataset: Training dataset, single-label (see :func:`sample_labels`).
        start (int): 0-based epoch from which sampling is class-balanced; ``0`` balances
            from the first epoch. In the LDAM-DRS recipe, the epoch of the first LR drop.
        shuffle (bool): Shuffle before ``start`` (as ``DefaultSampler``). Default ``True``.
        seed (int, optional): Random seed, shared by all ranks. Default: synchronised random.
        round_up (bool): Pad to a multiple of the world size (as ``DefaultSampler``).

    Example:
        >>> train_dataloader = dict(
        ...     sampler=dict(type='DeferredClassBalancedSampler', start=24), ...)
    """

    def __init__(self, dataset: Any, start: int = 0, shuffle: bool = True,
                 seed: Optional[int] = None, round_up: bool = True) -> None:
        check_non_negative_int(start, 'DeferredClassBalancedSampler: start', ' (0-based epoch)')
        super().__init__(dataset, shuffle=shuffle, seed=seed, round_up=round_up)
        self.start = start
        self._table: Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None

    def class_table(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(indices, offsets, sizes)``: the sample indices grouped by class (non-empty
        classes only), where each group starts and how long it is. Read once, on first use."""
        if self._table is None:
            labels = sample_labels(self.dataset)
            if labels.size == 0:
                raise ValueError('DeferredClassBalancedSampler: the dataset is empty')
            order = np.argsort(labels, kind='stable')
            _, sizes = np.unique(labels, return_counts=True)
            sizes = torch.from_numpy(sizes)
            self._table = (torch.from_numpy(order), torch.cumsum(sizes, 0) - sizes, sizes)
        return self._table

    def __iter__(self) -> Iterator[int]:
        if self.epoch < self.start:
            return super().__iter__()
        flat, offsets, sizes = self.class_table()
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        cls = torch.randint(len(sizes), (self.total_size,), generator=g)
        within = (torch.rand(self.total_size, generator=g) * sizes[cls]).long()
        within = torch.minimum(within, sizes[cls] - 1)
        indices = flat[offsets[cls] + within]
        return iter(indices[self.rank:self.total_size:self.world_size].tolist())
