"""Every bundled method config under ``configs/`` (``_base_`` excluded) loads with
``Config.fromfile``, follows the project's conventions, and builds and trains 2 iterations
(plus one validation pass with its own evaluators) on tiny generated data.

The configs are shrunk in memory only where a full-size run would be needed: data roots point
at generated 32x32 images, image sizes in the pipelines become 32, batch size covers the tiny
training split, ``num_workers=0``, no pretrained download, no checkpoint saving. Model, losses,
heads, hooks, optimiser, schedulers and evaluators are the bundled ones. Two demo configs are
also run through ``tools/train.py`` with ``--cfg-options``.
"""
from __future__ import annotations

import copy
import inspect
import math
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pytest
import torch

pytest.importorskip('mmpretrain')
pytest.importorskip('mmseg')
from mmengine.config import Config, ConfigDict  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from PIL import Image  # noqa: E402

import mmloss_plugin  # noqa: E402,F401
from mmloss_plugin.losses.utils import BaseLoss  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CONFIG_ROOT = REPO / 'configs'
CONFIGS = sorted(p for p in CONFIG_ROOT.rglob('*.py')
                 if '_base_' not in p.relative_to(CONFIG_ROOT).parts)
IDS = [str(p.relative_to(CONFIG_ROOT)) for p in CONFIGS]
TINY = 32  # image side of the generated data (UNet needs a multiple of 16)

#: config folder -> method token in the file name
METHOD_TOKENS = {
    'classification/ce': 'ce', 'classification/focal': 'focal',
    'classification/ldam_drw': 'ldam-drw', 'classification/lmf': 'lmf',
    'classification/logit_adjustment': 'logit-adj',
    'segmentation/ce': 'ce', 'segmentation/ce_dice': 'ce-dice', 'segmentation/dice': 'dice',
    'segmentation/focal_tversky': 'focal-tversky',
    'segmentation/generalized_dice': 'generalized-dice',
}
#: <model>_<method>_<gpus>xb<batch>-<schedule>_<dataset>.py
NAME_RE = re.compile(r'^(?P<model>[a-z0-9-]+)_(?P<method>[a-z-]+)_(?P<gpus>\d+)xb(?P<batch>\d+)'
                     r'-(?P<sched>\d+(?:e|k|it))_(?P<data>[a-z0-9-]+(?:-\d+x\d+)?)\.py$')
COUNT_LOSSES = ('LDAMLoss', 'LMFLoss', 'LogitAdjustedLoss')
SEG_BN_PARTS = ('backbone', 'decode_head', 'auxiliary_head')


def _task(path: Path) -> str:
    return path.relative_to(CONFIG_ROOT).parts[0]


_LOADED: Dict[Path, Config] = {}


def _load(path: Path) -> Config:
    """``Config.fromfile`` once per file (each ``pkg::`` base costs mmengine ~0.3 s of
    metafile parsing); callers get their own deep copy."""
    if path not in _LOADED:
        _LOADED[path] = Config.fromfile(str(path))
    return copy.deepcopy(_LOADED[path])


def _hook_types(cfg: Config) -> List[str]:
    return [h['type'] for h in cfg.get('custom_hooks', None) or []]


def _inner_datasets(loader: dict) -> Iterator[dict]:
    """The dataset config of a loader and every dataset it wraps (RepeatDataset, ...)."""
    ds = loader['dataset']
    while True:
        yield ds
        if 'dataset' not in ds:
            return
        ds = ds['dataset']


def _leaf_dataset(loader: dict) -> dict:
    return list(_inner_datasets(loader))[-1]


def _seg_num_classes(cfg: Config) -> int:
    ds = _leaf_dataset(cfg.train_dataloader)
    classes = (ds.get('metainfo') or {}).get('classes')
    if classes is None:
        from mmseg.registry import DATASETS
        classes = DATASETS.get(ds['type']).METAINFO['classes']
    return len(classes)


def _loss_cfgs(cfg: Config) -> List[dict]:
    """The loss configs of the classification head, or of the decode and auxiliary heads."""
    if 'head' in cfg.model:
        return [cfg.model.head.loss]
    losses = []
    for part in ('decode_head', 'auxiliary_head'):
        decode = cfg.model[part].loss_decode
        losses.extend(decode if isinstance(decode, (list, tuple)) else [decode])
    return losses


# ============================================================================ static checks
def test_every_method_has_a_config_per_dataset():
    """The method x dataset matrix of issue 5."""
    cls_data = {'isic2018-task3', 'aptos2019', 'demo-cls'}
    seg_data = {'drive-64x64', 'isic2018-task1-256x256', 'kvasir-256x256', 'synapse-224x224',
                'demo-seg-64x64'}
    multi_class = {'synapse-224x224', 'demo-seg-64x64'}
    found: Dict[str, set] = {folder: set() for folder in METHOD_TOKENS}
    for path in CONFIGS:
        folder = str(path.parent.relative_to(CONFIG_ROOT))
        assert folder in found, f'unexpected config folder {folder}'
        m = NAME_RE.match(path.name)
        assert m, path.name
        found[folder].add(m['data'])
    for folder, datasets in found.items():
        if folder.startswith('classification/'):
            assert datasets == cls_data, folder
        elif folder == 'segmentation/generalized_dice':
            assert datasets == multi_class, folder
        else:
            assert datasets == seg_data, folder


@pytest.mark.parametrize('folder', sorted(METHOD_TOKENS))
def test_method_folder_readme_lists_its_configs(folder):
    readme = CONFIG_ROOT / folder / 'README.md'
    assert readme.is_file(), f'{folder} has no README.md'
    text = readme.read_text()
    for path in (CONFIG_ROOT / folder).glob('*.py'):
        assert path.name in text, f'{readme} does not list {path.name}'


@pytest.mark.parametrize('path', CONFIGS, ids=IDS)
def test_config_conventions(path: Path):
    cfg = _load(path)
    task = _task(path)
    folder = str(path.parent.relative_to(CONFIG_ROOT))

    # the plugin is imported by the config itself (mim / the libraries' own train.py)
    assert 'mmloss_plugin' in cfg.custom_imports.imports
    assert cfg.custom_imports.allow_failed_imports is False
    assert cfg.default_scope == {'classification': 'mmpretrain',
                                 'segmentation': 'mmseg'}[task]

    # OpenMMLab file name, consistent with the config's content
    m = NAME_RE.match(path.name)
    assert m, f'{path.name} does not follow <model>_<method>_<N>xb<B>-<schedule>_<dataset>.py'
    assert m['method'] == METHOD_TOKENS[folder]
    assert m['gpus'] == '1'
    assert int(m['batch']) == cfg.train_dataloader.batch_size
    # CPU-friendly loaders (raise on a GPU machine with --cfg-options)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key].num_workers <= 2, key
    sched = m['sched']
    if sched.endswith('e'):
        assert cfg.train_cfg.by_epoch and cfg.train_cfg.max_epochs == int(sched[:-1])
    elif sched.endswith('k'):
        assert cfg.train_cfg.max_iters == 1000 * int(sched[:-1])
    else:
        assert cfg.train_cfg.max_iters == int(sched[:-2])

    if task == 'classification':
        _check_cls_config(cfg, m['model'])
    else:
        _check_seg_config(cfg)


def _check_cls_config(cfg: Config, model_token: str) -> None:
    head = cfg.model.head
    classes = _leaf_dataset(cfg.train_dataloader).metainfo.classes
    assert head.num_classes == len(classes) == cfg.data_preprocessor.num_classes
    assert tuple(head.topk) == (1,)
    loss_type = head.loss.type
    if loss_type in ('LDAMLoss', 'LMFLoss'):
        # cosine classifier; the loss applies its own scale s
        assert head.type == 'NormedLinearClsHead' and head.get('scale', 1.0) == 1.0
    hooks = _hook_types(cfg)
    if loss_type in COUNT_LOSSES and head.loss.get('cls_num_list') is None:
        assert 'ClassCountsHook' in hooks
    if 'DRWHook' in hooks:
        assert hooks.index('ClassCountsHook') < hooks.index('DRWHook')
        drw = next(h for h in cfg.custom_hooks if h['type'] == 'DRWHook')
        milestones = [s for s in cfg.param_scheduler if s['type'] == 'MultiStepLR'][0]
        # DRW starts with the first LR drop, at ~80 % of the schedule
        assert drw.start == milestones.milestones[0]
        assert 0.7 <= drw.start / cfg.train_cfg.max_epochs <= 0.9
        assert drw.get('by_epoch', True) is True and cfg.train_cfg.by_epoch
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        types = [e['type'] for e in evaluator]
        assert 'LongTailMetric' in types and 'Accuracy' in types
    init = cfg.model.backbone.get('init_cfg')
    if model_token == 'resnet50':  # ISIC / APTOS: ImageNet-pretrained, overridable
        assert init.type == 'Pretrained' and init.prefix == 'backbone'
        assert init.checkpoint.startswith('https://download.openmmlab.com/')
    else:  # demo: from scratch
        assert init is None


def _check_seg_config(cfg: Config) -> None:
    model = cfg.model
    for part in SEG_BN_PARTS:
        assert model[part].norm_cfg.type == 'BN', part
    n = _seg_num_classes(cfg)
    assert model.decode_head.num_classes == model.auxiliary_head.num_classes == n
    if any(loss.type == 'GeneralizedDiceLoss' for loss in _loss_cfgs(cfg)):
        assert n > 2, 'GeneralizedDiceLoss configs are for the multi-class datasets'
    # the auxiliary head trains with the decode head's losses, scaled by aux_weight
    decode, aux = model.decode_head.loss_decode, model.auxiliary_head.loss_decode
    assert [loss.type for loss in aux] == [loss.type for loss in decode]
    assert [loss.loss_weight for loss in aux] == pytest.approx(
        [cfg.aux_weight * loss.loss_weight for loss in decode])
    size = tuple(model.data_preprocessor.size)
    test_cfg = model.test_cfg
    assert test_cfg.mode in ('whole', 'slide')
    if test_cfg.mode == 'slide':
        assert tuple(test_cfg.crop_size) == size
    else:
        assert set(test_cfg) == {'mode'}
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        by_type = {e['type']: e for e in evaluator}
        assert set(by_type) == {'IoUMetric', 'SegPerClassMetric'}
        assert {'mDice', 'mIoU'} <= set(by_type['IoUMetric'].iou_metrics)


# ======================================================================= tiny generated data
def _dataset_default(ds: dict, arg: str) -> Any:
    if arg in ds:
        return ds[arg]
    from mmseg.registry import DATASETS
    cls = DATASETS.get(ds['type'])
    for klass in cls.__mro__:
        params = inspect.signature(klass.__init__).parameters
        if arg in params and params[arg].default is not inspect.Parameter.empty:
            return params[arg].default
    raise KeyError(arg)


def _save_image(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)  # JPEG or PNG after the suffix


class TinyData:
    """Generates (and caches) tiny datasets laid out as a config's dataloaders expect."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: Dict[tuple, Tuple[Path, list]] = {}

    def classification(self, cfg: Config) -> Tuple[Path, List[int]]:
        """Train split with every class (class 0 twice), val/test splits with 2 images."""
        n = len(_leaf_dataset(cfg.train_dataloader).metainfo.classes)
        splits = {key: _leaf_dataset(cfg[key]).ann_file
                  for key in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
        key = ('cls', n, tuple(sorted(splits.items())))
        if key not in self.cache:
            root = self.root / f'cls{len(self.cache)}'
            rng = np.random.default_rng(len(self.cache))
            labels = {'train_dataloader': [0] + list(range(n)),
                      'val_dataloader': [0, n - 1], 'test_dataloader': [0, n - 1]}
            for loader, ann_file in splits.items():
                lines = []
                for i, label in enumerate(labels[loader]):
                    img = rng.integers(0, 80, (TINY, TINY, 3), dtype=np.uint8)
                    img[..., label % 3] += 120
                    name = f'img/{Path(ann_file).stem}_{i}.png'
                    _save_image(root / name, img)
                    lines.append(f'{name} {label}\n')
                (root / ann_file).parent.mkdir(parents=True, exist_ok=True)
                (root / ann_file).write_text(''.join(lines))
            counts = np.bincount(labels['train_dataloader'], minlength=n).tolist()
            self.cache[key] = (root, counts)
        return self.cache[key]

    def segmentation(self, cfg: Config) -> Path:
        """4 training and 2 validation image/mask pairs with the dataset's folders and
        suffixes; masks hold every class of the config."""
        n = _seg_num_classes(cfg)
        layout = []
        for key, count in (('train_dataloader', 4), ('val_dataloader', 2),
                           ('test_dataloader', 2)):
            ds = _leaf_dataset(cfg[key])
            prefix = ds.get('data_prefix') or {}
            layout.append((count, prefix.get('img_path', ''), prefix.get('seg_map_path', ''),
                           _dataset_default(ds, 'img_suffix'),
                           _dataset_default(ds, 'seg_map_suffix')))
        key = ('seg', n, tuple(layout))
        if key not in self.cache:
            root = self.root / f'seg{len(self.cache)}'
            rng = np.random.default_rng(len(self.cache))
            for count, img_dir, ann_dir, img_suffix, seg_suffix in layout:
                for i in range(count):
                    mask = rng.integers(0, n, (TINY, TINY), dtype=np.uint8)
                    img = rng.integers(0, 60, (TINY, TINY, 3), dtype=np.uint8)
                    img += (mask * (150 // n))[..., None].astype(np.uint8)
                    _save_image(root / img_dir / f'{i}{img_suffix}', img)
                    _save_image(root / ann_dir / f'{i}{seg_suffix}', mask)
            self.cache[key] = (root, None)
        return self.cache[key][0]


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory) -> TinyData:
    return TinyData(tmp_path_factory.mktemp('tiny_config_data'))


@pytest.fixture(scope='module')
def one_thread():
    """Tiny convolutions run faster on one thread (and much faster on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def quiet_runner(monkeypatch, one_thread):
    """Skip the Runner's environment report and config dump (~1.3 s per Runner, nothing to
    do with the config under test; the CLI tests below keep both)."""
    monkeypatch.setattr(Runner, '_log_env', lambda self, *args, **kwargs: None, raising=False)
    monkeypatch.setattr(Runner, 'dump_config', lambda self: None, raising=False)


# ================================================================= shrinking a config in memory
#: transform type -> the argument holding its output size
SIZE_ARGS = {'RandomResizedCrop': 'scale', 'ResizeEdge': 'scale', 'CenterCrop': 'crop_size',
             'Resize': 'scale', 'RandomResize': 'scale', 'RandomCrop': 'crop_size'}


def _shrink_pipeline(pipeline: Sequence[dict]) -> None:
    for transform in pipeline:
        arg = SIZE_ARGS.get(transform['type'])
        if arg is not None and arg in transform:
            transform[arg] = TINY if isinstance(transform[arg], int) else (TINY, TINY)


def _shrink(cfg: Config, tmp_path: Path, data_root: Path, batch_size: int) -> None:
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.batch_size = batch_size if key == 'train_dataloader' else 1
        for ds in _inner_datasets(loader):
            if 'data_root' in ds or 'pipeline' in ds:
                ds.data_root = str(data_root)
            if 'pipeline' in ds:
                _shrink_pipeline(ds.pipeline)
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        for metric in evaluator:
            if metric['type'] == 'LongTailMetric' and metric.get('train_ann_file'):
                ann = _leaf_dataset(cfg.train_dataloader).ann_file
                metric['train_ann_file'] = str(data_root / ann)
    preprocessor = cfg.model.get('data_preprocessor') or {}
    if preprocessor.get('size') is not None:  # mmseg pads every batch to this size
        preprocessor['size'] = (TINY, TINY)
    cfg.model.backbone.init_cfg = None  # no checkpoint download
    cfg.load_from = None
    cfg.default_hooks.checkpoint = None  # no checkpoint writing
    cfg.default_hooks.logger = ConfigDict(type='LoggerHook', interval=1)
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = f'cfgtest_{uuid.uuid4().hex[:10]}'
    cfg.visualizer.name = cfg.experiment_name
    cfg.log_level = 'WARNING'
    cfg.env_cfg.dist_cfg = ConfigDict(backend='gloo')


class Probe(Hook):
    """Records the training losses and the validation metrics."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.losses: List[float] = []
        self.metrics: Optional[Dict[str, float]] = None

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(float(outputs['loss']))

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = dict(metrics or {})


def _plugin_losses(model: torch.nn.Module) -> List[BaseLoss]:
    return [m for m in model.modules() if isinstance(m, BaseLoss)]


# ============================================================================= 2-iteration runs
@pytest.mark.parametrize('path', CONFIGS, ids=IDS)
def test_config_trains_two_iterations(path: Path, tiny_data: TinyData, tmp_path: Path,
                                      quiet_runner):
    torch.manual_seed(0)
    cfg = _load(path)
    task = _task(path)
    drw_start = None
    if task == 'classification':
        data_root, counts = tiny_data.classification(cfg)
        # the whole training split in one batch: 1 iteration per epoch, 2 epochs
        _shrink(cfg, tmp_path, data_root, batch_size=sum(counts))
        cfg.train_cfg.max_epochs = 2
        cfg.train_cfg.val_interval = 2
        for hook in cfg.get('custom_hooks', None) or []:
            if hook['type'] == 'DRWHook':
                hook['start'] = drw_start = 1  # re-weighted second iteration
    else:
        data_root, counts = tiny_data.segmentation(cfg), None
        _shrink(cfg, tmp_path, data_root, batch_size=2)
        cfg.train_cfg.max_iters = 2
        cfg.train_cfg.val_interval = 2

    runner = Runner.from_cfg(cfg)
    probe = Probe()
    runner.register_hook(probe)
    runner.train()

    assert len(probe.losses) == 2 and all(math.isfinite(v) for v in probe.losses)
    model = runner.model
    expected = [c['type'] for c in _loss_cfgs(cfg)]
    if task == 'classification':
        built = [type(model.head.loss_module).__name__]
    else:
        built = [type(m).__name__ for part in (model.decode_head, model.auxiliary_head)
                 for m in (part.loss_decode if isinstance(part.loss_decode, torch.nn.ModuleList)
                           else [part.loss_decode])]
    assert built == expected

    if 'ClassCountsHook' in _hook_types(cfg):
        losses = _plugin_losses(model)
        assert losses
        for loss in losses:  # counts of the (tiny) training split, from ClassCountsHook
            assert loss.cls_num.tolist() == counts
    if drw_start is not None:
        for loss in _plugin_losses(model):
            assert loss.drw_weight is not None  # DRWHook switched on at epoch 1

    metrics = probe.metrics
    assert metrics, 'validation did not run'
    if task == 'classification':
        wanted = {'accuracy/top1', 'longtail/balanced_accuracy', 'longtail/few_shot_acc'}
    else:
        wanted = {'mDice', 'mIoU', 'seg/mDice'}
    assert wanted <= set(metrics), sorted(metrics)


# ============================================================================= the CLI, once each
CLI_CASES = [
    ('classification/ldam_drw/resnet18-w16_ldam-drw_1xb64-30e_demo-cls.py',
     ['train_cfg.max_epochs=2', 'train_cfg.val_interval=2', 'custom_hooks.1.start=1'],
     ['ClassCountsHook: image counts of the training dataset = [2, 1, 1, 1, 1, 1, 1]',
      'DRWHook: deferred re-weighting on from epoch 1', 'longtail/balanced_accuracy']),
    ('segmentation/ce_dice/unet-s5-d16-w16_ce-dice_1xb8-500it_demo-seg-64x64.py',
     ['train_cfg.max_iters=2', 'train_cfg.val_interval=2'],
     ['decode.loss_dice', 'mDice', 'seg/mDice']),
]


@pytest.mark.parametrize('rel,options,expected', CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_demo_config_trains_through_cli(rel, options, expected, tiny_data, tmp_path):
    path = CONFIG_ROOT / rel
    assert path.is_file()
    cfg = _load(path)
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    if _task(path) == 'classification':
        root, counts = tiny_data.classification(cfg)
        options = options + [f'train_dataloader.batch_size={sum(counts)}',
                             f'val_evaluator.1.train_ann_file={root}/meta/train.txt']
    else:
        root = tiny_data.segmentation(cfg)
        options = options + ['train_dataloader.batch_size=2']
    options += [f'{key}.dataset.data_root={root}' for key in loaders]
    options += ['default_hooks.checkpoint=None', 'default_hooks.logger.interval=1']
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'train.py'), str(path),
         '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for text in expected:
        assert text in out, f'{text!r} not in the log:\n{out[-4000:]}'
