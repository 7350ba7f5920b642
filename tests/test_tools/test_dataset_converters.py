"""Dataset converters, run on tiny fake copies of the official layouts written here."""
import csv
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONV_DIR = os.path.join(ROOT, 'tools', 'dataset_converters')
HAM = ('MEL', 'NV', 'BCC', 'AKIEC', 'BKL', 'DF', 'VASC')


def _load(name):
    spec = importlib.util.spec_from_file_location(f'_conv_{name}',
                                                  os.path.join(CONV_DIR, f'{name}.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


task3 = _load('isic2018_task3')
aptos = _load('aptos2019')
task1 = _load('isic2018_task1')
kvasir = _load('kvasir_seg')
ConversionError = task3.ConversionError


def _img(path, size=(8, 6), value=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arr = np.full((size[1], size[0], 3), value % 256, np.uint8)
    arr[0, 0] = (value * 7) % 256  # make files distinct
    Image.fromarray(arr).save(path)


def _read_ann(path):
    with open(path) as f:
        return [(p, int(lb)) for p, lb in (line.split() for line in f if line.strip())]

def _json(path):
    with open(path) as f:
        return json.load(f)



def _write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


# ============================================================================ ISIC 2018 Task 3
def _task3_split(src, split_dir, gt_name, labels, start, columns=HAM):
    """Write images ISIC_<start+i>.jpg and a one-hot CSV; return {image_id: class index}."""
    rows, truth = [], {}
    for i, lb in enumerate(labels):
        image_id = f'ISIC_{start + i:07d}'
        _img(os.path.join(src, split_dir, image_id + '.jpg'), value=start + i)
        onehot = {c: '1.0' if HAM.index(c) == lb else '0.0' for c in HAM}
        rows.append([image_id] + [onehot[c] for c in columns])
        truth[image_id] = lb
    _write_csv(os.path.join(src, gt_name, gt_name + '.csv'), ['image', *columns], rows)
    return truth


TRAIN_PER_CLASS = [6, 20, 5, 4, 6, 2, 3]


@pytest.fixture
def isic3_src(tmp_path):
    src = str(tmp_path / 'ISIC2018')
    labels = [c for c, n in enumerate(TRAIN_PER_CLASS) for _ in range(n)]
    labels = labels[::2] + labels[1::2]  # interleave classes
    train = _task3_split(src, 'ISIC2018_Task3_Training_Input',
                         'ISIC2018_Task3_Training_GroundTruth', labels, 24306)
    val = _task3_split(src, 'ISIC2018_Task3_Validation_Input',
                       'ISIC2018_Task3_Validation_GroundTruth', list(range(7)), 34321,
                       columns=HAM[::-1])  # column order must not matter
    return src, train, val


def test_isic2018_task3_official_splits(isic3_src, tmp_path):
    src, train, val = isic3_src
    out = str(tmp_path / 'out')
    counts = task3.convert(src, out, verbose=False)
    assert counts['train'] == TRAIN_PER_CLASS
    assert counts['val'] == [1] * 7
    assert 'test' not in counts
    for split, truth in (('train', train), ('val', val)):
        ann = _read_ann(os.path.join(out, 'meta', f'{split}.txt'))
        assert len(ann) == len(truth)
        for rel, label in ann:
            image_id = os.path.splitext(os.path.basename(rel))[0]
            assert rel.startswith(f'{split}/')
            assert label == truth[image_id]
            path = os.path.join(out, rel)
            assert os.path.islink(path)
            assert os.path.realpath(path).endswith(image_id + '.jpg')
    info = _json(os.path.join(out, 'meta', 'class_counts.json'))
    assert info['classes'] == list(HAM)
    assert info['cls_num_list'] == TRAIN_PER_CLASS
    assert info['imbalance_ratio'] == pytest.approx(20 / 2)
    with open(os.path.join(out, 'meta', 'classes.txt')) as f:
        assert f.read().split() == list(HAM)


def test_isic2018_task3_copy_and_deterministic_split(isic3_src, tmp_path):
    src, train, _ = isic3_src
    out1, out2 = str(tmp_path / 'a'), str(tmp_path / 'b')
    task3.convert(src, out1, link='copy', val_ratio=0.25, test_ratio=0.25, seed=3,
                  verbose=False)
    task3.convert(src, out2, link='copy', val_ratio=0.25, test_ratio=0.25, seed=3,
                  verbose=False)
    splits = {}
    for split in ('train', 'val', 'test'):
        a = _read_ann(os.path.join(out1, 'meta', f'{split}.txt'))
        assert a == _read_ann(os.path.join(out2, 'meta', f'{split}.txt'))
        splits[split] = {os.path.basename(p): lb for p, lb in a}
        for rel, _ in a:
            path = os.path.join(out1, rel)
            assert os.path.isfile(path) and not os.path.islink(path)
    names = [set(s) for s in splits.values()]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert len(set.union(*names)) == len(train)
    # stratified: every class with >= 3 images has one in each split, the rest in train
    for c, n in enumerate(TRAIN_PER_CLASS):
        per_split = {s: sum(lb == c for lb in v.values()) for s, v in splits.items()}
        assert sum(per_split.values()) == n
        assert per_split['train'] >= 1
        if n >= 3:
            assert per_split['val'] >= 1 and per_split['test'] >= 1
        assert abs(per_split['val'] - 0.25 * n) <= 1
    # the official validation set is not used when --val-ratio is given
    assert not any(name.startswith('ISIC_00343') for name in splits['val'])


def test_isic2018_task3_rerun_removes_stale_files(isic3_src, tmp_path):
    src, _, _ = isic3_src
    out = str(tmp_path / 'out')
    task3.convert(src, out, val_ratio=0.3, test_ratio=0.3, seed=0, verbose=False)
    task3.convert(src, out, verbose=False)  # official val, no test
    assert not os.path.exists(os.path.join(out, 'test'))
    assert not os.path.exists(os.path.join(out, 'meta', 'test.txt'))
    assert len(os.listdir(os.path.join(out, 'val'))) == 7


def test_isic2018_task3_default_val_split_and_lesion_groups(tmp_path):
    src = str(tmp_path / 'src')
    labels = [1] * 12 + [5] * 4
    truth = _task3_split(src, 'ISIC2018_Task3_Training_Input',
                         'ISIC2018_Task3_Training_GroundTruth', labels, 100)
    ids = sorted(truth)
    lesion = {i: f'HAM_{k // 2:03d}' for k, i in enumerate(ids)}  # two images per lesion
    meta = str(tmp_path / 'HAM10000_metadata.csv')
    _write_csv(meta, ['lesion_id', 'image_id', 'dx'], [[lesion[i], i, 'x'] for i in ids])
    out = str(tmp_path / 'out')
    counts = task3.convert(src, out, metadata=meta, seed=1, verbose=False)
    assert sum(counts['val']) > 0 and sum(counts['train']) + sum(counts['val']) == 16
    where = {}
    for split in ('train', 'val'):
        for rel, _ in _read_ann(os.path.join(out, 'meta', f'{split}.txt')):
            where.setdefault(lesion[os.path.splitext(os.path.basename(rel))[0]], set()).add(split)
    assert all(len(s) == 1 for s in where.values())


def test_isic2018_task3_errors(tmp_path, capsys):
    src = str(tmp_path / 'src')
    gt = 'ISIC2018_Task3_Training_GroundTruth'
    _task3_split(src, 'ISIC2018_Task3_Training_Input', gt, [0, 1, 2], 0)
    csv_path = os.path.join(src, gt, gt + '.csv')
    # missing column
    _write_csv(csv_path, ['image', 'MEL', 'NV'], [['ISIC_0000000', '1.0', '0.0']])
    with pytest.raises(ConversionError, match=r"missing column\(s\) \['BCC'"):
        task3.convert(src, str(tmp_path / 'o'), verbose=False)
    # two classes set in one row
    _write_csv(csv_path, ['image', *HAM], [['ISIC_0000000', 1, 1, 0, 0, 0, 0, 0]])
    with pytest.raises(ConversionError, match=r'\.csv:2: image .ISIC_0000000. must have exactly'):
        task3.convert(src, str(tmp_path / 'o'), verbose=False)
    # image listed but missing
    _write_csv(csv_path, ['image', *HAM], [['ISIC_0000009', 1, 0, 0, 0, 0, 0, 0]])
    with pytest.raises(ConversionError, match='not found.*ISIC_0000009'):
        task3.convert(src, str(tmp_path / 'o'), verbose=False)
    # no ground truth at all; via the CLI: exit code 1 and a message
    os.remove(csv_path)
    assert task3.main([src, '-o', str(tmp_path / 'o')]) == 1
    assert 'training ground truth' in capsys.readouterr().err
    with pytest.raises(ConversionError, match='--val-ratio must be in'):
        task3.convert(src, str(tmp_path / 'o'), val_ratio=1.5, verbose=False)


def test_isic2018_task3_cli_subprocess(isic3_src, tmp_path):
    src, train, _ = isic3_src
    out = str(tmp_path / 'cli')
    res = subprocess.run([sys.executable, os.path.join(CONV_DIR, 'isic2018_task3.py'), src,
                          '-o', out, '--link', 'copy'], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert len(_read_ann(os.path.join(out, 'meta', 'train.txt'))) == len(train)


# ============================================================================ APTOS 2019
def _aptos_src(root, grades):
    rows = []
    for i, g in enumerate(grades):
        code = f'{i:04x}c1434d8d'
        _img(os.path.join(root, 'train_images', code + '.png'), value=i)
        rows.append([code, g])
    _write_csv(os.path.join(root, 'train.csv'), ['id_code', 'diagnosis'], rows)
    return dict(rows)


def test_aptos2019_stratified_split(tmp_path):
    grades = [0] * 20 + [1] * 10 + [2] * 10 + [3] * 5 + [4] * 5
    truth = _aptos_src(str(tmp_path / 'src'), grades)
    out = str(tmp_path / 'out')
    counts = aptos.convert(str(tmp_path / 'src'), out, val_ratio=0.2, test_ratio=0.2, seed=0,
                           verbose=False)
    # round(n * 0.2) per grade in val and test, the rest in train
    expect_vt = [4, 2, 2, 1, 1]
    assert counts['val'] == expect_vt and counts['test'] == expect_vt
    assert counts['train'] == [20 - 8, 10 - 4, 10 - 4, 5 - 2, 5 - 2]
    seen = set()
    for split in ('train', 'val', 'test'):
        for rel, label in _read_ann(os.path.join(out, 'meta', f'{split}.txt')):
            code = os.path.splitext(os.path.basename(rel))[0]
            assert rel == f'images/{code}.png' and label == truth[code]
            assert os.path.islink(os.path.join(out, rel))
            seen.add(code)
    assert seen == set(truth)
    # same seed -> same split; no test split when --test-ratio 0
    out2 = str(tmp_path / 'out2')
    aptos.convert(str(tmp_path / 'src'), out2, val_ratio=0.2, test_ratio=0.2, seed=0,
                  verbose=False)
    assert _read_ann(os.path.join(out, 'meta', 'val.txt')) == \
        _read_ann(os.path.join(out2, 'meta', 'val.txt'))
    counts = aptos.convert(str(tmp_path / 'src'), out2, test_ratio=0, verbose=False)
    assert 'test' not in counts and not os.path.exists(os.path.join(out2, 'meta', 'test.txt'))


@pytest.mark.parametrize('bad', ['5', '-1', '1.5', 'x', ''])
def test_aptos2019_bad_grade(tmp_path, bad):
    src = str(tmp_path / 'src')
    _aptos_src(src, [0, 1])
    _write_csv(os.path.join(src, 'train.csv'), ['id_code', 'diagnosis'],
               [['0000c1434d8d', '0'], ['0001c1434d8d', bad]])
    with pytest.raises(ConversionError, match=r'train\.csv:3: diagnosis must be an integer'):
        aptos.convert(src, str(tmp_path / 'o'), verbose=False)


def test_aptos2019_missing_inputs(tmp_path):
    src = str(tmp_path / 'src')
    _aptos_src(src, [0, 1, 2])
    os.remove(os.path.join(src, 'train_images', '0001c1434d8d.png'))
    with pytest.raises(ConversionError, match='not found in .*: 0001c1434d8d'):
        aptos.convert(src, str(tmp_path / 'o'), verbose=False)
    _write_csv(os.path.join(src, 'train.csv'), ['id', 'grade'], [['a', 0]])
    with pytest.raises(ConversionError, match=r"missing column\(s\) \['id_code', 'diagnosis'\]"):
        aptos.convert(src, str(tmp_path / 'o'), verbose=False)
    with pytest.raises(ConversionError, match='labels: file .* not found'):
        aptos.convert(str(tmp_path), str(tmp_path / 'o'), verbose=False)


# ============================================================================ segmentation
def _mask(path, size, box, fmt=None):
    """0/255 mask of ``size`` (w, h) with a white box (x0, y0, x1, y1)."""
    arr = np.zeros((size[1], size[0]), np.uint8)
    x0, y0, x1, y1 = box
    arr[y0:y1, x0:x1] = 255
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if fmt == 'JPEG':
        Image.fromarray(arr).convert('RGB').save(path, quality=60)
    else:
        Image.fromarray(arr).save(path)
    return (arr > 0).astype(np.uint8)


def _isic1_split(src, img_dir, gt_dir, n, start):
    truth = {}
    for i in range(n):
        name = f'ISIC_{start + i:07d}'
        _img(os.path.join(src, img_dir, name + '.jpg'), size=(20, 16), value=i)
        truth[name] = _mask(os.path.join(src, gt_dir, name + '_segmentation.png'), (20, 16),
                            (2 + i % 5, 3, 12 + i % 7, 11))
    return truth


def test_isic2018_task1(tmp_path):
    src = str(tmp_path / 'src')
    train = _isic1_split(src, 'ISIC2018_Task1-2_Training_Input',
                         'ISIC2018_Task1_Training_GroundTruth', 10, 0)
    out = str(tmp_path / 'out')
    counts = task1.convert(src, out, seed=0, verbose=False)  # no official val: 20 % split
    imgs = {s: sorted(os.listdir(os.path.join(out, 'img_dir', s))) for s in ('train', 'val')}
    assert len(imgs['val']) == 2 and len(imgs['train']) == 8
    fg = {'train': 0, 'val': 0}
    for split, names in imgs.items():
        anns = sorted(os.listdir(os.path.join(out, 'ann_dir', split)))
        assert anns == [n.replace('.jpg', '.png') for n in names]
        for name in names:
            stem = name[:-4]
            assert os.path.islink(os.path.join(out, 'img_dir', split, name))
            mask = np.asarray(Image.open(os.path.join(out, 'ann_dir', split, stem + '.png')))
            assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
            np.testing.assert_array_equal(mask, train[stem])
            fg[split] += int(train[stem].sum())
    assert counts['train'][1] == fg['train'] and counts['val'][1] == fg['val']
    assert counts['train'][0] + counts['train'][1] == 8 * 20 * 16
    info = _json(os.path.join(out, 'meta', 'class_counts.json'))
    assert info['cls_num_list'] == counts['train'] and info['images'] == {'train': 8, 'val': 2}


def test_isic2018_task1_official_val_and_errors(tmp_path):
    src = str(tmp_path / 'src')
    _isic1_split(src, 'ISIC2018_Task1-2_Training_Input', 'ISIC2018_Task1_Training_GroundTruth',
                 4, 0)
    _isic1_split(src, 'ISIC2018_Task1-2_Validation_Input',
                 'ISIC2018_Task1_Validation_GroundTruth', 3, 100)
    out = str(tmp_path / 'out')
    task1.convert(src, out, verbose=False)
    assert len(os.listdir(os.path.join(out, 'img_dir', 'train'))) == 4
    assert sorted(os.listdir(os.path.join(out, 'ann_dir', 'val'))) == \
        [f'ISIC_{100 + i:07d}.png' for i in range(3)]
    # a missing mask is reported by name
    os.remove(os.path.join(src, 'ISIC2018_Task1_Validation_GroundTruth',
                           'ISIC_0000101_segmentation.png'))
    with pytest.raises(ConversionError, match='masks not found.*ISIC_0000101_segmentation.png'):
        task1.convert(src, out, verbose=False)
    # a mask of a different size than its image
    _mask(os.path.join(src, 'ISIC2018_Task1_Validation_GroundTruth',
                       'ISIC_0000101_segmentation.png'), (10, 10), (0, 0, 5, 5))
    with pytest.raises(ConversionError, match=r'is \(20, 16\) but its mask .* is \(10, 10\)'):
        task1.convert(src, out, verbose=False)


def _kvasir_src(root, n):
    truth = {}
    for i in range(n):
        name = f'cju{i:02d}qkwl35piu0993l0dewei2'
        _img(os.path.join(root, 'images', name + '.jpg'), size=(32, 24), value=i)
        truth[name] = _mask(os.path.join(root, 'masks', name + '.jpg'), (32, 24),
                            (5, 7, 23, 15 + i % 5), fmt='JPEG')
    return truth


def test_kvasir_seg_thresholds_jpeg_masks(tmp_path):
    src = str(tmp_path / 'Kvasir-SEG')
    truth = _kvasir_src(src, 10)
    # the JPEG masks really hold compression noise, not only 0/255
    noisy = np.asarray(Image.open(os.path.join(src, 'masks', sorted(truth)[0] + '.jpg')))
    assert len(np.unique(noisy)) > 2
    out = str(tmp_path / 'out')
    counts = kvasir.convert(src, out, val_ratio=0.2, test_ratio=0.1, seed=0, link='copy',
                            verbose=False)
    n = {s: len(os.listdir(os.path.join(out, 'img_dir', s))) for s in ('train', 'val', 'test')}
    assert n == {'train': 7, 'val': 2, 'test': 1}
    total_fg = 0
    for split in n:
        for name in os.listdir(os.path.join(out, 'ann_dir', split)):
            mask = np.asarray(Image.open(os.path.join(out, 'ann_dir', split, name)))
            np.testing.assert_array_equal(mask, truth[name[:-4]])
            total_fg += int(mask.sum())
    assert sum(c[1] for c in counts.values()) == total_fg


def test_kvasir_seg_unmatched_files(tmp_path):
    src = str(tmp_path / 'Kvasir-SEG')
    _kvasir_src(src, 3)
    os.remove(os.path.join(src, 'masks', 'cju01qkwl35piu0993l0dewei2.jpg'))
    with pytest.raises(ConversionError, match='images without a mask.*cju01qkwl'):
        kvasir.convert(src, str(tmp_path / 'o'), verbose=False)
    os.rename(os.path.join(src, 'masks'), os.path.join(src, 'labels'))
    with pytest.raises(ConversionError, match=r'masks: folder .*masks. not found'):
        kvasir.convert(src, str(tmp_path / 'o'), verbose=False)


# ============================================================================ toolbox readers
def test_converted_cls_layout_reads_with_mmpretrain(isic3_src, tmp_path):
    pytest.importorskip('mmpretrain')
    from mmpretrain.datasets import CustomDataset
    src, train, _ = isic3_src
    out = str(tmp_path / 'out')
    task3.convert(src, out, verbose=False)
    ds = CustomDataset(data_root=out, ann_file='meta/train.txt', data_prefix='',
                       metainfo={'classes': HAM}, pipeline=[], lazy_init=False)
    assert len(ds) == len(train)
    info = ds.get_data_info(0)
    assert os.path.isfile(info['img_path'])
    image_id = os.path.splitext(os.path.basename(info['img_path']))[0]
    assert info['gt_label'] == train[image_id]
    assert np.bincount(ds.get_gt_labels(), minlength=7).tolist() == TRAIN_PER_CLASS


def test_converted_seg_layout_reads_with_mmseg(tmp_path):
    pytest.importorskip('mmseg')
    from mmseg.datasets import BaseSegDataset
    src = str(tmp_path / 'Kvasir-SEG')
    _kvasir_src(src, 5)
    out = str(tmp_path / 'out')
    kvasir.convert(src, out, val_ratio=0.2, test_ratio=0, verbose=False)
    ds = BaseSegDataset(data_root=out, data_prefix={'img_path': 'img_dir/train',
                                                        'seg_map_path': 'ann_dir/train'},
                        img_suffix='.jpg', seg_map_suffix='.png', pipeline=[],
                        metainfo={'classes': ('background', 'polyp')},
                        reduce_zero_label=False)
    assert len(ds) == 4
    info = ds.get_data_info(0)
    assert os.path.isfile(info['img_path']) and os.path.isfile(info['seg_map_path'])
    assert os.path.basename(info['seg_map_path'])[:-4] == os.path.basename(info['img_path'])[:-4]
