"""Convert Kvasir-SEG (polyp segmentation) to the mmseg layout.

Input: the unzipped ``kvasir-seg.zip`` (datasets.simula.no/kvasir-seg)::

    SRC/images/<name>.jpg
    SRC/masks/<name>.jpg        # JPEG, so values near 0/255 with compression noise

Masks are thresholded at ``--threshold`` (128) and written as PNGs holding 0/1.
The 1,000 images are split at random (seeded) into train / val / test
(``--val-ratio`` 0.1, ``--test-ratio`` 0.1 by default; ``--test-ratio 0`` for no test split).

Output (``-o``, default ``data/kvasir_seg``)::

    img_dir/{train,val,test}/<name>.jpg   (symlinks by default, ``--link copy``)
    ann_dir/{train,val,test}/<name>.png   (0 background, 1 polyp)
    meta/class_counts.json                (pixel counts per class and split)

Usage::

    python tools/dataset_converters/kvasir_seg.py data/Kvasir-SEG -o data/kvasir_seg
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
    list_images,
    print_summary,
    require_dir,
    stratified_split,
    write_binary_seg,
)

CLASSES: Tuple[str, ...] = ('background', 'polyp')


def find_pairs(src: str) -> List[Tuple[str, str]]:
    """(image, mask) pairs matched by file stem; error on unmatched files."""
    img_dir = require_dir(os.path.join(src, 'images'), 'images', 'expected SRC/images/*.jpg')
    mask_dir = require_dir(os.path.join(src, 'masks'), 'masks', 'expected SRC/masks/*.jpg')
    images = {os.path.splitext(n)[0]: n for n in list_images(img_dir)}
    masks = {os.path.splitext(n)[0]: n for n in list_images(mask_dir)}
    if not images:
        raise ConversionError(f'no images in {img_dir}')
    check_missing(sorted(set(images) - set(masks)), f'images without a mask in {mask_dir}')
    check_missing(sorted(set(masks) - set(images)), f'masks without an image in {img_dir}')
    return [(os.path.join(img_dir, images[k]), os.path.join(mask_dir, masks[k]))
            for k in sorted(images)]


def convert(src: str, out: str, link: str = 'symlink', val_ratio: float = 0.1,
            test_ratio: float = 0.1, seed: int = 0, threshold: int = 128,
            verbose: bool = True) -> Dict[str, List[int]]:
    """Convert ``src`` (images/, masks/) into ``out``; return per-split pixel counts."""
    check_ratio(val_ratio, '--val-ratio')
    check_ratio(test_ratio, '--test-ratio')
    if not val_ratio:
        raise ConversionError('--val-ratio must be > 0: Kvasir-SEG has no official split')
    if not 0 < threshold <= 255:
        raise ConversionError(f'--threshold must be in 1..255, got {threshold}')
    require_dir(src, 'SRC')
    pairs = find_pairs(src)
    ratios = {'val': val_ratio}
    if test_ratio:
        ratios['test'] = test_ratio
    parts = stratified_split([0] * len(pairs), ratios, seed)
    clear_outputs(out, ['img_dir', 'ann_dir', 'meta'])
    splits = {s: [pairs[i] for i in parts[s]] for s in ('train', 'val', 'test') if s in parts}
    counts = write_binary_seg(out, CLASSES, splits, link, threshold)
    if verbose:
        print_summary('Kvasir-SEG', out, CLASSES, counts, unit='pixels')
        print('  images: ' + ', '.join(f'{s} {len(v)}' for s, v in splits.items()))
    return counts


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Convert Kvasir-SEG to the mmseg layout.')
    p.add_argument('src', help='the Kvasir-SEG folder (with images/ and masks/)')
    p.add_argument('-o', '--out', default='data/kvasir_seg', help='output dataset root')
    p.add_argument('--link', choices=LINK_MODES, default='symlink',
                   help='how images are placed in the output')
    p.add_argument('--val-ratio', type=float, default=0.1, help='fraction for validation')
    p.add_argument('--test-ratio', type=float, default=0.1,
                   help='fraction for testing (0: no test split)')
    p.add_argument('--seed', type=int, default=0, help='seed of the random split')
    p.add_argument('--threshold', type=int, default=128,
                   help='mask gray value at or above which a pixel is polyp')
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
