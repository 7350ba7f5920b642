"""Per-class training counts read from a dataset (images or pixels).

Used by :class:`~mmloss_plugin.hooks.ClassCountsHook` and
:class:`~mmloss_plugin.metrics.LongTailMetric`. Only numpy, PIL and mmengine are needed:

* dataset wrappers are unwrapped: ``RepeatDataset`` / ``ClassBalancedDataset`` (``.dataset``,
  the *original* class distribution is counted, not the re-sampled one), ``ConcatDataset``
  (``.datasets``, counts summed) and ``torch.utils.data.Subset`` (only its ``indices``);
* classification datasets are counted per image from ``get_gt_labels()`` (mmpretrain), or
  ``get_data_info(i)['gt_label']``, or a ``targets`` attribute (torchvision);
* segmentation datasets (mmseg: ``get_data_info(i)['seg_map_path']``) are counted per pixel,
  applying ``reduce_zero_label`` and then ``label_map`` exactly as mmseg's ``LoadAnnotations``
  does, and leaving out ``ignore_index`` (255).
"""
from __future__ import annotations

import io
import os
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'COUNT_MODES', 'iter_base_datasets', 'dataset_num_classes', 'dataset_class_counts',
    'resolve_count_mode', 'image_label_counts', 'pixel_label_counts', 'read_seg_map',
    'ann_file_class_counts',
]

COUNT_MODES = ('auto', 'image', 'pixel')


# ------------------------------------------------------------------------ unwrapping
def iter_base_datasets(dataset: Any, indices: Optional[np.ndarray] = None
                       ) -> Iterator[Tuple[Any, Optional[np.ndarray]]]:
    """Yield ``(base_dataset, indices)`` pairs behind dataset wrappers.

    ``indices`` is ``None`` for "every sample" or the sample indices a ``Subset`` keeps.
    """
    if dataset is None:
        raise ValueError('no training dataset to count classes from')
    if hasattr(dataset, 'datasets') and not hasattr(dataset, 'get_gt_labels'):
        # mmengine / torch ConcatDataset (indices from a Subset are split per part)
        offset = 0
        for sub in dataset.datasets:
            n = len(sub)
            if indices is None:
                yield from iter_base_datasets(sub)
            else:
                part = indices[(indices >= offset) & (indices < offset + n)] - offset
                if part.size:
                    yield from iter_base_datasets(sub, part)
            offset += n
        return
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and not hasattr(dataset, 'load_data_list'):
        # torch Subset, RepeatDataset, ClassBalancedDataset (BaseDataset has load_data_list).
        # Without a Subset above them, wrappers count the original samples once.
        sub_idx = getattr(dataset, 'indices', None)
        if sub_idx is not None:  # Subset
            sub_idx = np.asarray(sub_idx, dtype=np.int64)
            indices = sub_idx if indices is None else sub_idx[indices]
        elif indices is not None:  # Subset of a repeating wrapper: map to inner indices
            repeat = getattr(dataset, 'repeat_indices', None)
            indices = (np.asarray(repeat, dtype=np.int64)[indices] if repeat is not None
                       else indices % len(inner))
        yield from iter_base_datasets(inner, indices)
        return
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    yield dataset, indices


def dataset_num_classes(dataset: Any) -> Optional[int]:
    """Number of classes from ``dataset.metainfo['classes']`` (wrappers forward it)."""
    for ds in (dataset, *(d for d, _ in _safe_bases(dataset))):
        meta = getattr(ds, 'metainfo', None)
        if isinstance(meta, dict) and meta.get('classes') is not None:
            return len(meta['classes'])
    return None


def _safe_bases(dataset: Any) -> List[Tuple[Any, Optional[np.ndarray]]]:
    try:
        return list(iter_base_datasets(dataset))
    except Exception:  # noqa: BLE001 - metadata lookup only
        return []


def _indices(ds: Any, indices: Optional[np.ndarray]) -> Sequence[int]:
    return range(len(ds)) if indices is None else indices.tolist()


# -------------------------------------------------------------------------- counting
def _bincount(labels: np.ndarray, num_classes: Optional[int], what: str,
              ignore_index: Optional[int] = None) -> np.ndarray:
    labels = np.asarray(labels).ravel()
    if ignore_index is not None:
        labels = labels[labels != ignore_index]
    if labels.size and labels.min() < 0:
        labels = labels[labels >= 0]  # -1: unlabelled sample
    labels = labels.astype(np.int64)
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        raise ValueError(f'{what}: found class index {int(labels.max())} but the dataset has '
                         f'num_classes={num_classes} (metainfo["classes"])')
    return np.bincount(labels, minlength=num_classes or 0).astype(np.float64)


def _image_labels(ds: Any, indices: Optional[np.ndarray]) -> np.ndarray:
    if callable(getattr(ds, 'get_gt_labels', None)):
        labels = ds.get_gt_labels()
        labels = [np.atleast_1d(np.asarray(lab)).ravel() for lab in labels]
        if indices is not None:
            labels = [labels[i] for i in indices.tolist()]
        return np.concatenate(labels) if labels else np.zeros(0, np.int64)
    if callable(getattr(ds, 'get_data_info', None)):
        out = []
        for i in _indices(ds, indices):
            info = ds.get_data_info(i)
            if 'gt_label' not in info:
                raise ValueError(f'{type(ds).__name__}.get_data_info({i}) has no "gt_label"; '
                                 'cannot count images per class (pass counts=[...])')
            out.append(np.atleast_1d(np.asarray(info['gt_label'])).ravel())
        return np.concatenate(out) if out else np.zeros(0, np.int64)
    targets = getattr(ds, 'targets', None)
    if targets is not None:
        targets = np.asarray(targets)
        return targets if indices is None else targets[indices]
    raise ValueError(f'cannot read class labels from {type(ds).__name__}: it has neither '
                     'get_gt_labels(), get_data_info(i)["gt_label"] nor .targets; pass the '
                     'counts explicitly (ClassCountsHook(counts=[...]) or cls_num_list=[...])')


def image_label_counts(dataset: Any, num_classes: Optional[int] = None) -> np.ndarray:
    """Number of samples per class over every (unwrapped) dataset, summed."""
    num_classes = num_classes or dataset_num_classes(dataset)
    total = None
    for ds, idx in iter_base_datasets(dataset):
        counts = _bincount(_image_labels(ds, idx), num_classes, type(ds).__name__)
        total = counts if total is None else _add(total, counts)
    return total


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = max(len(a), len(b))
    return np.pad(a, (0, n - len(a))) + np.pad(b, (0, n - len(b)))


def read_seg_map(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """Read a label map as mmseg's ``LoadAnnotations`` does (unchanged, pillow, uint8)."""
    from mmengine import fileio
    data = fileio.get(path, backend_args=backend_args)
    try:
        import mmcv
        arr = mmcv.imfrombytes(data, flag='unchanged', backend='pillow')
    except ImportError:
        from PIL import Image
        with Image.open(io.BytesIO(data)) as img:
            arr = np.array(img)
    return np.asarray(arr).squeeze().astype(np.uint8)


def _apply_label_transforms(seg: np.ndarray, info: dict) -> np.ndarray:
    if info.get('reduce_zero_label', False):
        seg = seg.copy()
        seg[seg == 0] = 255
        seg = seg - 1
        seg[seg == 254] = 255
    label_map = info.get('label_map')
    if label_map:
        orig = seg.copy()
        for old_id, new_id in label_map.items():
            seg[orig == old_id] = new_id
    return seg


def pixel_label_counts(dataset: Any, num_classes: Optional[int] = None,
                       ignore_index: int = 255) -> np.ndarray:
    """Number of labelled pixels per class over every seg map of an mmseg dataset."""
    num_classes = num_classes or dataset_num_classes(dataset)
    total = None
    for ds, idx in iter_base_datasets(dataset):
        if not callable(getattr(ds, 'get_data_info', None)):
            raise ValueError(f'cannot count pixels of {type(ds).__name__}: it has no '
                             'get_data_info(i) with "seg_map_path"')
        counts = np.zeros(num_classes or 0, np.float64)
        backend_args = getattr(ds, 'backend_args', None)
        for i in _indices(ds, idx):
            info = ds.get_data_info(i)
            path = info.get('seg_map_path')
            if path is None:
                raise ValueError(f'{type(ds).__name__}.get_data_info({i}) has no '
                                 '"seg_map_path"; cannot count pixels per class')
            seg = _apply_label_transforms(read_seg_map(path, backend_args), info)
            counts = _add(counts, _bincount(seg, num_classes, f'seg map {path!r}',
                                            ignore_index))
        total = counts if total is None else _add(total, counts)
    return total


def _is_segmentation(dataset: Any) -> bool:
    for ds, idx in iter_base_datasets(dataset):
        if callable(getattr(ds, 'get_gt_labels', None)):
            return False
        if callable(getattr(ds, 'get_data_info', None)) and len(ds) > 0:
            first = 0 if idx is None or not len(idx) else int(idx[0])
            return 'seg_map_path' in ds.get_data_info(first)
    return False


def resolve_count_mode(dataset: Any, mode: str = 'auto') -> str:
    """``'image'`` or ``'pixel'``: ``mode`` with ``'auto'`` resolved for ``dataset``."""
    if mode not in COUNT_MODES:
        raise ValueError(f'mode must be one of {COUNT_MODES}, got {mode!r}')
    if mode == 'auto':
        return 'pixel' if _is_segmentation(dataset) else 'image'
    return mode


def dataset_class_counts(dataset: Any, mode: str = 'auto', num_classes: Optional[int] = None,
                         ignore_index: int = 255) -> np.ndarray:
    """Per-class counts of a training dataset.

    Args:
        dataset: The (possibly wrapped) training dataset.
        mode (str): ``'image'`` (samples per class), ``'pixel'`` (labelled pixels per class)
            or ``'auto'`` (pixels when the samples carry a ``seg_map_path``, else images).
        num_classes (int, optional): Length of the result; defaults to
            ``len(metainfo['classes'])``, else the largest label + 1.
        ignore_index (int): Pixel value left out of pixel counts.

    Returns:
        np.ndarray: float64 counts of shape (num_classes,); classes without samples are 0.
    """
    mode = resolve_count_mode(dataset, mode)
    if mode == 'pixel':
        return pixel_label_counts(dataset, num_classes, ignore_index)
    return image_label_counts(dataset, num_classes)


def ann_file_class_counts(ann_file: str, num_classes: Optional[int] = None) -> np.ndarray:
    """Images per class from an mmpretrain ``CustomDataset`` annotation file.

    Each non-empty line is ``<relative/path> <label>``; the label is the last token, so paths
    containing spaces work.
    """
    path = os.fspath(ann_file)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'train_ann_file {path!r} does not exist (expected lines '
                                '"<image path> <class index>")')
    labels = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                raise ValueError(f'train_ann_file {path!r} line {lineno}: expected '
                                 f'"<image path> <class index>", got {line!r}')
            labels.append(int(parts[1]))
    return _bincount(np.asarray(labels, dtype=np.int64), num_classes, f'train_ann_file {path!r}')
