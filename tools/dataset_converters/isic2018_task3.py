"""Convert ISIC 2018 Task 3 (HAM10000 lesion diagnosis) to mmpretrain ``CustomDataset`` files.

Input: the folder holding the unzipped official archives (challenge.isic-archive.com/data)::

    SRC/ISIC2018_Task3_Training_Input/ISIC_0024306.jpg ...
    SRC/ISIC2018_Task3_Training_GroundTruth/ISIC2018_Task3_Training_GroundTruth.csv
    SRC/ISIC2018_Task3_Validation_Input/...            (optional)
    SRC/ISIC2018_Task3_Validation_GroundTruth/...csv   (optional)
    SRC/ISIC2018_Task3_Test_Input/...                  (optional)
    SRC/ISIC2018_Task3_Test_GroundTruth/...csv         (optional)

(the CSVs may also lie directly in SRC). Each ground-truth CSV has the columns
``image,MEL,NV,BCC,AKIEC,BKL,DF,VASC`` with one 1.0 per row.

Output (``-o``, default ``data/isic2018_task3``)::

    train/ISIC_0024306.jpg ...   (symlinks by default, ``--link copy`` to copy)
    val/..., test/...
    meta/{train,val,test}.txt    ("train/ISIC_0024306.jpg 1"; labels in the order below)
    meta/classes.txt, meta/class_counts.json

Splits: the official validation/test sets are used when present. ``--val-ratio`` /
``--test-ratio`` carve a stratified split out of the training set instead (seeded;
``--metadata HAM10000_metadata.csv`` keeps all images of one lesion in the same split).
Without an official validation set and without ``--val-ratio``, 20 % of the training set
becomes the validation set.

Usage::

    python tools/dataset_converters/isic2018_task3.py data/ISIC2018 -o data/isic2018_task3
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
    find_existing,
    place_file,
    print_summary,
    require_dir,
    require_file,
    resolve_image,
    stratified_split,
    write_cls_meta,
)

#: Label order (= column order of the official ground-truth CSVs).
CLASSES: Tuple[str, ...] = ('MEL', 'NV', 'BCC', 'AKIEC', 'BKL', 'DF', 'VASC')
DEFAULT_VAL_RATIO = 0.2
_OFFICIAL = {
    'train': ('ISIC2018_Task3_Training_Input', 'ISIC2018_Task3_Training_GroundTruth'),
    'val': ('ISIC2018_Task3_Validation_Input', 'ISIC2018_Task3_Validation_GroundTruth'),
    'test': ('ISIC2018_Task3_Test_Input', 'ISIC2018_Task3_Test_GroundTruth'),
}


def read_ground_truth(csv_path: str) -> List[Tuple[str, int]]:
    """Parse a one-hot ground-truth CSV into ``(image id, label)`` pairs in file order."""
    with open(csv_path, newline='') as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in ('image', *CLASSES) if c not in header]
        if missing:
            raise ConversionError(f'{csv_path}: missing column(s) {missing}; expected the header '
                                  f'image,{",".join(CLASSES)} (got {header})')
        rows = []
        for lineno, row in enumerate(reader, start=2):
            row = {k.strip(): (v or '').strip() for k, v in row.items() if k is not None}
            try:
                values = [float(row[c]) for c in CLASSES]
            except ValueError:
                raise ConversionError(f'{csv_path}:{lineno}: class columns must be numbers, got '
                                      f'{[row[c] for c in CLASSES]}') from None
            hot = [i for i, v in enumerate(values) if v >= 0.5]
            if len(hot) != 1:
                raise ConversionError(f'{csv_path}:{lineno}: image {row["image"]!r} must have '
                                      f'exactly one class set to 1, got {values}')
            if not row['image']:
                raise ConversionError(f'{csv_path}:{lineno}: empty image id')
            rows.append((row['image'], hot[0]))
    if not rows:
        raise ConversionError(f'{csv_path}: no data rows')
    return rows


def read_lesion_groups(path: str) -> Dict[str, str]:
    """image_id -> lesion_id from ``HAM10000_metadata.csv``."""
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        if 'image_id' not in cols or 'lesion_id' not in cols:
            raise ConversionError(f'{path}: --metadata needs the columns lesion_id and image_id '
                                  f'(HAM10000_metadata.csv), got {cols}')
        return {row['image_id'].strip(): row['lesion_id'].strip() for row in reader}


def _official(src: str, split: str) -> Tuple[Optional[str], Optional[str]]:
    img_dir, gt_name = _OFFICIAL[split]
    csv_path = find_existing(src, [os.path.join(gt_name, gt_name + '.csv'), gt_name + '.csv'])
    return find_existing(src, [img_dir]), csv_path


def _resolve(rows: List[Tuple[str, int]], img_dir: str, what: str) -> List[Tuple[str, int]]:
    out, missing = [], []
    for image_id, label in rows:
        path = resolve_image(img_dir, image_id)
        if path is None:
            missing.append(image_id)
        out.append((path, label))
    check_missing(missing, f'{what}: images listed in the CSV but not found in {img_dir}')
    return out


def convert(src: str, out: str, link: str = 'symlink', val_ratio: Optional[float] = None,
            test_ratio: Optional[float] = None, seed: int = 0, metadata: Optional[str] = None,
            train_csv: Optional[str] = None, train_dir: Optional[str] = None,
            verbose: bool = True) -> Dict[str, List[int]]:
    """Convert the official files under ``src`` into ``out``; return per-split class counts."""
    check_ratio(val_ratio, '--val-ratio')
    check_ratio(test_ratio, '--test-ratio')
    require_dir(src, 'SRC')
    sources: Dict[str, Tuple[str, str]] = {}
    off_dir, off_csv = _official(src, 'train')
    train_dir = require_dir(train_dir or off_dir, 'training images',
                            f'expected {_OFFICIAL["train"][0]}/ in {src}')
    train_csv = require_file(train_csv or off_csv, 'training ground truth',
                             f'expected {_OFFICIAL["train"][1]}.csv in {src}')
    sources['train'] = (train_dir, train_csv)
    ratios = {}
    for split, ratio in (('val', val_ratio), ('test', test_ratio)):
        img_dir, csv_path = _official(src, split)
        if ratio:
            if verbose and (img_dir or csv_path):
                print(f'note: --{split}-ratio given, the official {split} set is not used')
            ratios[split] = ratio
        elif img_dir and csv_path:
            sources[split] = (img_dir, csv_path)
        elif img_dir or csv_path:
            raise ConversionError(f'official {split} set is incomplete: found '
                                  f'{img_dir or csv_path} but not its '
                                  f'{"ground-truth CSV" if img_dir else "image folder"}')
        elif split == 'val' and ratio is None:
            ratios['val'] = DEFAULT_VAL_RATIO
            if verbose:
                print(f'note: no official validation set in {src}; using a stratified '
                      f'{DEFAULT_VAL_RATIO:.0%} of the training set (seed {seed})')

    items: Dict[str, List[Tuple[str, int]]] = {}
    for split, (img_dir, csv_path) in sources.items():
        items[split] = _resolve(read_ground_truth(csv_path), img_dir, split)
    if metadata and not ratios and verbose:
        print('note: --metadata is only used for splits carved from the training set')
    if ratios:
        train = items['train']
        groups = None
        if metadata:
            lesion = read_lesion_groups(require_file(metadata, '--metadata'))
            ids = [os.path.splitext(os.path.basename(p))[0] for p, _ in train]
            check_missing([i for i in ids if i not in lesion],
                          f'--metadata {metadata}: no lesion_id for images')
            groups = [lesion[i] for i in ids]
        parts = stratified_split([lb for _, lb in train], ratios, seed, groups)
        for split, idx in parts.items():
            items[split] = [train[i] for i in idx]

    clear_outputs(out, ['train', 'val', 'test', 'meta'])
    lines: Dict[str, List[Tuple[str, int]]] = {}
    for split in ('train', 'val', 'test'):
        if split not in items:
            continue
        lines[split] = []
        for path, label in sorted(items[split], key=lambda x: os.path.basename(x[0])):
            rel = f'{split}/{os.path.basename(path)}'
            place_file(path, os.path.join(out, rel), link)
            lines[split].append((rel, label))
    counts = write_cls_meta(out, CLASSES, lines)
    if verbose:
        print_summary('ISIC 2018 Task 3', out, CLASSES, counts)
        if 'test' not in counts:
            print('note: no test split (no official test set, no --test-ratio); point '
                  'test_dataloader at meta/val.txt or rerun with --test-ratio')
    return counts


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Convert ISIC 2018 Task 3 to mmpretrain ann files.')
    p.add_argument('src', help='folder with the unzipped official ISIC 2018 Task 3 archives')
    p.add_argument('-o', '--out', default='data/isic2018_task3', help='output dataset root')
    p.add_argument('--link', choices=LINK_MODES, default='symlink',
                   help='how images are placed in the output')
    p.add_argument('--val-ratio', type=float, default=None,
                   help='stratified fraction of the training set used for validation instead '
                        f'of the official set (default: official, else {DEFAULT_VAL_RATIO})')
    p.add_argument('--test-ratio', type=float, default=None,
                   help='stratified fraction of the training set used for testing instead of '
                        'the official test set')
    p.add_argument('--seed', type=int, default=0, help='seed of the stratified split')
    p.add_argument('--metadata', help='HAM10000_metadata.csv: split by lesion_id, not by image')
    p.add_argument('--train-csv', help='override the training ground-truth CSV path')
    p.add_argument('--train-dir', help='override the training image folder')
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        convert(args.src, args.out, args.link, args.val_ratio, args.test_ratio, args.seed,
                args.metadata, args.train_csv, args.train_dir)
    except ConversionError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
