"""configs/_base_/datasets/*.py: load, build every dataset on tiny generated data, run the
pipelines on one sample and build the evaluators."""
import copy
import csv
import importlib.util
import os

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG_DIR = os.path.join(ROOT, 'configs', '_base_', 'datasets')
CLS_CONFIGS = ['isic2018_task3', 'aptos2019', 'demo_longtail_cls']
SEG_CONFIGS = ['isic2018_task1', 'kvasir_seg', 'drive', 'synapse', 'demo_seg']
SPLITS = ('train', 'val', 'test')


def _load_module(rel):
    path = os.path.join(ROOT, 'tools', rel)
    spec = importlib.util.spec_from_file_location('_cfgtest_' + rel.replace('/', '_')[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cfg(name):
    return Config.fromfile(os.path.join(CFG_DIR, f'{name}.py'))


def _img(path, size=(20, 16), value=0, mode='RGB'):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(value)
    shape = (size[1], size[0], 3) if mode == 'RGB' else (size[1], size[0])
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(path)


def _mask(path, size=(20, 16), classes=2, scale=1):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arr = np.zeros((size[1], size[0]), np.uint8)
    width = size[0] // (classes + 1)  # vertical stripes, background on the left
    for c in range(1, classes):
        arr[:, (c + 1) * width: (c + 2) * width] = c * scale
    Image.fromarray(arr).save(path)


# ---------------------------------------------------------------------------- tiny data
def _make_isic2018_task3(tmp):
    src = os.path.join(tmp, 'src')
    classes = ('MEL', 'NV', 'BCC', 'AKIEC', 'BKL', 'DF', 'VASC')
    for split, tag, n in (('Training', 'train', 14), ('Validation', 'val', 7),
                          ('Test', 'test', 7)):
        gt = f'ISIC2018_Task3_{split}_GroundTruth'
        os.makedirs(os.path.join(src, gt))
        with open(os.path.join(src, gt, gt + '.csv'), 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(['image', *classes])
            for i in range(n):
                name = f'ISIC_{tag}{i:03d}'
                _img(os.path.join(src, f'ISIC2018_Task3_{split}_Input', name + '.jpg'), value=i)
                w.writerow([name] + [float(c == i % 7) for c in range(7)])
    out = os.path.join(tmp, 'isic2018_task3')
    _load_module('dataset_converters/isic2018_task3.py').convert(src, out, verbose=False)
    return out, {'train': 14, 'val': 7, 'test': 7}


def _make_aptos2019(tmp):
    src = os.path.join(tmp, 'src')
    with open(os.path.join(tmp, 'train.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['id_code', 'diagnosis'])
        for i in range(20):
            code = f'{i:04d}abcd'
            _img(os.path.join(src, 'train_images', code + '.png'), value=i)
            w.writerow([code, i % 5])
    os.replace(os.path.join(tmp, 'train.csv'), os.path.join(src, 'train.csv'))
    out = os.path.join(tmp, 'aptos2019')
    counts = _load_module('dataset_converters/aptos2019.py').convert(
        src, out, val_ratio=0.25, test_ratio=0.25, verbose=False)
    return out, {s: sum(c) for s, c in counts.items()}


def _make_demo_cls(tmp):
    mdd = _load_module('make_demo_data.py')
    root = mdd.make_cls(tmp, size=32, head=6, imbalance_ratio=3.0, val_per_class=1,
                        test_per_class=1, verbose=False)
    return root, {'train': sum(mdd.long_tail_counts(6, 3.0)), 'val': 7, 'test': 7}


def _make_binary_seg(tmp, kind):
    src = os.path.join(tmp, 'src')
    if kind == 'isic2018_task1':
        for split, n in (('Training', 4), ('Validation', 2), ('Test', 2)):
            for i in range(n):
                name = f'ISIC_{split[:2]}{i:05d}'
                _img(os.path.join(src, f'ISIC2018_Task1-2_{split}_Input', name + '.jpg'),
                     value=i)
                _mask(os.path.join(src, f'ISIC2018_Task1_{split}_GroundTruth',
                                   name + '_segmentation.png'), scale=255)
        out = os.path.join(tmp, kind)
        _load_module('dataset_converters/isic2018_task1.py').convert(src, out, verbose=False)
        return out, {'train': 4, 'val': 2, 'test': 2}
    for i in range(10):
        _img(os.path.join(src, 'images', f'polyp{i}.jpg'), value=i)
        _mask(os.path.join(src, 'masks', f'polyp{i}.jpg'), scale=255)
    out = os.path.join(tmp, kind)
    _load_module('dataset_converters/kvasir_seg.py').convert(src, out, verbose=False)
    return out, {'train': 8, 'val': 1, 'test': 1}


def _make_drive(tmp):
    out = os.path.join(tmp, 'DRIVE')
    for split, n in (('training', 3), ('validation', 2)):
        for i in range(n):
            _img(os.path.join(out, 'images', split, f'{i:02d}.png'), size=(40, 36), value=i)
            _mask(os.path.join(out, 'annotations', split, f'{i:02d}_manual1.png'), (40, 36))
    return out, {'train': 3, 'val': 2, 'test': 2}


def _make_synapse(tmp):
    out = os.path.join(tmp, 'synapse')
    for split, n in (('train', 3), ('val', 2)):
        for i in range(n):
            _img(os.path.join(out, 'img_dir', split, f'case{i:04d}_slice000.jpg'), value=i)
            _mask(os.path.join(out, 'ann_dir', split, f'case{i:04d}_slice000.png'), classes=9)
    return out, {'train': 3, 'val': 2, 'test': 2}


def _make_demo_seg(tmp):
    root = _load_module('make_demo_data.py').make_seg(tmp, size=32, n_train=3, n_val=2,
                                                        n_test=1, verbose=False)
    return root, {'train': 3, 'val': 2, 'test': 1}


MAKERS = {
    'isic2018_task3': _make_isic2018_task3,
    'aptos2019': _make_aptos2019,
    'demo_longtail_cls': _make_demo_cls,
    'isic2018_task1': lambda tmp: _make_binary_seg(tmp, 'isic2018_task1'),
    'kvasir_seg': lambda tmp: _make_binary_seg(tmp, 'kvasir_seg'),
    'drive': _make_drive,
    'synapse': _make_synapse,
    'demo_seg': _make_demo_seg,
}


def _datasets(cfg, data_root):
    """Dataset configs of the train/val/test loaders, unwrapped and pointed at data_root."""
    out = {}
    for split in SPLITS:
        ds = copy.deepcopy(cfg[f'{split}_dataloader']['dataset'])
        while 'dataset' in ds:  # RepeatDataset etc.
            ds = ds['dataset']
        ds['data_root'] = data_root
        out[split] = ds
    return out


# ---------------------------------------------------------------------------- tests
@pytest.mark.parametrize('name', CLS_CONFIGS + SEG_CONFIGS)
def test_config_loads_and_is_cpu_friendly(name):
    if name in ('drive', 'synapse'):
        pytest.importorskip('mmseg')
    cfg = _cfg(name)
    for split in SPLITS:
        loader = cfg[f'{split}_dataloader']
        assert loader['num_workers'] <= 2
        if loader['num_workers'] == 0:
            assert loader['persistent_workers'] is False
        assert loader['sampler']['shuffle'] is (split == 'train')
    assert cfg.val_evaluator and cfg.test_evaluator
    types = [e['type'] for e in cfg.val_evaluator]
    if name in CLS_CONFIGS:
        assert types == ['Accuracy', 'LongTailMetric']
        assert cfg.data_preprocessor['num_classes'] == len(cfg.metainfo['classes'])
    else:
        assert types == ['IoUMetric', 'SegPerClassMetric']
        assert set(cfg.val_evaluator[0]['iou_metrics']) == {'mDice', 'mIoU'}


@pytest.mark.parametrize('name', CLS_CONFIGS)
def test_cls_config_builds_on_tiny_data(name, tmp_path):
    pytest.importorskip('mmpretrain')
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS, METRICS

    import mmloss_plugin  # noqa: F401  (registers LongTailMetric)
    init_default_scope('mmpretrain')
    cfg = _cfg(name)
    data_root, sizes = MAKERS[name](str(tmp_path))
    for split, ds_cfg in _datasets(cfg, data_root).items():
        ds = DATASETS.build(ds_cfg)
        assert len(ds) == sizes[split]
        assert ds.metainfo['classes'] == tuple(cfg.metainfo['classes'])
        sample = ds[0]
        assert sample['inputs'].shape[0] == 3
        if split != 'train':  # the test pipeline gives the configured size (demo: as generated)
            side = 32 if name == 'demo_longtail_cls' else cfg.img_size
            assert tuple(sample['inputs'].shape[1:]) == (side, side)
    for metric in cfg.val_evaluator:
        metric = copy.deepcopy(metric)
        if metric['type'] == 'LongTailMetric':
            metric['train_ann_file'] = os.path.join(data_root, 'meta', 'train.txt')
        built = METRICS.build(metric)
        if metric['type'] == 'LongTailMetric':
            assert built.class_counts.sum() == sizes['train']


@pytest.mark.parametrize('name', SEG_CONFIGS)
def test_seg_config_builds_on_tiny_data(name, tmp_path):
    pytest.importorskip('mmseg')
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS, METRICS

    import mmloss_plugin  # noqa: F401  (registers SegPerClassMetric)
    init_default_scope('mmseg')
    cfg = _cfg(name)
    data_root, sizes = MAKERS[name](str(tmp_path))
    for split, ds_cfg in _datasets(cfg, data_root).items():
        ds_cfg.pop('_scope_', None)
        ds = DATASETS.build(ds_cfg)
        assert len(ds) == sizes[split]
        sample = ds[0]
        seg = sample['data_samples'].gt_sem_seg.data
        assert sample['inputs'].shape[0] == 3 and seg.ndim == 3
        labels = set(np.unique(seg.numpy()).tolist()) - {255}
        assert labels <= set(range(len(ds.metainfo['classes'])))
        if split != 'train':  # (random crops may miss the foreground)
            assert labels - {0}, 'foreground labels should be loaded'
    for metric in cfg.val_evaluator:
        metric = copy.deepcopy(metric)
        metric.pop('_scope_', None)
        METRICS.build(metric)
