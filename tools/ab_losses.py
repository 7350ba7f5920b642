#!/usr/bin/env python
"""A/B of the segmentation region losses' implementation: a git revision's ``stats`` and
``fused_stats`` modules against the working tree's, whole loss steps alternating in one
process.

This CPU's speed drifts between processes (by up to 2x on the shared VMs this project is
measured on), so two separate runs can not show a 10-20 % change; two implementations timed
in turn in one process can. The base revision's
``mmloss_plugin/losses/segmentation/{stats,fused_stats}.py`` are read with ``git show`` and
loaded as sibling modules. Each step then runs the same loss module with the package's
``fused_stats`` and the ``stats`` module's ``prepare_seg_targets`` and ``region_stats``
pointing at one revision or the other (the losses look them up at call time). Everything
else (the loss formulas, ``losses/utils.py``, reduction) is the working tree's for both, so
the ratio is the change in target preparation, the sums and the kernels. Both must give the
same loss and gradient (checked before timing).

    python tools/ab_losses.py --base HEAD --threads 1
    python tools/ab_losses.py --base HEAD --impl eager

``--impl fused`` times the ``fused_kernel=True`` losses, ``--impl eager`` the default eager
ones, ``--impl both`` (the default) both. Prints a markdown table: median and minimum
milliseconds of one forward + backward step for each revision, and the ratio of the medians
(working tree / base; below 1 is faster).
"""
from __future__ import annotations

import functools
import importlib.util
import os.path as osp
import subprocess
import sys
import tempfile
from types import ModuleType
from typing import Dict

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(REPO, 'tools'))

from _timing import ab_parser, alternate, check_args, median, tiny_shape  # noqa: E402

PACKAGE = 'mmloss_plugin/losses/segmentation'
MODULES = ('stats', 'fused_stats')
#: the ``stats`` functions the region losses call through the module's globals
STATS_FUNCTIONS = ('prepare_seg_targets', 'region_stats')
#: (loss class name, logits shape, options): the benchmark's shapes, a small crop, binary maps
CASES = [('SoftDiceLoss', (4, 14, 128, 128), {}), ('SoftDiceLoss', (8, 4, 256, 256), {}),
         ('SoftDiceLoss', (2, 4, 64, 128, 128), {}), ('SoftDiceLoss', (2, 4, 64, 64), {}),
         ('SoftDiceLoss', (8, 1, 256, 256), {'use_sigmoid': True}),
         ('SoftDiceLoss', (8, 1, 8, 8), {'use_sigmoid': True}),
         ('WeightedCrossEntropyLoss', (4, 14, 128, 128), {}),
         ('WeightedCrossEntropyLoss', (8, 4, 256, 256), {}),
         ('WeightedCrossEntropyLoss', (2, 4, 64, 64), {})]
#: the eager WeightedCrossEntropyLoss does not go through either module
EAGER_LOSSES = ('SoftDiceLoss',)


def _load(rev: str, module: str, tmp: str) -> ModuleType:
    path = f'{PACKAGE}/{module}.py'
    try:
        source = subprocess.run(['git', 'show', f'{rev}:{path}'], cwd=REPO, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        detail = (getattr(e, 'stderr', '') or str(e)).strip()
        raise SystemExit(f'--base {rev!r}: can not read {path} at that revision '
                         f'({detail})') from None
    name = f'mmloss_plugin.losses.segmentation._{module}_base'
    file = osp.join(tmp, f'{module}_base.py')
    with open(file, 'w') as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location(name, file)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    try:
        spec.loader.exec_module(loaded)  # its relative imports resolve inside the package
    except Exception as e:  # e.g. it imports a helper the working tree no longer has
        raise SystemExit(f'--base {rev!r}: {path} of that revision does not import with the '
                         f'working tree ({type(e).__name__}: {e})') from None
    return loaded


def load_base(rev: str) -> Dict[str, ModuleType]:
    """``stats`` and ``fused_stats`` as of git revision ``rev``, imported as siblings."""
    with tempfile.TemporaryDirectory(prefix='ab_losses_') as tmp:
        return {module: _load(rev, module, tmp) for module in MODULES}


def main(argv=None) -> None:
    parser = ab_parser(__doc__.split('\n\n')[0], 40,
                       'alternating steps per entry (a quarter of it on the volume)')
    parser.add_argument('--base', default='HEAD', help='git revision to compare against')
    parser.add_argument('--impl', choices=('fused', 'eager', 'both'), default='both',
                        help='time the fused_kernel=True losses, the eager ones, or both')
    args = parser.parse_args(argv)
    check_args(parser, args)

    import mmloss_plugin.losses as losses
    import mmloss_plugin.losses.segmentation as package
    from mmloss_plugin.losses.segmentation import fused_stats, stats
    base = load_base(args.base)
    # (fused_stats module, the stats functions) of each revision; the working tree's are
    # taken before any is swapped out
    impls = {'base': (base['fused_stats'], {n: getattr(base['stats'], n) for n in STATS_FUNCTIONS}),
             'current': (fused_stats, {n: getattr(stats, n) for n in STATS_FUNCTIONS})}
    for fused, _ in impls.values():  # every case compiles its own kernels in both modules
        fused.RECOMPILE_LIMIT = max(fused.RECOMPILE_LIMIT, 4 * len(CASES))

    def use(key: str) -> None:
        package.fused_stats, functions = impls[key]
        for name, fn in functions.items():
            setattr(stats, name, fn)

    runs = [(name, shape, kwargs, fused) for fused in (True, False)
            if args.impl in ('both', 'fused' if fused else 'eager')
            for name, shape, kwargs in CASES if fused or name in EAGER_LOSSES]
    print(f'torch {torch.__version__}, {torch.get_num_threads()} thread(s); base = {args.base}')
    print('| loss | shape | base median (ms) | current median (ms) | base min | current min '
          '| ratio of medians |')
    print('|---|---|---:|---:|---:|---:|---:|')
    try:
        for name, shape, kwargs, fused in runs:
            shape = tiny_shape(shape) if args.tiny else shape
            loss = getattr(losses, name)(fused_kernel=fused, **kwargs)
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(shape, generator=gen).requires_grad_()
            y = torch.randint(0, max(shape[1], 2), (shape[0],) + shape[2:], generator=gen)

            def step(key, loss=loss, x=x, y=y):
                use(key)
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
            options = (['sigmoid'] if kwargs.get('use_sigmoid') else []) \
                + (['fused_kernel'] if fused else [])
            label = name + (f' ({", ".join(options)})' if options else '')
            print(f'| {label} | {"x".join(map(str, shape))} | {med["base"]:.2f} | '
                  f'{med["current"]:.2f} | {min(times["base"]):.2f} | '
                  f'{min(times["current"]):.2f} | {med["current"] / med["base"]:.2f} |',
                  flush=True)
    finally:
        use('current')


if __name__ == '__main__':
    main()
