"""Convert ISIC 2018 Task 1 (lesion boundary segmentation) to the mmseg layout.

Input: the folder holding the unzipped official archives (challenge.isic-archive.com/data)::

    SRC/ISIC2018_Task1-2_Training_Input/ISIC_0000000.jpg ...
    SRC/ISIC2018_Task1_Training_GroundTruth/ISIC_0000000_segmentation.png ...
    SRC/ISIC2018_Task1-2_Validation_Input/, SRC/ISIC2018_Task1_Validation_GroundTruth/  (optional)
    SRC/ISIC2018_Task1-2_Test_Input/,       SRC/ISIC2018_Task1_Test_GroundTruth/        (optional)

Masks hold 0 (background) and 255 (lesion); they are thresholded at ``--threshold`` (128)
and written as PNGs holding class indices 0/1.

Output (``-o``, default ``data/isic2018_task1``)::

    img_dir/{train,val,test}/ISIC_0000000.jpg   (symlinks by default, ``--link copy``)
    ann_dir/{train,val,test}/ISIC_0000000.png   (0 background, 1 lesion)
    meta/class_counts.json                      (pixel counts per class and split)

Splits: the official validation/test sets are used when present; ``--val-ratio`` /
``--test-ratio`` take a seeded random fraction of the training set instead. Without an
official validation set and without ``--val-ratio``, 20 % of the training set is used.

Usage::

    python tools/dataset_converters/isic2018_task1.py data/ISIC2018 -o data/isic2018_task1
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _converter_utils import (  # noqa: E402
    LINK_MODES,
    ConversionError,
    check_missing,
    check_ratio,
    clear_outputs,
    find_existing,
    list_images,
    print_summary,
    require_dir,
    stratified_split,
    write_binary_seg,
)

CLASSES: Tuple[str, ...] = ('background', 'lesion')
MASK_SUFFIX = '_segmentation.png'
DEFAULT_VAL_RATIO = 0.2
_OFFICIAL = {
    'train': ('ISIC2018_Task1-2_Training_Input', 'ISIC2018_Task1_Training_GroundTruth'),
    'val': ('ISIC2018_Task1-2_Validation_Input', 'ISIC2018_Task1_Validation_GroundTruth'),
    'test': ('ISIC2018_Task1-2_Test_Input', 'ISIC2018_Task1_Test_GroundTruth'),
}


def pair_images(img_dir: str, mask_dir: str, what: str) -> List[Tuple[str, str]]:
    """(image, mask) pairs for every image in ``img_dir``; error if a mask is missing."""
    names = [n for n in list_images(img_dir, ('.jpg', '.jpeg', '.png'))
             if not n.endswith(MASK_SUFFIX)]
    if not names:
        raise ConversionError(f'{what}: no .jpg/.png images in {img_dir}')
    pairs, missing = [], []
    for name in names:
        mask = os.path.join(mask_dir, os.path.splitext(name)[0] + MASK_SUFFIX)
        if not os.path.isfile(mask):
            missing.append(os.path.basename(mask))
        pairs.append((os.path.join(img_dir, name), mask))
    check_missing(missing, f'{what}: masks not found in {mask_dir}')
    return pairs


def convert(src: str, out: str, link: str = 'symlink', val_ratio: Optional[float] = None,
            test_ratio: Optional[float] = None, seed: int = 0, threshold: int = 128,
            verbose: bool = True) -> Dict[str, List[int]]:
    """Convert the official files under ``src`` into ``out``; return per-split pixel counts."""
    check_ratio(val_ratio, '--val-ratio')
    check_ratio(test_ratio, '--test-ratio')
    if not 0 < threshold <= 255:
        raise ConversionError(f'--threshold must be in 1..255, got {threshold}')
    require_dir(src, 'SRC')
    items: Dict[str, List[Tuple[str, str]]] = {}
    img_dir = require_dir(find_existing(src, [_OFFICIAL['train'][0]]), 'training images',
                          f'expected {_OFFICIAL["train"][0]}/ in {src}')
    mask_dir = require_dir(find_existing(src, [_OFFICIAL['train'][1]]), 'training masks',
                           f'expected {_OFFICIAL["train"][1]}/ in {src}')
    items['train'] = pair_images(img_dir, mask_dir, 'train')
    ratios = {}
    for split, ratio in (('val', val_ratio), ('test', test_ratio)):
        img_dir = find_existing(src, [_OFFICIAL[split][0]])
        mask_dir = find_existing(src, [_OFFICIAL[split][1]])
        if ratio:
            if verbose and (img_dir or mask_dir):
                print(f'note: --{split}-ratio given, the official {split} set is not used')
            ratios[split] = ratio
        elif img_dir and mask_dir:
            items[split] = pair_images(img_dir, mask_dir, split)
        elif img_dir or mask_dir:
            raise ConversionError(f'official {split} set is incomplete: found '
                                  f'{img_dir or mask_dir} but not its '
                                  f'{"ground-truth folder" if img_dir else "image folder"}')
        elif split == 'val' and ratio is None:
            ratios['val'] = DEFAULT_VAL_RATIO
            if verbose:
                print(f'note: no official validation set in {src}; using a random '
                      f'{DEFAULT_VAL_RATIO:.0%} of the training set (seed {seed})')
    if ratios:
        train = items['train']
        parts = stratified_split([0] * len(train), ratios, seed)
        for split, idx in parts.items():
            items[split] = [train[i] for i in idx]

    clear_outputs(out, ['img_dir', 'ann_dir', 'meta'])
    ordered = {s: items[s] for s in ('train', 'val', 'test') if s in items}
    counts = write_binary_seg(out, CLASSES, ordered, link, threshold)
    if verbose:
        print_summary('ISIC 2018 Task 1', out, CLASSES, counts, unit='pixels')
        print('  images: ' + ', '.join(f'{s} {len(v)}' for s, v in ordered.items()))
    return counts


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Convert ISIC 2018 Task 1 to the mmseg layout.')
    p.add_argument('src', help='folder with the unzipped official ISIC 2018 Task 1 archives')
    p.add_argument('-o', '--out', default='data/isic2018_task1', help='output dataset root')
    p.add_argument('--link', choices=LINK_MODES, default='symlink',
                   help='how images are placed in the output')
    p.add_argument('--val-ratio', type=float, default=None,
                   help='fraction of the training set used for validation instead of the '
                        f'official set (default: official, else {DEFAULT_VAL_RATIO})')
    p.add_argument('--test-ratio', type=float, default=None,
                   help='fraction of the training set used for testing instead of the '
                        'official test set')
    p.add_argument('--seed', type=int, default=0, help='seed of the random split')
    p.add_argument('--threshold', type=int, default=128,
                   help='mask gray value at or above which a pixel is lesion')
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        convert(args.src, args.out, args.link, args.val_ratio, args.test_ratio, args.seed,
                args.threshold)
    except ConversionError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
