"""End-to-end: tools/train.py then tools/test.py on tiny generated data, one config per toolbox.

Each config inherits the library's own bases (``mmpretrain::``/``mmseg::``) and uses the
plugin's ``WeightedCrossEntropyLoss`` without ``custom_imports`` (tools/train.py imports the
plugin). The trained checkpoint must hold the loss' class-weight buffer with the configured
values, which proves the plugin loss (not the base CrossEntropyLoss) was built.
"""
from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmpretrain')
pytest.importorskip('mmseg')


def _package_dir(name: str) -> Path:
    return Path(importlib.util.find_spec(name).origin).parent


@pytest.mark.parametrize('pkg, base', [
    ('mmpretrain', '_base_/models/resnet18.py'),
    ('mmpretrain', '_base_/default_runtime.py'),
    ('mmseg', '_base_/models/fcn_unet_s5-d16.py'),
    ('mmseg', '_base_/default_runtime.py'),
])
def test_installed_wheels_ship_mim_configs(pkg, base):
    """``pkg::`` bases resolve through ``<pkg>/.mim/configs`` (missing in some installs)."""
    path = _package_dir(pkg) / '.mim' / 'configs' / base
    assert path.is_file(), f'{path} missing: install {pkg} from its wheel, not an editable clone'


def _load(ckpt: Path) -> dict:
    return torch.load(ckpt, map_location='cpu', weights_only=False)


@pytest.mark.timeout(150)
def test_train_and_test_classification(tmp_path, cls_config, run_tool, train_cmd, eval_cmd):
    config = cls_config(iters=2, class_weight=(1.0, 3.0))
    work = tmp_path / 'work'
    out = run_tool(train_cmd(config, '--work-dir', str(work))).stdout
    assert 'Traceback' not in out
    ckpt = work / 'iter_2.pth'
    assert ckpt.is_file(), out[-3000:]
    state = _load(ckpt)
    assert state['meta']['iter'] == 2
    weight = state['state_dict']['head.loss_module.class_weight']
    assert torch.allclose(weight, torch.tensor([1.0, 3.0]))
    assert (work / 'last_checkpoint').read_text().strip().endswith('iter_2.pth')

    preds, vis = tmp_path / 'preds.pkl', tmp_path / 'vis'
    out = run_tool(eval_cmd(config, ckpt, '--work-dir', str(tmp_path / 'eval'),
                            '--out', str(preds), '--show-dir', str(vis))).stdout
    assert 'accuracy/top1' in out
    assert len(list(vis.glob('*.png'))) == 6  # one drawing per image
    with open(preds, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == 6  # one prediction per image of the generated dataset
    assert results[0]['pred_score'].shape == (2, )


@pytest.mark.timeout(150)
def test_train_and_test_segmentation(tmp_path, seg_config, run_tool, train_cmd, eval_cmd):
    config = seg_config(iters=2, class_weight=(1.0, 4.0))
    work = tmp_path / 'work'
    out = run_tool(train_cmd(config, '--work-dir', str(work))).stdout
    assert 'Traceback' not in out
    ckpt = work / 'iter_2.pth'
    assert ckpt.is_file(), out[-3000:]
    state = _load(ckpt)
    assert state['meta']['iter'] == 2
    weight = state['state_dict']['decode_head.loss_decode.0.class_weight']
    assert torch.allclose(weight, torch.tensor([1.0, 4.0]))

    masks, vis = tmp_path / 'masks', tmp_path / 'vis'
    out = run_tool(eval_cmd(config, ckpt, '--work-dir', str(tmp_path / 'eval'),
                            '--out', str(masks), '--show-dir', str(vis))).stdout
    assert 'mIoU' in out
    assert len(list(vis.rglob('*.png'))) == 4  # one drawing per image
    assert sorted(p.name for p in masks.glob('*.png')) == ['0.png', '1.png', '2.png', '3.png']
