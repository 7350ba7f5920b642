"""A training run SIGKILLed in the middle of an epoch and restarted with ``--resume`` ends in
the same state as an uninterrupted run: class counts, DRW weights, LDAM margins, epoch,
iteration and the learning rate of every remaining iteration. The checkpoints hold the loss
buffers (counts and DRW weights), so nothing is recomputed from a possibly changed dataset.

The bundled LDAM-DRW demo config is used unchanged (tiny schedule via --cfg-options): LR drop
and DRW start at epoch 2 of 4; the crash happens two iterations into epoch 3 (0-based), after
the epoch-3 checkpoint, with DRW active."""
from __future__ import annotations

import math
import signal
import subprocess
import sys
import time

import pytest
import torch


def _wait_for(path, proc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f'training exited with {proc.returncode} before {path.name} appeared')
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f'{path.name} did not appear within {timeout} s')
        time.sleep(0.1)


def _buffers_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        for buf, value in a[name].items():
            other = b[name][buf]
            assert (value is None) == (other is None), (name, buf)
            if value is not None:
                assert torch.equal(value, other), (name, buf)


@pytest.mark.timeout(240)
def test_sigkill_then_resume_matches_uninterrupted_run(workspace, rel):
    counts = rel.train_counts(workspace / 'data')
    per_epoch = math.ceil(sum(counts) / 8)  # one process, batch 8
    stall_at = 3 * per_epoch + 2  # 2 iterations into epoch index 3

    def cmd(work, *extra):
        return [sys.executable, str(rel.TRAIN), 'child.py', '--work-dir', str(work), *extra,
                '--cfg-options', *rel.TINY_CLS_OPTIONS]

    ref_dir, crash_dir = workspace / 'ref', workspace / 'crash'
    with open(workspace / 'ref.log', 'w') as ref_log, \
            open(workspace / 'crash.log', 'w') as crash_log:
        # the uninterrupted reference run and the run to be killed, side by side
        ref = subprocess.Popen(cmd(ref_dir), cwd=workspace, env=rel.tool_env(),
                               stdout=ref_log, stderr=subprocess.STDOUT)
        crash = subprocess.Popen(
            cmd(crash_dir), cwd=workspace, stdout=crash_log, stderr=subprocess.STDOUT,
            env=rel.tool_env({'PROBE_STALL_AT_ITER': str(stall_at)}))
        try:
            try:
                _wait_for(crash_dir / 'stalled', crash, timeout=150)
                crash.send_signal(signal.SIGKILL)
                assert crash.wait(timeout=30) == -signal.SIGKILL
            finally:
                if crash.poll() is None:
                    crash.kill()

            # what the crash left: checkpoints up to epoch 3, holding the loss buffers
            assert not (crash_dir / 'epoch_4.pth').exists()
            assert not list(crash_dir.glob('probe_rank*.pth'))
            assert (crash_dir / 'last_checkpoint').read_text().strip().endswith('epoch_3.pth')
            ckpt3 = torch.load(crash_dir / 'epoch_3.pth', map_location='cpu',
                               weights_only=False)
            assert (ckpt3['meta']['epoch'], ckpt3['meta']['iter']) == (3, 3 * per_epoch)
            assert ckpt3['state_dict']['head.loss_module.cls_num'].tolist() == counts
            assert ckpt3['state_dict']['head.loss_module.drw_weight'] is not None

            # restart: latest checkpoint of the work dir
            out = rel.run_checked(cmd(crash_dir, '--resume'), cwd=workspace, timeout=150)
            assert ref.wait(timeout=150) == 0, (workspace / 'ref.log').read_text()[-4000:]
        finally:
            if ref.poll() is None:
                ref.kill()

    assert 'Traceback' not in out
    assert 'resumed' in out.lower()
    # the counts came from the checkpoint, not from re-reading the dataset
    assert 'every plugin loss already has class counts' in out
    assert f'Epoch(train) [4][1/{per_epoch}]' in out
    assert f'Epoch(train) [3][1/{per_epoch}]' not in out

    ref_probe = torch.load(ref_dir / 'probe_rank0.pth', weights_only=False)
    res_probe = torch.load(crash_dir / 'probe_rank0.pth', weights_only=False)
    total = 4 * per_epoch
    assert (res_probe['epoch'], res_probe['iter']) == (ref_probe['epoch'], ref_probe['iter'])
    assert ref_probe['iter'] == total
    _buffers_equal(res_probe['final'], ref_probe['final'])
    assert res_probe['final']['head.loss_module']['drw_weight'] is not None
    # the resumed process ran exactly epoch 3 (iterations 15..19) with the same LRs
    assert sorted(res_probe['lr']) == list(range(3 * per_epoch, total))
    assert res_probe['lr'] == {i: ref_probe['lr'][i] for i in res_probe['lr']}
    assert sorted(res_probe['epochs']) == [3]
    _buffers_equal(res_probe['epochs'][3], ref_probe['epochs'][3])

    # final checkpoints: schedule position and loss buffers agree
    ref_ckpt = torch.load(ref_dir / 'epoch_4.pth', map_location='cpu', weights_only=False)
    res_ckpt = torch.load(crash_dir / 'epoch_4.pth', map_location='cpu', weights_only=False)
    for key in ('epoch', 'iter'):
        assert res_ckpt['meta'][key] == ref_ckpt['meta'][key]
    assert res_ckpt['param_schedulers'] == ref_ckpt['param_schedulers']
    lrs = [[g['lr'] for g in c['optimizer']['param_groups']] for c in (res_ckpt, ref_ckpt)]
    assert lrs[0] == lrs[1]
    for buf in ('cls_num', 'drw_weight'):
        key = f'head.loss_module.{buf}'
        assert torch.equal(res_ckpt['state_dict'][key], ref_ckpt['state_dict'][key])
