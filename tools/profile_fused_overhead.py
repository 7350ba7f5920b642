"""Fixed per-call cost of the ``fused_kernel=True`` losses: the current call path against the
previous one, alternating in one process (the only comparison that survives a CPU whose speed
drifts between runs).

The previous path, emulated here, checked ``pred`` for NaN/Inf in the forward pre-hook (one
extra pass over the logits) and wrapped each compiled call in ``torch._dynamo.config.patch``.
The current one takes the check from a sum the forward kernel computes anyway and sets the
recompile limit by hand. Both run the same compiled kernels, so the ratio is the overhead
saved; the kernels' own cost is measured by ``tools/profile_fused_kernel.py``.

    python tools/profile_fused_overhead.py --threads 1
"""
import functools
import os.path as osp
import sys

import torch
import torch._dynamo

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _timing import ab_parser, alternate, check_args, median, tiny_shape  # noqa: E402


def main(argv=None) -> None:
    parser = ab_parser(__doc__.split('\n\n')[0], 200,
                       'alternating steps per entry (a quarter of it on large inputs)')
    args = parser.parse_args(argv)
    check_args(parser, args)

    from mmloss_plugin.losses.classification.cross_entropy import WeightedCrossEntropyLoss
    from mmloss_plugin.losses.segmentation import fused_stats
    from mmloss_plugin.losses.segmentation.dice import SoftDiceLoss

    current_run = fused_stats._run

    def previous_run(which: int, *call_args):
        if fused_stats.compile_error is not None:
            return None
        config = torch._dynamo.config
        limit = max(fused_stats.RECOMPILE_LIMIT, config.recompile_limit)
        with config.patch(recompile_limit=limit):
            return fused_stats._compiled()[which](*call_args)

    def previous(cls):  # the pre-hook checks pred, as before
        return type(f'Previous{cls.__name__}', (cls,), {'defers_finite_check': False})

    cases = [('SoftDiceLoss', (4, 14, 128, 128), {}), ('SoftDiceLoss', (2, 4, 64, 64), {}),
             ('SoftDiceLoss', (4, 1, 128, 128), {'use_sigmoid': True}),
             ('SoftDiceLoss', (8, 4, 256, 256), {}),
             ('WeightedCrossEntropyLoss', (4, 14, 128, 128), {}),
             ('WeightedCrossEntropyLoss', (2, 4, 64, 64), {})]
    classes = {'SoftDiceLoss': SoftDiceLoss, 'WeightedCrossEntropyLoss': WeightedCrossEntropyLoss}
    torch.manual_seed(0)
    print('| loss | shape | previous (ms) | current (ms) | ratio |')
    print('|---|---|---:|---:|---:|')
    try:
        for name, shape, kwargs in cases:
            cls = classes[name]
            losses = {'previous': previous(cls)(fused_kernel=True, **kwargs),
                      'current': cls(fused_kernel=True, **kwargs)}
            runs = {'previous': previous_run, 'current': current_run}
            shape = tiny_shape(shape) if args.tiny else shape
            x = torch.randn(shape, requires_grad=True)
            target = torch.randint(0, max(shape[1], 2), (shape[0],) + shape[2:])

            def step(key, losses=losses, runs=runs, x=x, target=target):
                fused_stats._run = runs[key]
                x.grad = None
                losses[key](x, target).backward()
            rounds = args.repeat if x.numel() < 1e6 else max(args.repeat // 4, 1)
            times = alternate({'current': functools.partial(step, 'current'),
                               'previous': functools.partial(step, 'previous')},
                              rounds, warmup=2 if args.tiny else 10)
            med = {k: median(v) for k, v in times.items()}
            label = name + (' (sigmoid)' if kwargs.get('use_sigmoid') else '')
            print(f'| {label} | {"x".join(map(str, shape))} | {med["previous"]:.2f} | '
                  f'{med["current"]:.2f} | {med["current"] / med["previous"]:.2f} |', flush=True)
    finally:
        fused_stats._run = current_run


if __name__ == '__main__':
    main()
