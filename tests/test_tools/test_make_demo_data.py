"""tools/make_demo_data.py: counts, determinism, layouts, masks (tiny sets)."""
import hashlib
import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'tools', 'make_demo_data.py')
_spec = importlib.util.spec_from_file_location('_make_demo_data', SCRIPT)
mdd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mdd)

HAM = {'MEL': 1113, 'NV': 6705, 'BCC': 514, 'AKIEC': 327, 'BKL': 1099, 'DF': 115, 'VASC': 142}
CLASSES = ('MEL', 'NV', 'BCC', 'AKIEC', 'BKL', 'DF', 'VASC')
TINY_CLS = {'seed': 0, 'size': 32, 'head': 12, 'imbalance_ratio': 6.0, 'val_per_class': 2,
                'test_per_class': 1, 'verbose': False}
TINY_SEG = {'seed': 0, 'size': 48, 'n_train': 12, 'n_val': 3, 'n_test': 2, 'verbose': False}


def _tree_hashes(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            path = os.path.join(d, f)
            with open(path, 'rb') as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def _read_ann(path):
    with open(path) as f:
        return [(p, int(lb)) for p, lb in (line.split() for line in f if line.strip())]

def _json(path):
    with open(path) as f:
        return json.load(f)


def _bytes(path):
    with open(path, 'rb') as f:
        return f.read()



@pytest.fixture(scope='module')
def cls_root(tmp_path_factory):
    return mdd.make_cls(str(tmp_path_factory.mktemp('cls')), **TINY_CLS)


@pytest.fixture(scope='module')
def seg_root(tmp_path_factory):
    return mdd.make_seg(str(tmp_path_factory.mktemp('seg')), **TINY_SEG)


# ---------------------------------------------------------------------------- counts
def test_long_tail_counts_reproduce_ham10000():
    # head = NV count and the profile's own ratio give back the HAM10000 counts
    assert mdd.long_tail_counts(6705) == [HAM[c] for c in CLASSES]
    scaled = mdd.long_tail_counts(1340)
    assert scaled[CLASSES.index('NV')] == 1340
    assert scaled[CLASSES.index('DF')] == round(1340 * 115 / 6705)
    assert 1500 <= sum(scaled) <= 2500


@pytest.mark.parametrize('ratio', [1.0, 10.0, 50.0, 100.0])
def test_long_tail_counts_ratio_and_order(ratio):
    counts = dict(zip(CLASSES, mdd.long_tail_counts(1000, ratio)))
    assert counts['NV'] == 1000
    assert counts['DF'] == round(1000 / ratio)
    # HAM10000 order is kept: NV > MEL >= BKL > BCC > AKIEC > VASC > DF
    order = ['NV', 'MEL', 'BKL', 'BCC', 'AKIEC', 'VASC', 'DF']
    vals = [counts[c] for c in order]
    assert all(a >= b for a, b in zip(vals, vals[1:]))
    # each class keeps its log-position t = log(n_NV/n_c)/log(n_NV/n_DF) in the profile
    t_mel = math.log(6705 / 1113) / math.log(6705 / 115)
    assert counts['MEL'] == round(1000 * ratio ** -t_mel)


def test_long_tail_counts_rejects_bad_args():
    with pytest.raises(ValueError, match='imbalance_ratio'):
        mdd.long_tail_counts(100, 0.5)
    with pytest.raises(ValueError, match='head'):
        mdd.long_tail_counts(0)


# ---------------------------------------------------------------------------- classification
def test_cls_layout_and_counts(cls_root):
    expected = mdd.long_tail_counts(12, 6.0)
    assert max(expected) / min(expected) == pytest.approx(6.0)
    split_counts = {'train': expected, 'val': [2] * 7, 'test': [1] * 7}
    for split, counts in split_counts.items():
        ann = _read_ann(os.path.join(cls_root, 'meta', f'{split}.txt'))
        assert np.bincount([lb for _, lb in ann], minlength=7).tolist() == counts
        for rel, label in ann:
            assert rel.startswith(f'{split}/{CLASSES[label]}/')
            with Image.open(os.path.join(cls_root, rel)) as im:
                assert im.size == (32, 32) and im.mode == 'RGB'
    info = _json(os.path.join(cls_root, 'meta', 'class_counts.json'))
    assert info['classes'] == list(CLASSES)
    assert info['cls_num_list'] == expected
    assert info['splits'] == split_counts
    assert info['imbalance_ratio'] == pytest.approx(6.0)
    with open(os.path.join(cls_root, 'meta', 'classes.txt')) as f:
        assert f.read().split() == list(CLASSES)


def test_cls_deterministic(cls_root, tmp_path):
    again = mdd.make_cls(str(tmp_path / 'a'), **TINY_CLS)
    assert _tree_hashes(again) == _tree_hashes(cls_root)
    other = mdd.make_cls(str(tmp_path / 'b'), **{**TINY_CLS, 'seed': 1})
    a, b = _tree_hashes(cls_root), _tree_hashes(other)
    img = 'train/NV/00000.png'
    assert a[img] != b[img]


def test_cls_images_differ_between_classes_and_samples(cls_root):
    def load(rel):
        return np.asarray(Image.open(os.path.join(cls_root, rel)), np.float32)
    a, b = load('train/NV/00000.png'), load('train/NV/00001.png')
    assert np.abs(a - b).mean() > 1  # within-class variation
    # a lesion exists: the centre differs from the corners
    assert np.abs(a[12:20, 12:20].mean((0, 1)) - a[:4, :4].mean((0, 1))).max() > 10


def test_manifest_skip_force_and_param_change(tmp_path, capsys):
    kw = {**TINY_CLS, 'head': 4, 'imbalance_ratio': 2.0, 'val_per_class': 1}
    root = mdd.make_cls(str(tmp_path), **kw)
    probe = os.path.join(root, 'train', 'NV', '00000.png')
    with open(probe, 'wb') as f:
        f.write(b'sentinel')
    mdd.make_cls(str(tmp_path), **{**kw, 'verbose': True})
    assert 'up to date' in capsys.readouterr().out
    assert _bytes(probe) == b'sentinel'  # skipped
    mdd.make_cls(str(tmp_path), **{**kw, 'force': True})
    assert _bytes(probe).startswith(b'\x89PNG')
    # fewer NV images with other parameters: stale files of the old run are gone
    mdd.make_cls(str(tmp_path), **{**kw, 'head': 2})
    assert sorted(os.listdir(os.path.join(root, 'train', 'NV'))) == ['00000.png', '00001.png']
    manifest = _json(os.path.join(root, 'manifest.json'))
    assert manifest['head'] == 2 and manifest['task'] == 'cls'


# ---------------------------------------------------------------------------- segmentation
def test_seg_masks_valid_and_sparse(seg_root):
    totals = np.zeros(3, np.int64)
    for split, n in (('train', 12), ('val', 3), ('test', 2)):
        imgs = sorted(os.listdir(os.path.join(seg_root, 'img_dir', split)))
        assert imgs == sorted(os.listdir(os.path.join(seg_root, 'ann_dir', split)))
        assert len(imgs) == n
        for name in imgs:
            with Image.open(os.path.join(seg_root, 'img_dir', split, name)) as im:
                assert im.mode == 'RGB' and im.size == (48, 48)
            ann = np.asarray(Image.open(os.path.join(seg_root, 'ann_dir', split, name)))
            binary = np.asarray(Image.open(os.path.join(seg_root, 'ann_dir_binary', split, name)))
            assert ann.shape == (48, 48) and ann.dtype == np.uint8
            assert set(np.unique(ann)) <= {0, 1, 2}
            np.testing.assert_array_equal(binary, (ann > 0).astype(np.uint8))
            assert (ann > 0).mean() < 0.05  # per image foreground budget
            if split == 'train':
                totals += np.bincount(ann.ravel(), minlength=3)
    assert totals[1] > 0 and totals[2] > 0  # both structures occur
    assert totals[1:].sum() / totals.sum() < 0.05
    info = _json(os.path.join(seg_root, 'meta', 'class_counts.json'))
    assert info['cls_num_list'] == totals.tolist()
    assert info['binary_cls_num_list'] == [int(totals[0]), int(totals[1:].sum())]


def test_seg_deterministic(seg_root, tmp_path):
    assert _tree_hashes(mdd.make_seg(str(tmp_path), **TINY_SEG)) == _tree_hashes(seg_root)


def test_seg_vessels_are_thin_curves(seg_root):
    ann = np.stack([np.asarray(Image.open(os.path.join(seg_root, 'ann_dir', 'train', n)))
                    for n in sorted(os.listdir(os.path.join(seg_root, 'ann_dir', 'train')))])
    vessel = ann == 1
    # thin: most vessel pixels have a background pixel within one step horizontally or vertically
    pad = np.pad(vessel, ((0, 0), (1, 1), (1, 1)))
    near_bg = (~pad[:, :-2, 1:-1] | ~pad[:, 2:, 1:-1] | ~pad[:, 1:-1, :-2] | ~pad[:, 1:-1, 2:])
    assert near_bg[vessel].mean() > 0.8


# ---------------------------------------------------------------------------- CLI + readers
def test_cli_only_and_bad_args(tmp_path):
    cmd = [sys.executable, SCRIPT, '--out', str(tmp_path), '--only', 'seg', '--seg-size', '32',
           '--seg-train', '2', '--seg-val', '1', '--seg-test', '1', '--quiet']
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert os.path.isdir(tmp_path / 'demo_seg' / 'img_dir' / 'train')
    assert not os.path.exists(tmp_path / 'demo_cls')
    assert mdd.main(['--out', str(tmp_path), '--only', 'cls', '--imbalance-ratio', '0.5']) == 2


def test_cls_reads_with_mmpretrain(cls_root):
    pytest.importorskip('mmpretrain')
    from mmpretrain.datasets import CustomDataset
    ds = CustomDataset(data_root=cls_root, ann_file='meta/train.txt', data_prefix='',
                       metainfo={'classes': CLASSES}, pipeline=[], lazy_init=False)
    assert len(ds) == sum(mdd.long_tail_counts(12, 6.0))
    assert os.path.isfile(ds.get_data_info(0)['img_path'])
    assert ds.metainfo['classes'] == CLASSES


def test_seg_reads_with_mmseg(seg_root):
    pytest.importorskip('mmseg')
    from mmseg.datasets import BaseSegDataset
    ds = BaseSegDataset(data_root=seg_root, data_prefix={'img_path': 'img_dir/val',
                                                             'seg_map_path': 'ann_dir/val'},
                        img_suffix='.png', seg_map_suffix='.png', pipeline=[],
                        metainfo={'classes': ('background', 'vessel', 'lesion')},
                        reduce_zero_label=False)
    assert len(ds) == 3
    assert os.path.isfile(ds.get_data_info(0)['seg_map_path'])
