"""Helpers shared by the dataset converters in this folder (not a public API).

Output layouts written by the converters:

* classification (mmpretrain ``CustomDataset`` with ``ann_file``)::

      <out>/<split>/<image file>            # link or copy of the original image
      <out>/meta/<split>.txt                # "<split>/<image file> <label>" per line
      <out>/meta/classes.txt                # one class name per line, label order
      <out>/meta/class_counts.json          # {"cls_num_list": [train counts], ...}

* segmentation (mmseg ``BaseSegDataset``)::

      <out>/img_dir/<split>/<stem><img suffix>   # link or copy of the original image
      <out>/ann_dir/<split>/<stem>.png           # uint8 class indices 0..C-1
      <out>/meta/class_counts.json               # training pixel counts per class
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

LINK_MODES = ('symlink', 'hardlink', 'copy')
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')


class ConversionError(ValueError):
    """Input that a converter cannot handle (missing files/columns, bad values)."""


# ----------------------------------------------------------------------------- paths
def find_existing(src: str, candidates: Iterable[str]) -> Optional[str]:
    """First of ``src/<candidate>`` that exists, or None."""
    for cand in candidates:
        path = os.path.join(src, cand)
        if os.path.exists(path):
            return path
    return None


def require_dir(path: Optional[str], what: str, hint: str = '') -> str:
    if path is None or not os.path.isdir(path):
        raise ConversionError(f'{what}: folder {path!r} not found' + (f' ({hint})' if hint else ''))
    return path


def require_file(path: Optional[str], what: str, hint: str = '') -> str:
    if path is None or not os.path.isfile(path):
        raise ConversionError(f'{what}: file {path!r} not found' + (f' ({hint})' if hint else ''))
    return path


def resolve_image(folder: str, stem: str, exts: Sequence[str] = IMAGE_EXTS) -> Optional[str]:
    """Path of ``folder/stem`` (if it already has an extension) or ``folder/stem<ext>``."""
    direct = os.path.join(folder, stem)
    if os.path.splitext(stem)[1].lower() in exts and os.path.isfile(direct):
        return direct
    for ext in exts:
        for cand in (stem + ext, stem + ext.upper()):
            path = os.path.join(folder, cand)
            if os.path.isfile(path):
                return path
    return None


def check_missing(missing: List[str], what: str) -> None:
    if missing:
        shown = ', '.join(missing[:5])
        if len(missing) > 5:
            shown += f' ... ({len(missing)} in total)'
        raise ConversionError(f'{what}: {shown}')


def list_images(folder: str, exts: Sequence[str] = IMAGE_EXTS) -> List[str]:
    """Sorted file names in ``folder`` with an image extension."""
    return sorted(f for f in os.listdir(folder)
                  if os.path.splitext(f)[1].lower() in exts and not f.startswith('.'))


def place_file(src: str, dst: str, mode: str = 'symlink') -> None:
    """Make ``dst`` a symlink to (absolute) ``src``, a hard link, or a copy.

    Falls back to copying (with a warning) where links are not supported.
    """
    if mode not in LINK_MODES:
        raise ConversionError(f'--link must be one of {LINK_MODES}, got {mode!r}')
    os.makedirs(os.path.dirname(dst) or '.', exist_ok=True)
    if os.path.lexists(dst):
        os.remove(dst)
    try:
        if mode == 'symlink':
            os.symlink(os.path.abspath(src), dst)
            return
        if mode == 'hardlink':
            os.link(src, dst)
            return
    except OSError as e:
        warnings.warn(f'cannot {mode} {src} ({e}); copying instead', stacklevel=2)
    shutil.copyfile(src, dst)


def clear_outputs(out: str, names: Sequence[str]) -> None:
    """Remove the sub-folders/files of ``out`` a converter owns, so reruns leave no stale files."""
    for name in names:
        path = os.path.join(out, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


# ----------------------------------------------------------------------------- splits
def check_ratio(value: Optional[float], name: str) -> Optional[float]:
    if value is not None and not 0.0 <= value < 1.0:
        raise ConversionError(f'{name} must be in [0, 1), got {value}')
    return value


def stratified_split(labels: Sequence[int], ratios: Dict[str, float], seed: int = 0,
                     groups: Optional[Sequence[str]] = None) -> Dict[str, List[int]]:
    """Deterministic stratified split of sample indices.

    For each class, its samples (or its groups of samples, e.g. all images of one lesion)
    are shuffled with ``numpy.random.default_rng(seed)`` and ``round(n * ratio)`` of them go
    to each named split (at least one when ``ratio > 0`` and the class has two or more); the
    rest go to ``'train'``.

    Args:
        labels: Class index of each sample.
        ratios: Split name -> fraction of each class, e.g. ``{'val': 0.2}``.
        seed: Random seed.
        groups: Optional group id per sample; a group never straddles two splits and is
            assigned by the label of its first sample.

    Returns:
        dict: split name -> sorted sample indices (``'train'`` included).
    """
    total = sum(ratios.values())
    if total >= 1:
        raise ConversionError(f'split ratios {ratios} must sum to less than 1')
    labels = np.asarray(labels, dtype=np.int64)
    if groups is None:
        groups = [str(i) for i in range(len(labels))]
    members: Dict[str, List[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    group_ids = sorted(members)
    group_label = np.array([labels[members[g][0]] for g in group_ids], dtype=np.int64)
    rng = np.random.default_rng(seed)
    out: Dict[str, List[int]] = {name: [] for name in ['train', *ratios]}
    for c in np.unique(group_label):
        idx = np.flatnonzero(group_label == c)
        idx = idx[rng.permutation(len(idx))]
        start = 0
        for name, ratio in ratios.items():
            k = int(round(len(idx) * ratio))
            if ratio > 0 and k == 0 and len(idx) - start >= 2:
                k = 1
            k = min(k, max(0, len(idx) - start - 1))  # keep at least one for training
            out[name].extend(idx[start:start + k].tolist())
            start += k
        out['train'].extend(idx[start:].tolist())
    return {name: sorted(i for gi in gidx for i in members[group_ids[gi]])
            for name, gidx in out.items()}


# ----------------------------------------------------------------------------- writers
def write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')


def write_cls_meta(out: str, classes: Sequence[str],
                   splits: Dict[str, List[Tuple[str, int]]]) -> Dict[str, List[int]]:
    """Write ``meta/<split>.txt``, ``meta/classes.txt`` and ``meta/class_counts.json``.

    Args:
        out: Dataset root.
        classes: Class names in label order.
        splits: split name -> list of ``(path relative to out, label)``.

    Returns:
        dict: split name -> per-class counts.
    """
    meta = os.path.join(out, 'meta')
    os.makedirs(meta, exist_ok=True)
    counts = {}
    for split, items in splits.items():
        with open(os.path.join(meta, f'{split}.txt'), 'w') as f:
            for rel, label in items:
                if ' ' in rel:
                    raise ConversionError(f'file name {rel!r} contains a space, which the '
                                          'annotation format "<path> <label>" cannot hold')
                f.write(f'{rel} {label}\n')
        counts[split] = np.bincount([lb for _, lb in items], minlength=len(classes)).tolist()
    with open(os.path.join(meta, 'classes.txt'), 'w') as f:
        f.write('\n'.join(classes) + '\n')
    info = {'classes': list(classes), 'splits': counts}
    if 'train' in counts:
        info['cls_num_list'] = counts['train']
        nz = [c for c in counts['train'] if c > 0]
        info['imbalance_ratio'] = max(nz) / min(nz) if nz else None
    write_json(os.path.join(meta, 'class_counts.json'), info)
    return counts


def binarize_mask(src: str, dst: str, threshold: int = 128) -> np.ndarray:
    """Read a mask image (any mode), write a PNG with 1 where gray >= threshold, else 0.

    Returns:
        The written uint8 mask.
    """
    from PIL import Image
    with Image.open(src) as im:
        gray = np.asarray(im.convert('L'))
    mask = (gray >= threshold).astype(np.uint8)
    os.makedirs(os.path.dirname(dst) or '.', exist_ok=True)
    Image.fromarray(mask).save(dst, format='PNG')
    return mask


def image_size(path: str) -> Tuple[int, int]:
    from PIL import Image
    with Image.open(path) as im:
        return im.size


def print_summary(name: str, out: str, classes: Sequence[str],
                  counts: Dict[str, List[int]], unit: str = 'images') -> None:
    print(f'{name} -> {out}')
    for split, c in counts.items():
        print(f'  {split:5s}: {sum(c):>9d} {unit}  ' +
              ', '.join(f'{n} {v}' for n, v in zip(classes, c)))


def write_binary_seg(out: str, classes: Sequence[str],
                     splits: Dict[str, List[Tuple[str, str]]], link: str = 'symlink',
                     threshold: int = 128) -> Dict[str, List[int]]:
    """Place images and binarised masks in the mmseg ``img_dir``/``ann_dir`` layout.

    Args:
        out: Dataset root.
        classes: ``(background, foreground)`` names.
        splits: split name -> list of ``(image path, mask path)``.
        link: How images are placed (:data:`LINK_MODES`).
        threshold: Mask gray value at or above which a pixel is foreground.

    Returns:
        dict: split name -> pixel counts per class.
    """
    counts = {}
    for split, items in splits.items():
        hist = np.zeros(len(classes), np.int64)
        for img, mask in items:
            name = os.path.basename(img)
            stem = os.path.splitext(name)[0]
            m = binarize_mask(mask, os.path.join(out, 'ann_dir', split, stem + '.png'), threshold)
            if image_size(img) != (m.shape[1], m.shape[0]):
                raise ConversionError(f'image {img} is {image_size(img)} but its mask {mask} is '
                                      f'{(m.shape[1], m.shape[0])} (width, height)')
            place_file(img, os.path.join(out, 'img_dir', split, name), link)
            hist += np.bincount(m.ravel(), minlength=len(classes))[:len(classes)]
        counts[split] = hist.tolist()
    info = {'classes': list(classes), 'unit': 'pixels', 'splits': counts,
            'images': {s: len(v) for s, v in splits.items()}}
    if 'train' in counts:
        info['cls_num_list'] = counts['train']
    write_json(os.path.join(out, 'meta', 'class_counts.json'), info)
    return counts
