"""Two CPU processes (torchrun via tools/dist_train.sh, gloo) train the bundled LDAM-DRW demo
config; class counts, LDAM margins and DRW weights must be identical on every rank and equal
to the values computed here from the dataset's counts by the papers' formulas."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

BETA = 0.9999  # DRWHook beta of the bundled config
MAX_M = 0.5  # LDAMLoss max_m of the bundled config


def expected_state(counts):
    """LDAM margins (Cao et al. 2019) and class-balanced DRW weights (Cui et al. 2019)."""
    n = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    inv = n ** -0.25
    margins = MAX_M * inv / inv.max()
    w = (1.0 - BETA) / (1.0 - BETA ** n)
    return margins, w * len(n) / w.sum()


@pytest.mark.timeout(180)
@pytest.mark.skipif(torch.cuda.is_available() and torch.cuda.device_count() < 2,
                    reason='2-process DDP needs 2 GPUs when CUDA is present')
def test_dist_train_two_ranks_agree(workspace, rel, free_port):
    work = workspace / 'work'
    env = rel.tool_env({'PORT': str(free_port), 'PYTHON': sys.executable})
    out = rel.run_checked(['bash', str(rel.REPO / 'tools' / 'dist_train.sh'), 'child.py', '2',
                           '--work-dir', str(work), '--cfg-options', *rel.TINY_CLS_OPTIONS],
                          cwd=workspace, env=env, timeout=170)
    assert 'Traceback' not in out
    if not torch.cuda.is_available():
        assert 'world size 2' in out

    ranks = [torch.load(work / f'probe_rank{r}.pth', weights_only=False) for r in (0, 1)]
    assert [r['rank'] for r in ranks] == [0, 1]
    counts = rel.train_counts(workspace / 'data')
    margins, drw = expected_state(counts)
    # 2 ranks share the (padded) training set; batch 8; 4 epochs
    iters = 4 * math.ceil(math.ceil(sum(counts) / 2) / 8)

    for r in ranks:
        assert r['iter'] == iters and r['epoch'] == 4
        loss = r['final']['head.loss_module']
        np.testing.assert_array_equal(loss['cls_num'].numpy(), counts)
        np.testing.assert_allclose(loss['margins'].numpy(), margins, rtol=1e-6)
        np.testing.assert_allclose(loss['drw_weight'].numpy(), drw, rtol=1e-5)
        # DRW switched on at epoch 2, within the run, on both ranks
        for epoch in (0, 1):
            assert r['epochs'][epoch]['head.loss_module']['drw_weight'] is None
        for epoch in (2, 3):
            np.testing.assert_allclose(
                r['epochs'][epoch]['head.loss_module']['drw_weight'].numpy(), drw, rtol=1e-5)

    # bit-identical across ranks: every loss buffer at every epoch, LRs, parameters
    a, b = ranks
    for key in ('epochs', 'final'):
        snaps_a = a[key] if key == 'epochs' else {'end': a[key]}
        snaps_b = b[key] if key == 'epochs' else {'end': b[key]}
        assert snaps_a.keys() == snaps_b.keys()
        for when in snaps_a:
            for name, bufs in snaps_a[when].items():
                for buf, value in bufs.items():
                    other = snaps_b[when][name][buf]
                    assert (value is None) == (other is None), (when, name, buf)
                    if value is not None:
                        assert torch.equal(value, other), (when, name, buf)
    assert a['lr'] == b['lr'] and len(a['lr']) == iters
    assert a['params'].keys() == b['params'].keys()
    for name, value in a['params'].items():
        assert torch.equal(value, b['params'][name]), name
    # the checkpoint (written by rank 0) holds the loss state too
    ckpt = torch.load(work / 'epoch_4.pth', map_location='cpu', weights_only=False)
    sd = ckpt['state_dict']
    torch.testing.assert_close(sd['head.loss_module.cls_num'], a['final']['head.loss_module']
                               ['cls_num'])
    torch.testing.assert_close(sd['head.loss_module.drw_weight'],
                               a['final']['head.loss_module']['drw_weight'])


@pytest.mark.timeout(180)
@pytest.mark.skipif(torch.cuda.is_available() and torch.cuda.device_count() < 2,
                    reason='2-process DDP needs 2 GPUs when CUDA is present')
def test_dist_train_sam_ranks_agree(workspace, rel, free_port):
    """SAMHook under DDP: both passes synchronise gradients, so both ranks perturb and step
    identically and end with bit-identical parameters."""
    (workspace / 'child_sam.py').write_text(
        "_base_ = ['child.py']\n"
        "custom_hooks = _base_.custom_hooks + [dict(type='SAMHook', rho=0.5, start=2)]\n")
    work = workspace / 'work_sam'
    env = rel.tool_env({'PORT': str(free_port), 'PYTHON': sys.executable})
    out = rel.run_checked(['bash', str(rel.REPO / 'tools' / 'dist_train.sh'), 'child_sam.py',
                           '2', '--work-dir', str(work), '--cfg-options',
                           *rel.TINY_CLS_OPTIONS], cwd=workspace, env=env, timeout=170)
    assert 'Traceback' not in out
    assert 'SAMHook: sharpness-aware minimisation (rho=0.5) from epoch 2' in out
    assert 'loss_sam' in out  # logged from the SAM epochs on
    a, b = [torch.load(work / f'probe_rank{r}.pth', weights_only=False) for r in (0, 1)]
    assert a['epoch'] == b['epoch'] == 4
    assert a['params'].keys() == b['params'].keys()
    for name, value in a['params'].items():
        assert torch.equal(value, b['params'][name]), name
