#!/usr/bin/env python
"""A/B of the ``fused_kernel=True`` kernels: a git revision's ``fused_stats`` module against
the working tree's, whole loss steps alternating in one process.

This CPU's speed drifts between processes (by up to 2x on the shared VMs this project is
measured on), so two separate runs can not show a 10-20 % change; two implementations timed
in turn in one process can. The base revision's
``mmloss_plugin/losses/segmentation/fused_stats.py`` is read with ``git show`` and loaded as
a second module; each step then runs the same loss module with the package's ``fused_stats``
pointing at one or the other (the losses look it up at call time). Everything outside that
module (validation, reduction) is the working tree's for both, so the ratio is the kernels'
change. Both must give the same loss and gradient (checked before timing).

    python tools/ab_fused_kernels.py --base HEAD --threads 1

Prints a markdown table: median and minimum milliseconds of one forward + backward step for
each implementation, and the ratio of the medians (working tree / base; below 1 is faster).
"""
from __future__ import annotations

import functools
import importlib.util
import os.path as osp
import subprocess
import sys
import tempfile
from types import ModuleType

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(REPO, 'tools'))

from _timing import ab_parser, alternate, check_args, median, tiny_shape  # noqa: E402

MODULE = 'mmloss_plugin/losses/segmentation/fused_stats.py'
#: (loss class name, logits shape, options): the benchmark's shapes, a small crop, a binary map
CASES = [('SoftDiceLoss', (4, 14, 128, 128), {}), ('SoftDiceLoss', (8, 4, 256, 256), {}),
         ('SoftDiceLoss', (2, 4, 64, 128, 128), {}), ('SoftDiceLoss', (2, 4, 64, 64), {}),
         ('SoftDiceLoss', (8, 1, 256, 256), {'use_sigmoid': True}),
         ('WeightedCrossEntropyLoss', (4, 14, 128, 128), {}),
         ('WeightedCrossEntropyLoss', (8, 4, 256, 256), {}),
         ('WeightedCrossEntropyLoss', (2, 4, 64, 64), {})]


def load_base(rev: str) -> ModuleType:
    """``fused_stats`` as of git revision ``rev``, imported as a sibling module."""
    try:
        source = subprocess.run(['git', 'show', f'{rev}:{MODULE}'], cwd=REPO, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        detail = (getattr(e, 'stderr', '') or str(e)).strip()
        raise SystemExit(f'--base {rev!r}: can not read {MODULE} at that revision '
                         f'({detail})') from None
    name = 'mmloss_plugin.losses.segmentation._fused_stats_base'
    with tempfile.TemporaryDirectory(prefix='ab_fused_') as tmp:
        path = osp.join(tmp, 'fused_stats_base.py')
        with open(path, 'w') as f:
            f.write(source)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)  # its relative imports resolve inside the package
    return module


def main(argv=None) -> None:
    parser = ab_parser(__doc__.split('\n\n')[0], 40,
                       'alternating steps per entry (a quarter of it on the volume)')
    parser.add_argument('--base', default='HEAD', help='git revision to compare against')
    args = parser.parse_args(argv)
    check_args(parser, args)

    import mmloss_plugin.losses as losses
    import mmloss_plugin.losses.segmentation as package
    from mmloss_plugin.losses.segmentation import fused_stats as current  # (lazy otherwise)
    impls = {'base': load_base(args.base), 'current': current}
    for module in impls.values():  # every case compiles its own kernels in both modules
        module.RECOMPILE_LIMIT = max(module.RECOMPILE_LIMIT, 4 * len(CASES))

    print(f'torch {torch.__version__}, {torch.get_num_threads()} thread(s); base = {args.base}')
    print('| loss | shape | base median (ms) | current median (ms) | base min | current min '
          '| ratio of medians |')
    print('|---|---|---:|---:|---:|---:|---:|')
    try:
        for name, shape, kwargs in CASES:
            shape = tiny_shape(shape) if args.tiny else shape
            loss = getattr(losses, name)(fused_kernel=True, **kwargs)
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(shape, generator=gen).requires_grad_()
            y = torch.randint(0, max(shape[1], 2), (shape[0],) + shape[2:], generator=gen)

            def step(key, loss=loss, x=x, y=y):
                package.fused_stats = impls[key]
                x.grad = None
                value = loss(x, y)
                value.backward()
                return value.detach()

            results = {}
            for key in impls:  # compile, warm up, and check that both agree
                step(key)
                results[key] = (step(key), x.grad.clone())
            (v0, g0), (v1, g1) = results.values()
            if not (torch.allclose(v0, v1, rtol=1e-5, atol=1e-6)
                    and torch.allclose(g0, g1, rtol=1e-4, atol=1e-7)):
                raise SystemExit(f'{name} {shape}: base and current differ (loss {float(v0)} '
                                 f'against {float(v1)}, largest gradient difference '
                                 f'{float((g0 - g1).abs().max())})')
            rounds = args.repeat if x.numel() < 4e6 else max(args.repeat // 4, 1)
            times = alternate({key: functools.partial(step, key) for key in impls}, rounds)
            med = {k: median(v) for k, v in times.items()}
            label = name + (' (sigmoid)' if kwargs.get('use_sigmoid') else '')
            print(f'| {label} | {"x".join(map(str, shape))} | {med["base"]:.2f} | '
                  f'{med["current"]:.2f} | {min(times["base"]):.2f} | '
                  f'{min(times["current"]):.2f} | {med["current"] / med["base"]:.2f} |',
                  flush=True)
    finally:
        package.fused_stats = current


if __name__ == '__main__':
    main()
