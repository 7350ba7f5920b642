#!/usr/bin/env python
"""Where the time of a ``fused_kernel=True`` region loss goes (CPU or GPU), as a small table.

Four measurements back the "Loss speed" notes in ``docs/benchmarks.md``:

* **Cost of one exponential inside a compiled kernel.** One compiled kernel evaluates ``K``
  exponentials per element of a float32 vector, a second one the same expression with
  multiply-adds instead; the difference divided by ``K`` is what one vectorised ``exp`` costs
  per pass over the vector. It is printed next to eager ``torch.exp`` (one memory-bound
  pass) and an eager add (the memory bandwidth floor).
* **Split of one ``SoftDiceLoss(fused_kernel=True)`` step.** Forward and backward of the loss
  against the two compiled kernels alone (the rest is label and finite checks, the autograd
  wrapper and call overhead), and the eager path for comparison.

* **Label dtype read by the kernels.** The label map converted once to float32
  (``fused_stats.LABEL_DTYPE``, the default), to int32, or left int64, then the forward and
  backward kernels on it, timed round-robin.
* **What a one-channel sigmoid Dice step cannot avoid** (``--sigmoid-shape``). A soft Dice
  gradient depends on sums over the whole image, so a step makes one pass over the logits
  and labels for the sums and a second one to write the gradient. Timed: a bare compiled
  sums pass (the sigmoid and three sums, on the int64 label map the decode head passes and
  on a float32 copy), the label conversion and range check, the plugin's two kernels alone
  (the forward also stores the probabilities, so the backward reads them instead of
  recomputing the sigmoid), and whole steps of the plugin and of MONAI (when installed),
  timed round-robin.

Every time is the minimum over ``--repeat`` calls after a warm-up (the least disturbed run).

Example::

    python tools/profile_fused_kernel.py --threads 1 --classes 14 --shape 4 128 128
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from typing import Callable

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import alternate  # noqa: E402


def best_ms(fn: Callable[[], object], repeat: int, device: torch.device) -> float:
    """Minimum wall time of ``fn()`` over ``repeat`` calls, in milliseconds."""
    best = float('inf')
    for _ in range(repeat):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def exp_cost(numel: int, k: int, repeat: int, device: torch.device) -> dict:
    """Per-pass cost of one compiled ``exp`` (``k`` of them in one kernel minus mul-adds)."""
    x = torch.randn(numel, device=device)
    with_exp = torch.compile(lambda v: sum((v + 0.1 * i).exp() for i in range(k)))
    with_mul = torch.compile(lambda v: sum((v + 0.1 * i) * 1.0001 for i in range(k)))
    with_exp(x), with_mul(x)  # compile
    t_exp = best_ms(lambda: with_exp(x), repeat, device)
    t_mul = best_ms(lambda: with_mul(x), repeat, device)
    return {
        f'compiled, {k} exp per element': t_exp,
        f'compiled, {k} mul-add per element': t_mul,
        'compiled: one exp pass ((exp - mul-add) / k)': (t_exp - t_mul) / k,
        'eager torch.exp (one pass)': best_ms(lambda: torch.exp(x), repeat, device),
        'eager add (one pass)': best_ms(lambda: x + 1.0, repeat, device),
    }


def step_split(shape: tuple, classes: int, repeat: int, device: torch.device) -> dict:
    """Forward / backward of SoftDiceLoss (eager and fused) and the fused kernels alone."""
    from mmloss_plugin.losses import SoftDiceLoss
    from mmloss_plugin.losses.segmentation import fused_stats

    n, spatial = shape[0], shape[1:]
    z = torch.randn(n, classes, *spatial, device=device, requires_grad=True)
    y = torch.randint(0, classes, (n, *spatial), device=device)
    rows = {}
    for fused in (False, True):
        loss = SoftDiceLoss(fused_kernel=fused)
        for _ in range(3):  # compile / warm up
            loss(z, y).backward()
        name = 'fused_kernel=True' if fused else 'eager'
        rows[f'{name}: forward'] = best_ms(lambda loss=loss: loss(z, y), repeat, device)
        value = loss(z, y)

        def backward(value=value):
            z.grad = None
            value.backward(retain_graph=True)
        rows[f'{name}: backward'] = best_ms(backward, repeat, device)
    with fused_stats.recompile_limit_raised():  # called directly, not through _run
        rows.update(_kernel_rows(z, y, classes, n, repeat, device))
    return rows


def _kernels_alone(kernels, zf, labels, sigmoid, grads, repeat, device,
                   suffixes=('', '')) -> dict:
    """The compiled forward and backward kernels, each timed alone on the same inputs."""
    probs = kernels[0](zf, labels, None, sigmoid, False)[-1]
    kernels[1](probs, labels, None, sigmoid, grads)  # compile
    return {
        f'forward kernel alone{suffixes[0]}': best_ms(
            lambda: kernels[0](zf, labels, None, sigmoid, False), repeat, device),
        f'backward kernel alone{suffixes[1]}': best_ms(
            lambda: kernels[1](probs, labels, None, sigmoid, grads), repeat, device),
    }


def _kernel_rows(z, y, classes, n, repeat, device) -> dict:
    """The compiled kernels alone, and the label dtypes they can read, round-robin."""
    from mmloss_plugin.losses.segmentation import fused_stats

    rows = {}
    kernels = fused_stats._compiled()
    zf, yl = z.detach().flatten(2), fused_stats._labels(y.flatten(1))
    grads = [torch.ones(n, classes, device=device)] * 2
    rows.update(_kernels_alone(kernels, zf, yl, False, grads, repeat, device))
    rows['eager softmax alone'] = best_ms(lambda: torch.softmax(zf, 1), repeat, device)

    # the label map converted to each dtype (as fused_stats._labels does, once per step; a
    # no-op for int64), then both kernels on it: timed round-robin so that drifts of the
    # machine's speed hit every variant alike
    label_dtype = fused_stats.LABEL_DTYPE

    def kernels_step(dtype):
        fused_stats.LABEL_DTYPE = dtype
        labels = fused_stats._labels(y.flatten(1))
        p = kernels[0](zf, labels, None, False, False)[-1]
        grad = kernels[1](p, labels, None, False, grads)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        return grad
    try:
        variants = {dtype: functools.partial(kernels_step, dtype) for dtype in LABEL_DTYPES}
        for step in variants.values():
            step()  # compile this variant (new input dtype)
        times = alternate(variants, repeat)
    finally:
        fused_stats.LABEL_DTYPE = label_dtype
    for dtype, ms in times.items():
        default = ', default' if dtype is label_dtype else ''
        rows[f'both kernels, {_dtype_name(dtype)} labels{default} (round-robin)'] = min(ms)
    return rows


def sigmoid_floor(shape: tuple, repeat: int, device: torch.device) -> dict:
    """The one-channel sigmoid Dice step's unavoidable passes against whole steps."""
    from mmloss_plugin.losses import SoftDiceLoss
    from mmloss_plugin.losses.segmentation import fused_stats

    n, spatial = shape[0], shape[1:]
    z = torch.randn(n, 1, *spatial, device=device)
    y = torch.randint(0, 2, (n, *spatial), device=device)
    y32 = y.to(torch.float32)

    @torch.compile
    def sums(logits, labels):  # nothing but the sigmoid and the three sums
        g = labels.flatten(1).to(torch.float32)
        p = logits.flatten(1).sigmoid()
        return (p * g).sum(1), p.sum(1), g.sum(1)

    rows = {}
    for name, labels in (('int64', y), ('float32', y32)):
        sums(z, labels)  # compile
        rows[f'bare sums pass, {name} labels'] = best_ms(lambda labels=labels: sums(z, labels),
                                                        repeat, device)
    rows['int64 -> float32 label conversion'] = best_ms(lambda: y.to(torch.float32), repeat,
                                                         device)
    rows['aminmax of the float32 labels'] = best_ms(lambda: torch.aminmax(y32), repeat, device)
    # the plugin's kernels on the (N, 1, S) float32 target the loss passes them
    kernels = fused_stats._compiled()
    zf, target = z.flatten(2), y32.view(n, 1, -1)
    grads = [torch.ones(n, 1, device=device)] * 2
    with fused_stats.recompile_limit_raised():
        rows.update(_kernels_alone(kernels, zf, target, True, grads, repeat, device,
                                   (' (sums, stores p)', ' (from the stored p)')))

    steps = {f'SoftDiceLoss(use_sigmoid), {"fused_kernel=True" if fused else "eager"}':
             SoftDiceLoss(use_sigmoid=True, fused_kernel=fused) for fused in (False, True)}
    try:
        from monai.losses import DiceLoss
    except ImportError:
        pass
    else:
        monai = DiceLoss(sigmoid=True, reduction='mean')
        steps['MONAI DiceLoss(sigmoid)'] = lambda p, t: monai(p, t.unsqueeze(1))
    zg = z.clone().requires_grad_()

    def step(loss):
        zg.grad = None
        loss(zg, y).backward()
        if device.type == 'cuda':
            torch.cuda.synchronize()
    # round-robin, so that drifts of the machine's speed hit the plugin and MONAI alike
    # (the warm-up rounds also compile the fused kernels)
    times = alternate({name: functools.partial(step, loss) for name, loss in steps.items()},
                      repeat, warmup=3)
    for name, ms in times.items():
        rows[f'step: {name} (round-robin)'] = min(ms)
    return rows


#: Label dtypes compared: float32 (the default since December 2026), int32 (the default
#: before: converted inside the forward kernel), int64 (as mmseg's label maps arrive).
LABEL_DTYPES = (torch.float32, torch.int32, torch.int64)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace('torch.', '')


def _shape_name(shape: list, channels: int) -> str:
    """``N x C x spatial`` of the logits, e.g. ``4x14x128x128``."""
    return 'x'.join(str(s) for s in [shape[0], channels, *shape[1:]])


def _print_table(title: str, rows: dict) -> None:
    print(f'\n{title}')
    width = max(map(len, rows), default=0)
    for name, ms in rows.items():
        print(f'  {name:{width}s} {ms:8.3f} ms')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--threads', type=int, default=0, help='CPU threads (0: torch default)')
    parser.add_argument('--classes', type=int, default=14)
    parser.add_argument('--shape', type=int, nargs='+', default=[4, 128, 128],
                        help='N and spatial size of the logits (classes come from --classes)')
    parser.add_argument('--sigmoid-shape', type=int, nargs='+', default=[8, 256, 256],
                        help='N and spatial size of the one-channel logits for the sigmoid '
                             'Dice section')
    parser.add_argument('--numel', type=int, default=2 * 1024 * 1024,
                        help='length of the vector for the exp measurement')
    parser.add_argument('--exps', type=int, default=8, help='exponentials per element')
    parser.add_argument('--repeat', type=int, default=100)
    args = parser.parse_args(argv)
    if args.threads < 0 or args.repeat < 1 or args.exps < 1 or args.classes < 2:
        parser.error('--threads >= 0, --repeat >= 1, --exps >= 1 and --classes >= 2 expected')
    for opt, value in (('--shape', args.shape), ('--sigmoid-shape', args.sigmoid_shape)):
        if len(value) not in (3, 4) or min(value) < 1:
            parser.error(f'{opt} takes N H W or N D H W (positive), got {value}')
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f'torch {torch.__version__}, {device}, {torch.get_num_threads()} thread(s)')
    _print_table(f'exp inside a compiled kernel, {args.numel} float32 values',
                 exp_cost(args.numel, args.exps, args.repeat, device))
    _print_table(f'SoftDiceLoss step on {_shape_name(args.shape, args.classes)} logits '
                 '(label map)', step_split(tuple(args.shape), args.classes, args.repeat, device))
    _print_table(f'One-channel sigmoid Dice on {_shape_name(args.sigmoid_shape, 1)} logits: '
                 'unavoidable passes, whole steps',
                 sigmoid_floor(tuple(args.sigmoid_shape), args.repeat, device))


if __name__ == '__main__':
    main()
