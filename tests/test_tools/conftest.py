"""Fixtures for the tools/ end-to-end tests: tiny generated datasets, configs, a tool runner.

The configs are written by the tests themselves (not taken from the package) and inherit the
libraries' own bases through ``mmpretrain::``/``mmseg::``.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator, List

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / 'tools'

CLS_CONFIG = '''
_base_ = ['mmpretrain::_base_/models/resnet18.py', 'mmpretrain::_base_/default_runtime.py']
model = dict(
    data_preprocessor=dict(num_classes=2, mean=[128.0] * 3, std=[64.0] * 3),
    head=dict(num_classes=2, topk=(1, ),
              loss=dict(_delete_=True, type='WeightedCrossEntropyLoss',
                        class_weight={class_weight!r})))
pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
dataset = dict(type='CustomDataset', data_root={root!r}, ann_file='ann.txt', data_prefix='',
               classes=['a', 'b'], pipeline=pipeline)
train_dataloader = dict(batch_size=2, num_workers=0, dataset=dataset,
                        sampler=dict(type='InfiniteSampler', shuffle=True))
test_dataloader = dict(batch_size=4, num_workers=0, dataset=dataset,
                       sampler=dict(type='DefaultSampler', shuffle=False))
test_evaluator = dict(type='Accuracy', topk=(1, ))
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
train_cfg = dict(type='IterBasedTrainLoop', max_iters={iters})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(by_epoch=False, interval={iters}))
log_processor = dict(by_epoch=False)
'''

SEG_CONFIG = '''
_base_ = ['mmseg::_base_/models/fcn_unet_s5-d16.py', 'mmseg::_base_/default_runtime.py']
{norm}
model = dict(
    data_preprocessor=dict(size=(32, 32)),
    backbone=dict(base_channels=8, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=8, channels=8, num_classes=2, norm_cfg=norm_cfg,
                     loss_decode=[dict(type='WeightedCrossEntropyLoss',
                                       class_weight={class_weight!r})]),
    auxiliary_head={aux},
    test_cfg=dict(_delete_=True, mode='whole'))
pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]
dataset = dict(type='BaseSegDataset', data_root={root!r},
               data_prefix=dict(img_path='img', seg_map_path='ann'),
               img_suffix='.png', seg_map_suffix='.png',
               metainfo=dict(classes=('bg', 'fg'), palette=[[0, 0, 0], [255, 255, 255]]),
               pipeline=pipeline)
train_dataloader = dict(batch_size=2, num_workers=0, dataset=dataset,
                        sampler=dict(type='InfiniteSampler', shuffle=True))
test_dataloader = dict(batch_size=1, num_workers=0, dataset=dataset,
                       sampler=dict(type='DefaultSampler', shuffle=False))
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
train_cfg = dict(type='IterBasedTrainLoop', max_iters={iters})
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval={iters}),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
'''
# The auxiliary head of fcn_unet_s5-d16 (input: UNet stage with 2 * base_channels).
SEG_AUX = ("dict(in_channels=16, channels=8, num_classes=2, norm_cfg=norm_cfg, "
           "loss_decode=[dict(type='WeightedCrossEntropyLoss', loss_weight=0.4)])")


def _png(array: np.ndarray, path: Path) -> None:
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope='session')
def load_tool() -> Iterator[Callable[[str], ModuleType]]:
    """``load_tool('benchmark_losses')``: import ``tools/<name>.py`` as a module (registered
    in ``sys.modules`` while the session runs, as dataclasses need)."""
    loaded: List[str] = []

    def load(name: str) -> ModuleType:
        module_name = f'_tool_{name}'
        if module_name not in sys.modules:
            spec = importlib.util.spec_from_file_location(module_name, TOOLS / f'{name}.py')
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            loaded.append(module_name)
        return sys.modules[module_name]

    yield load
    for module_name in loaded:
        sys.modules.pop(module_name, None)


@pytest.fixture
def cls_config(tmp_path: Path) -> Callable[..., Path]:
    """Factory: 6 RGB 32x32 images of 2 classes + a ResNet-18 config; returns the config."""

    def make(iters: int = 2, class_weight=(1.0, 3.0), name: str = 'cls_cfg.py') -> Path:
        root = tmp_path / 'cls_data'
        rng = np.random.default_rng(0)
        lines = []
        for i in range(6):
            label = int(i >= 4)  # 4 vs 2 images
            img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            _png(img, root / f'{i}.png')
            lines.append(f'{i}.png {label}')
        (root / 'ann.txt').write_text('\n'.join(lines) + '\n')
        cfg = tmp_path / name
        cfg.write_text(CLS_CONFIG.format(root=str(root), iters=iters,
                                         class_weight=list(class_weight)))
        return cfg

    return make


@pytest.fixture
def seg_config(tmp_path: Path) -> Callable[..., Path]:
    """Factory: 4 RGB 32x32 images with PNG masks + a slim UNet config; returns the config.

    ``sync_bn=True`` keeps the base's SyncBN (tools must convert it on CPU); ``aux`` keeps
    the auxiliary head.
    """

    def make(iters: int = 2, sync_bn: bool = False, aux: bool = False,
             class_weight=(1.0, 4.0), name: str = 'seg_cfg.py') -> Path:
        root = tmp_path / 'seg_data'
        rng = np.random.default_rng(0)
        for i in range(4):
            mask = np.zeros((32, 32), np.uint8)
            mask[8:16, 8 + i:16 + i] = 1
            img = (rng.integers(0, 60, (32, 32, 3)) + 150 * mask[..., None]).astype(np.uint8)
            _png(img, root / 'img' / f'{i}.png')
            _png(mask, root / 'ann' / f'{i}.png')
        norm = ("norm_cfg = dict(type='SyncBN', requires_grad=True)" if sync_bn else
                "norm_cfg = dict(type='BN', requires_grad=True)")
        cfg = tmp_path / name
        cfg.write_text(SEG_CONFIG.format(root=str(root), iters=iters, norm=norm,
                                         aux=SEG_AUX if aux else 'None',
                                         class_weight=list(class_weight)))
        return cfg

    return make


@pytest.fixture
def run_tool(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run a command (list) in ``tmp_path``; returns the result, output in ``.stdout``.

    ``check=True`` (default) fails the test with the command's output when it exits non-zero.
    """

    def run(cmd: List[str], check: bool = True, timeout: float = 120) -> \
            subprocess.CompletedProcess:
        env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
                   PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
        proc = subprocess.run(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f'{" ".join(cmd)} exited with {proc.returncode}:\n{proc.stdout[-6000:]}')
        return proc

    return run


@pytest.fixture
def train_cmd() -> Callable[..., List[str]]:
    """``[python, tools/train.py, config, *args]``."""
    return lambda config, *args: [sys.executable, str(TOOLS / 'train.py'), str(config), *args]


@pytest.fixture
def eval_cmd() -> Callable[..., List[str]]:
    """``[python, tools/test.py, config, checkpoint, *args]``."""
    return lambda config, ckpt, *args: [sys.executable, str(TOOLS / 'test.py'), str(config),
                                        str(ckpt), *args]


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
