"""Every registered plugin loss under mixed precision: bf16 CPU autocast (always) and fp16
CUDA autocast (skipped without a GPU).

The prediction is produced by a layer *inside* autocast, as in training, so it arrives in the
low-precision dtype. Each loss must return a float32, finite value with finite, non-zero
gradients, and equal the loss of the same (upcast) prediction computed without autocast:
the formula runs in float32 whatever the autocast dtype.
"""
from __future__ import annotations

import math
import re
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.registry import MODELS

import mmloss_plugin  # noqa: F401  (registers the losses)
from mmloss_plugin.losses.utils import BaseLoss
from mmloss_plugin.registry import REGISTERED

C = 4
COUNTS = [40, 10, 3, 0]  # includes a zero-count class

#: loss name -> (constructor kwargs, input kinds). 'cls': (N, C) logits; 'seg': (N, C, H, W)
#: logits with ignored (255) pixels; 'sigmoid': (N, 1, H, W) one-channel logits.
SPECS = {
    'WeightedCrossEntropyLoss': (dict(class_weight='inverse', cls_num_list=COUNTS),
                                 ('cls', 'seg')),
    'SoftmaxFocalLoss': (dict(gamma=2.0, class_weight=[1.0, 2.0, 3.0, 4.0]), ('cls', 'seg')),
    'LDAMLoss': (dict(cls_num_list=COUNTS, logit_type='cosine'), ('cls', 'seg')),
    'LMFLoss': (dict(cls_num_list=COUNTS, logit_type='cosine'), ('cls', 'seg')),
    'LogitAdjustedLoss': (dict(cls_num_list=COUNTS), ('cls', 'seg')),
    'SoftDiceLoss': (dict(), ('seg',)),
    'IoULoss': (dict(), ('seg',)),
    'FocalTverskyLoss': (dict(), ('seg',)),
    'GeneralizedDiceLoss': (dict(), ('seg',)),
    'SensitivitySpecificityLoss': (dict(), ('seg',)),
    'LogLoss': (dict(class_weight=[1.0, 3.0]), ('sigmoid',)),
    'CompoundLoss': (dict(losses=[dict(type='SoftDiceLoss'),
                                  dict(type='WeightedCrossEntropyLoss')], weights=[1.0, 0.5]),
                     ('seg',)),
}
REGION = ('SoftDiceLoss', 'IoULoss', 'FocalTverskyLoss', 'GeneralizedDiceLoss',
          'SensitivitySpecificityLoss')
CASES = [(name, kind) for name, (_, kinds) in SPECS.items() for kind in kinds]
# region losses also on one-channel sigmoid outputs (use_sigmoid=True)
CASES += [(name + '[sigmoid]', 'sigmoid') for name in REGION]


def registered_losses():
    names = []
    for name in dict.fromkeys(REGISTERED['models']):
        cls = MODELS.module_dict.get(name)
        if isinstance(cls, type) and issubclass(cls, BaseLoss):
            names.append(name)
    return names


def test_every_registered_loss_is_covered():
    assert set(registered_losses()) == set(SPECS)


def build(case: str) -> nn.Module:
    name = case.split('[')[0]
    kwargs = dict(SPECS[name][0])
    if case.endswith('[sigmoid]'):
        kwargs['use_sigmoid'] = True
    return MODELS.build(dict(type=name, **kwargs))


def make_inputs(kind: str, device: str, scale: float = 1.0):
    """A layer producing the prediction (run it under autocast) and the target."""
    g = torch.Generator().manual_seed(0)
    if kind == 'cls':
        x = torch.randn(6, 8, generator=g)
        layer = nn.Linear(8, C)
        target = torch.tensor([0, 1, 2, 3, 0, 1])
    else:
        channels = 1 if kind == 'sigmoid' else C
        x = torch.randn(2, 3, 5, 6, generator=g)
        layer = nn.Conv2d(3, channels, 1)
        hi = 2 if kind == 'sigmoid' else C
        target = torch.randint(0, hi, (2, 5, 6), generator=g)
        target[0, 0, :3] = 255  # ignored pixels
    with torch.no_grad():
        layer.weight.mul_(scale)
    return x.to(device), layer.to(device), target.to(device)


def check_amp(case: str, kind: str, device: str, dtype: torch.dtype, scale: float = 1.0):
    loss_fn = build(case).to(device)
    x, layer, target = make_inputs(kind, device, scale)
    extra = {} if kind == 'cls' else {'ignore_index': 255}  # as mmseg's decode head passes
    with torch.autocast(device_type=device, dtype=dtype):
        pred = layer(x)
        assert pred.dtype == dtype  # precondition: the prediction is low precision
        loss = loss_fn(pred, target, **extra)
    assert loss.dtype == torch.float32, case
    assert loss.dim() == 0 and torch.isfinite(loss), (case, loss)
    loss.backward()
    grad = layer.weight.grad
    assert grad is not None and torch.isfinite(grad).all(), case
    assert grad.abs().sum() > 0, case
    # same numbers as the float32 computation on the same (upcast) prediction
    reference = loss_fn(pred.detach().float(), target, **extra)
    torch.testing.assert_close(loss.detach(), reference, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('case,kind', CASES, ids=[f'{c}-{k}' for c, k in CASES])
def test_bf16_cpu_autocast(case, kind):
    check_amp(case, kind, 'cpu', torch.bfloat16)


@pytest.mark.parametrize('case,kind', CASES, ids=[f'{c}-{k}' for c, k in CASES])
def test_bf16_cpu_autocast_large_logits(case, kind):
    """Logits in the hundreds (a diverging or very confident model): still finite."""
    check_amp(case, kind, 'cpu', torch.bfloat16, scale=300.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
@pytest.mark.parametrize('case,kind', CASES, ids=[f'{c}-{k}' for c, k in CASES])
@pytest.mark.parametrize('scale', [1.0, 300.0])
def test_fp16_cuda_autocast(case, kind, scale):
    check_amp(case, kind, 'cuda', torch.float16, scale)


# ------------------------------------------------------------- tools/train.py --amp
@pytest.mark.timeout(150)
@pytest.mark.parametrize('device', ['cpu', 'cuda'])
def test_train_amp_on_demo_config(device, workspace, rel):
    """``--amp`` on the bundled LDAM-DRW demo config: bf16 autocast on CPU, fp16
    ``AmpOptimWrapper`` with dynamic loss scaling on a GPU; the run finishes with finite
    losses and the loss state in the checkpoint."""
    if (device == 'cuda') != torch.cuda.is_available():
        pytest.skip('runs on the device this machine has')
    work = workspace / 'work'
    out = rel.run_checked([sys.executable, str(rel.TRAIN), 'child.py', '--work-dir', str(work),
                           '--amp', '--cfg-options', *rel.TINY_CLS_OPTIONS],
                          cwd=workspace, timeout=140)
    assert 'Traceback' not in out
    wrapper = 'AmpOptimWrapper' if device == 'cuda' else 'CPUBf16OptimWrapper'
    probe = torch.load(work / 'probe_rank0.pth', weights_only=False)
    assert probe['optim_wrapper'] == wrapper
    losses = [float(v) for v in re.findall(r'\bloss: ([-+0-9.eE]+|nan|inf)', out)]
    assert losses and all(math.isfinite(v) for v in losses)
    assert probe['final']['head.loss_module']['drw_weight'] is not None
    ckpt = torch.load(work / 'epoch_4.pth', map_location='cpu', weights_only=False)
    assert ckpt['state_dict']['head.loss_module.cls_num'].dtype == torch.float32
