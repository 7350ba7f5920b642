"""Probe hooks loaded into the training subprocesses of the reliability tests.

Not a test module: the tests put this folder on ``PYTHONPATH`` and add
``custom_imports=dict(imports=['mmloss_plugin', 'probe_hooks'])`` plus
``dict(type='ReliabilityProbeHook')`` to a child config of a bundled demo config.

``ReliabilityProbeHook`` records, per rank, what must agree across ranks and across a
crash + resume: the plugin losses' buffers (class counts, class/DRW weights, margins,
log-priors), the learning rate of every iteration, the schedule position and the model
parameters. It saves them to ``<work_dir>/probe_rank<r>.pth`` after training.

With the environment variable ``PROBE_STALL_AT_ITER=N`` it stops making progress after
iteration ``N`` (1-based): it writes ``<work_dir>/stalled`` and sleeps, so that a test can
SIGKILL the process at a known point in the middle of an epoch.
"""
from __future__ import annotations

import os
import os.path as osp
import time
from typing import Any, Dict

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

#: Loss buffers (persistent or derived) compared by the tests.
BUFFERS = ('cls_num', 'class_weight', 'drw_weight', 'margins', 'log_prior')


def _model(runner: Any) -> torch.nn.Module:
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


def loss_buffers(model: torch.nn.Module) -> Dict[str, Dict[str, Any]]:
    """``{loss module name: {buffer: tensor copy or None}}`` for every plugin loss."""
    from mmloss_plugin.losses.utils import BaseLoss
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, BaseLoss):
            out[name] = {b: (None if getattr(module, b, None) is None
                             else getattr(module, b).detach().cpu().clone())
                         for b in BUFFERS}
    return out


@HOOKS.register_module()
class ReliabilityProbeHook(Hook):
    """Record per-rank loss buffers, LRs and parameters (see the module docstring)."""

    # After ClassCountsHook (ABOVE_NORMAL) and DRWHook (NORMAL), before CheckpointHook.
    priority = 'LOW'

    def __init__(self) -> None:
        self.records: Dict[str, Any] = {'epochs': {}, 'lr': {}}
        stall = os.environ.get('PROBE_STALL_AT_ITER')
        self.stall_at = int(stall) if stall else None

    def before_train_epoch(self, runner: Any) -> None:
        self.records['epochs'][runner.epoch] = loss_buffers(_model(runner))

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        lrs = runner.optim_wrapper.get_lr()['lr']
        self.records['lr'][runner.iter] = float(lrs[0])

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: Any = None) -> None:
        if self.stall_at is not None and runner.iter + 1 == self.stall_at:
            with open(osp.join(runner.work_dir, 'stalled'), 'w') as f:
                f.write(str(runner.iter + 1))
            time.sleep(600)  # the test kills the process meanwhile

    def after_train(self, runner: Any) -> None:
        model = _model(runner)
        self.records.update(
            rank=get_rank(), epoch=runner.epoch, iter=runner.iter,
            optim_wrapper=type(runner.optim_wrapper).__name__,
            final=loss_buffers(model),
            params={k: v.detach().cpu().clone() for k, v in model.named_parameters()})
        torch.save(self.records, osp.join(runner.work_dir, f'probe_rank{get_rank()}.pth'))
