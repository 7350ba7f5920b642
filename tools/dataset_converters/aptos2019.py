"""Convert APTOS 2019 Blindness Detection (Kaggle) to mmpretrain ``CustomDataset`` files.

Input: the unzipped competition data (kaggle.com/competitions/aptos2019-blindness-detection)::

    SRC/train.csv                   # id_code,diagnosis (grades 0-4)
    SRC/train_images/<id_code>.png

Only the training set has public labels, so it is split, stratified by grade and seeded,
into train / val / test (``--val-ratio`` 0.15 and ``--test-ratio`` 0.15 by default;
``--test-ratio 0`` writes no test split).

Output (``-o``, default ``data/aptos2019``)::

    images/<id_code>.png            (symlinks by default, ``--link copy`` to copy)
    meta/{train,val,test}.txt       ("images/000c1434d8d7.png 2")
    meta/classes.txt, meta/class_counts.json

Usage::

    python tools/dataset_converters/aptos2019.py data/aptos2019-blindness-detection \
        -o data/aptos2019
"""
from __future__ import annotations

import argparse
import csv
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
    place_file,
    print_summary,
    require_dir,
    require_file,
    resolve_image,
    stratified_split,
    write_cls_meta,
)

#: Diabetic-retinopathy grades 0-4 (label = grade).
CLASSES: Tuple[str, ...] = ('NoDR', 'Mild', 'Moderate', 'Severe', 'Proliferative')


def read_labels(csv_path: str) -> List[Tuple[str, int]]:
    """Parse ``train.csv`` into ``(id_code, grade)`` pairs in file order."""
    with open(csv_path, newline='') as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in ('id_code', 'diagnosis') if c not in header]
        if missing:
            raise ConversionError(f'{csv_path}: missing column(s) {missing}; expected the header '
                                  f'id_code,diagnosis (got {header})')
        rows, seen = [], set()
        for lineno, row in enumerate(reader, start=2):
            row = {k.strip(): (v or '').strip() for k, v in row.items() if k is not None}
            try:
                value = float(row['diagnosis'])
            except ValueError:
                value = float('nan')
            if not (value.is_integer() and 0 <= value < len(CLASSES)):
                raise ConversionError(f'{csv_path}:{lineno}: diagnosis must be an integer grade '
                                      f'0-{len(CLASSES) - 1}, got {row["diagnosis"]!r}')
            if not row['id_code']:
                raise ConversionError(f'{csv_path}:{lineno}: empty id_code')
            if row['id_code'] in seen:
                raise ConversionError(f'{csv_path}:{lineno}: duplicate id_code {row["id_code"]!r}')
            seen.add(row['id_code'])
            rows.append((row['id_code'], int(value)))
    if not rows:
        raise ConversionError(f'{csv_path}: no data rows')
    return rows


def convert(src: str, out: str, link: str = 'symlink', val_ratio: float = 0.15,
            test_ratio: float = 0.15, seed: int = 0, csv_path: Optional[str] = None,
            image_dir: Optional[str] = None, verbose: bool = True) -> Dict[str, List[int]]:
    """Convert ``src`` (train.csv + train_images/) into ``out``; return per-split counts."""
    check_ratio(val_ratio, '--val-ratio')
    check_ratio(test_ratio, '--test-ratio')
    if not val_ratio:
        raise ConversionError('--val-ratio must be > 0: APTOS 2019 has no labelled '
                              'validation set, it is split off the training set')
    require_dir(src, 'SRC')
    csv_path = require_file(csv_path or os.path.join(src, 'train.csv'), 'labels',
                            'expected train.csv with columns id_code,diagnosis')
    image_dir = require_dir(image_dir or os.path.join(src, 'train_images'), 'images',
                            'expected train_images/<id_code>.png')
    rows = read_labels(csv_path)
    paths, missing = [], []
    for id_code, _ in rows:
        path = resolve_image(image_dir, id_code)
        if path is None:
            missing.append(id_code)
        paths.append(path)
    check_missing(missing, f'images listed in {csv_path} but not found in {image_dir}')

    ratios = {'val': val_ratio}
    if test_ratio:
        ratios['test'] = test_ratio
    parts = stratified_split([g for _, g in rows], ratios, seed)
    clear_outputs(out, ['images', 'meta'])
    lines: Dict[str, List[Tuple[str, int]]] = {}
    for split in ('train', 'val', 'test'):
        if split not in parts:
            continue
        lines[split] = []
        for i in sorted(parts[split], key=lambda i: rows[i][0]):
            rel = f'images/{os.path.basename(paths[i])}'
            place_file(paths[i], os.path.join(out, rel), link)
            lines[split].append((rel, rows[i][1]))
    counts = write_cls_meta(out, CLASSES, lines)
    if verbose:
        print_summary('APTOS 2019', out, CLASSES, counts)
    return counts


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Convert APTOS 2019 to mmpretrain ann files.')
    p.add_argument('src', help='folder with train.csv and train_images/')
    p.add_argument('-o', '--out', default='data/aptos2019', help='output dataset root')
    p.add_argument('--link', choices=LINK_MODES, default='symlink',
                   help='how images are placed in the output')
    p.add_argument('--val-ratio', type=float, default=0.15,
                   help='stratified fraction of train.csv for validation')
    p.add_argument('--test-ratio', type=float, default=0.15,
                   help='stratified fraction of train.csv for testing (0: no test split)')
    p.add_argument('--seed', type=int, default=0, help='seed of the stratified split')
    p.add_argument('--csv', help='override the path of train.csv')
    p.add_argument('--image-dir', help='override the image folder (default SRC/train_images)')
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        convert(args.src, args.out, args.link, args.val_ratio, args.test_ratio, args.seed,
                args.csv, args.image_dir)
    except ConversionError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
