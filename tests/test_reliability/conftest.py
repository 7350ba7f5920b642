"""Fixtures of the reliability tests: tiny demo data, child configs of the bundled demo
configs that add the probe hook, and a subprocess runner with a clean, single-threaded env.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TRAIN = REPO / 'tools' / 'train.py'
LDAM_DRW_DEMO = REPO / 'configs/classification/ldam_drw/resnet18-w16_ldam-drw_1xb64-30e_demo-cls.py'

#: --cfg-options that shrink a bundled demo classification config to a few-second run:
#: 4 epochs, LR warm-up over epoch 0, LR drop and DRW start at epoch 2, a checkpoint per epoch.
TINY_CLS_OPTIONS = [
    'train_cfg.max_epochs=4', 'train_dataloader.batch_size=8', 'param_scheduler.0.end=1',
    'param_scheduler.1.milestones=[2]', 'custom_hooks.1.start=2',
    'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1',
]

CHILD_CONFIG = '''\
# Bundled config unchanged, plus the probe hook of tests/test_reliability/probe_hooks.py.
_base_ = [{base!r}]
custom_imports = dict(imports=['mmloss_plugin', 'probe_hooks'], allow_failed_imports=False)
custom_hooks = _base_.custom_hooks + [dict(type='ReliabilityProbeHook')]
'''

@pytest.fixture(scope='session')
def demo_cls_root(tmp_path_factory) -> Path:
    """A tiny demo classification set (37 train images of 32x32, 7 classes, 1 val/test each)
    written by tools/make_demo_data.py; returns the folder that holds ``demo_cls``."""
    out = tmp_path_factory.mktemp('demo_data')
    subprocess.run([sys.executable, str(REPO / 'tools' / 'make_demo_data.py'), '--only', 'cls',
                    '--out', str(out), '--train-head', '24', '--cls-size', '32',
                    '--val-per-class', '1', '--test-per-class', '1', '--quiet'],
                   check=True, timeout=120)
    return out


def train_counts(demo_root: Path) -> List[int]:
    """The training counts written by make_demo_data (independent of the plugin)."""
    meta = json.loads((demo_root / 'demo_cls' / 'meta' / 'class_counts.json').read_text())
    return meta['cls_num_list']


@pytest.fixture
def workspace(tmp_path: Path, demo_cls_root: Path) -> Path:
    """``tmp_path`` with ``data -> <demo data>`` (the demo configs use ``data/demo_cls``)
    and ``child.py``: the LDAM-DRW demo config plus the probe hook."""
    pytest.importorskip('mmpretrain')
    (tmp_path / 'data').symlink_to(demo_cls_root, target_is_directory=True)
    (tmp_path / 'child.py').write_text(CHILD_CONFIG.format(base=str(LDAM_DRW_DEMO)))
    return tmp_path


def tool_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(p for p in (str(REPO), str(HERE),
                                                    os.environ.get('PYTHONPATH', '')) if p)
    env.pop('PROBE_STALL_AT_ITER', None)
    env.update(extra or {})
    return env


def run_checked(cmd: List[str], cwd: Path, timeout: float = 120,
                env: Optional[Dict[str, str]] = None) -> str:
    """Run ``cmd``; fail the test with the tail of its output when it exits non-zero.

    The command runs in its own process group, killed as a whole on timeout (torchrun's
    workers included).
    """
    proc = subprocess.Popen(cmd, cwd=cwd, env=env or tool_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f'{" ".join(map(str, cmd))} timed out after {timeout} s:\n{out[-6000:]}')
    if proc.returncode != 0:
        pytest.fail(f'{" ".join(map(str, cmd))} exited with {proc.returncode}:\n{out[-6000:]}')
    return out


@pytest.fixture
def rel() -> SimpleNamespace:
    """Helpers and constants for the test modules (importing conftest is not possible)."""
    return SimpleNamespace(REPO=REPO, TRAIN=TRAIN, LDAM_DRW_DEMO=LDAM_DRW_DEMO,
                           TINY_CLS_OPTIONS=list(TINY_CLS_OPTIONS), tool_env=tool_env,
                           run_checked=run_checked, train_counts=train_counts)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
