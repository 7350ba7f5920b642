#!/usr/bin/env python
"""Speed and peak-memory benchmark of the plugin's segmentation losses against peer libraries.

For every plugin loss and every installed peer with the same semantics (MONAI,
segmentation_models_pytorch, mmseg's built-ins; missing ones are skipped), the script times
forward + backward on random logits/labels and measures the peak memory allocated during that
step, then prints a table of ratios (plugin time / fastest peer time, plugin peak / smallest
peer peak) and saves a plot.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` minus the allocation before the step.
On CPU, ``tracemalloc`` does not see torch's allocations and RSS deltas depend on the C
allocator's caching, so the step is run once under ``torch.profiler`` with
``profile_memory=True``: every allocation and free of torch's CPU allocator is recorded with
the running total, and the peak of that total over the step is reported (input tensors
allocated before the step are excluded; the logits' gradient is included for every entry).

Examples::

    python tools/benchmark_losses.py --device cpu --threads 1 --repeat 5
    python tools/benchmark_losses.py --shapes small --repeat 2 --no-sweep
    python tools/benchmark_losses.py --device cuda --out docs/img/benchmark_losses_cuda.png
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mmloss_plugin.losses as P  # noqa: E402

SHAPES = {
    'default': [(8, 4, 256, 256), (2, 4, 64, 128, 128), (4, 14, 128, 128)],
    'small': [(2, 4, 64, 64), (1, 4, 16, 32, 32), (2, 14, 32, 32)],
}
SWEEPS = {
    'default': dict(voxels=[(2, 4, s, s) for s in (64, 128, 256, 512)],
                    classes=[(2, c, 128, 128) for c in (2, 4, 8, 16, 32)]),
    'small': dict(voxels=[(2, 4, s, s) for s in (32, 64, 128)],
                  classes=[(2, c, 32, 32) for c in (2, 8, 32)]),
}
CLASS_WEIGHT = {4: [0.5, 1.0, 2.0, 4.0]}

Fn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Case:
    """A plugin loss and its peers; ``binary`` cases use one-channel logits."""

    name: str
    plugin: Callable[[int], Fn]                        # num_classes -> loss(x, y)
    peers: Dict[str, Callable[[int], Fn]] = field(default_factory=dict)
    binary: bool = False
    note: str = ''


# ------------------------------------------------------------------------------ peers
def _optional(module: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return __import__(module, fromlist=['_'])
    except Exception as e:  # ImportError, or a peer whose own imports are broken
        print(f'[skip] {module}: {type(e).__name__}: {e}', file=sys.stderr)
        return None


def build_cases() -> List[Case]:
    monai = _optional('monai.losses')
    smp = _optional('segmentation_models_pytorch.losses')
    mmseg = _optional('mmseg.models.losses')

    def cw(c):
        return CLASS_WEIGHT.get(c, [1.0 + i / c for i in range(c)])

    cases = [
        Case('SoftDiceLoss', lambda c: P.SoftDiceLoss()),
        Case('SoftDiceLoss (batch)', lambda c: P.SoftDiceLoss(batch=True)),
        Case('IoULoss', lambda c: P.IoULoss(smooth=0.5e-5)),
        Case('IoULoss (batch)', lambda c: P.IoULoss(batch=True, smooth=0.0)),
        Case('FocalTverskyLoss (gamma=1)', lambda c: P.FocalTverskyLoss(gamma=1.0)),
        Case('FocalTverskyLoss (batch)', lambda c: P.FocalTverskyLoss(batch=True, gamma=0.75)),
        Case('GeneralizedDiceLoss', lambda c: P.GeneralizedDiceLoss()),
        Case('SensitivitySpecificityLoss', lambda c: P.SensitivitySpecificityLoss(),
             note='no peer implementation installed'),
        Case('CompoundLoss (Dice + CE)', lambda c: P.CompoundLoss(
            losses=[P.SoftDiceLoss(), P.WeightedCrossEntropyLoss()])),
        Case('SoftmaxFocalLoss', lambda c: P.SoftmaxFocalLoss(gamma=2.0, class_weight=cw(c)),
             note='MONAI averages over N*C*S entries (a factor C from the plugin mean)'),
        Case('WeightedCrossEntropyLoss', lambda c: P.WeightedCrossEntropyLoss(
            class_weight=cw(c)), note='torch normalises by the summed weights'),
        Case('SoftDiceLoss (sigmoid, binary)', lambda c: P.SoftDiceLoss(use_sigmoid=True),
             binary=True),
        Case('LogLoss (binary)', lambda c: P.LogLoss(), binary=True),
        # the opt-in torch.compile kernels (fused_kernel=True), against the same peers
        Case('SoftDiceLoss (fused_kernel)', lambda c: P.SoftDiceLoss(fused_kernel=True)),
        Case('IoULoss (fused_kernel)', lambda c: P.IoULoss(smooth=0.5e-5, fused_kernel=True)),
        Case('FocalTverskyLoss (gamma=1, fused_kernel)',
             lambda c: P.FocalTverskyLoss(gamma=1.0, fused_kernel=True)),
        Case('GeneralizedDiceLoss (fused_kernel)',
             lambda c: P.GeneralizedDiceLoss(fused_kernel=True)),
        Case('WeightedCrossEntropyLoss (fused_kernel)', lambda c: P.WeightedCrossEntropyLoss(
            class_weight=cw(c), fused_kernel=True)),
        Case('CompoundLoss (fused Dice + fused CE)', lambda c: P.CompoundLoss(losses=[
            P.SoftDiceLoss(fused_kernel=True), P.WeightedCrossEntropyLoss(fused_kernel=True)])),
        Case('SoftDiceLoss (sigmoid, binary, fused_kernel)',
             lambda c: P.SoftDiceLoss(use_sigmoid=True, fused_kernel=True), binary=True),
    ]
    by_name = {c.name: c for c in cases}

    def add(name, peer, factory):
        by_name[name].peers[peer] = factory

    if monai is not None:
        def monai_fn(cls, **kw):
            def factory(c):
                loss = cls(**kw)
                return lambda x, y: loss(x, y.unsqueeze(1))
            return factory
        add('SoftDiceLoss', 'MONAI DiceLoss',
            monai_fn(monai.DiceLoss, softmax=True, to_onehot_y=True))
        add('IoULoss', 'MONAI DiceLoss(jaccard)',
            monai_fn(monai.DiceLoss, softmax=True, to_onehot_y=True, jaccard=True))
        add('FocalTverskyLoss (gamma=1)', 'MONAI TverskyLoss', monai_fn(
            monai.TverskyLoss, softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7))
        add('GeneralizedDiceLoss', 'MONAI GeneralizedDiceLoss',
            monai_fn(monai.GeneralizedDiceLoss, softmax=True, to_onehot_y=True))
        add('CompoundLoss (Dice + CE)', 'MONAI DiceCELoss',
            monai_fn(monai.DiceCELoss, softmax=True, to_onehot_y=True))
        add('SoftmaxFocalLoss', 'MONAI FocalLoss(softmax)', lambda c: monai_fn(
            monai.FocalLoss, use_softmax=True, to_onehot_y=True, gamma=2.0,
            weight=cw(c))(c))

        def monai_binary(c):
            loss = monai.DiceLoss(sigmoid=True)
            return lambda x, y: loss(x, y.unsqueeze(1).to(x.dtype))
        add('SoftDiceLoss (sigmoid, binary)', 'MONAI DiceLoss(sigmoid)', monai_binary)
    if smp is not None:
        def smp_fn(cls, *args, **kw):
            def factory(c):
                loss = cls(*args, **kw)
                return lambda x, y: loss(x, y)
            return factory
        add('SoftDiceLoss (batch)', 'smp DiceLoss', smp_fn(smp.DiceLoss, 'multiclass'))
        add('IoULoss (batch)', 'smp JaccardLoss', smp_fn(smp.JaccardLoss, 'multiclass'))
        add('FocalTverskyLoss (batch)', 'smp TverskyLoss(gamma=.75)', smp_fn(
            smp.TverskyLoss, 'multiclass', alpha=0.3, beta=0.7, gamma=0.75))
        add('SoftDiceLoss (sigmoid, binary)', 'smp DiceLoss(binary)',
            smp_fn(smp.DiceLoss, 'binary'))

        def smp_bce(c):
            loss = smp.SoftBCEWithLogitsLoss()
            return lambda x, y: loss(x, y.unsqueeze(1).to(x.dtype))
        add('LogLoss (binary)', 'smp SoftBCEWithLogitsLoss', smp_bce)
    if mmseg is not None:
        add('FocalTverskyLoss (gamma=1)', 'mmseg TverskyLoss',
            lambda c: mmseg.TverskyLoss(smooth=1e-5, alpha=0.3, beta=0.7))
        add('WeightedCrossEntropyLoss', 'mmseg CrossEntropyLoss', lambda c: mmseg.CrossEntropyLoss(
            class_weight=cw(c), avg_non_ignore=True))
        add('LogLoss (binary)', 'mmseg CrossEntropyLoss(sigmoid)',
            lambda c: mmseg.CrossEntropyLoss(use_sigmoid=True, avg_non_ignore=True))

    def torch_ce(c):
        w = torch.tensor(cw(c))
        return lambda x, y: F.cross_entropy(x, y, weight=w.to(x.device))
    add('WeightedCrossEntropyLoss', 'torch cross_entropy', torch_ce)
    for case in cases:  # fused variants share the peers of their eager twin
        base = case.name.replace(', fused_kernel)', ')').replace(' (fused_kernel)', '') \
            .replace('fused Dice + fused CE', 'Dice + CE')
        if base != case.name:
            case.peers = dict(by_name[base].peers)
    return cases


# --------------------------------------------------------------------------- measuring
def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _step(fn: Fn, x: torch.Tensor, y: torch.Tensor) -> float:
    x.grad = None
    loss = fn(x, y)
    loss.backward()
    return float(loss.detach())


def peak_memory(fn: Fn, x: torch.Tensor, y: torch.Tensor) -> float:
    """Peak bytes allocated during one forward+backward step (see module docstring)."""
    x.grad = None
    gc.collect()
    if x.device.type == 'cuda':
        torch.cuda.synchronize(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        base = torch.cuda.memory_allocated(x.device)
        _step(fn, x, y)
        torch.cuda.synchronize(x.device)
        return float(torch.cuda.max_memory_allocated(x.device) - base)
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _step(fn, x, y)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'trace.json')
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)['traceEvents']
    mem = sorted((e for e in events if e.get('name') == '[memory]'
                  and e.get('args', {}).get('Device Type', 0) == 0),
                 key=lambda e: e['ts'])
    cur = peak = 0
    for e in mem:
        cur += e['args']['Bytes']
        peak = max(peak, cur)
    return float(peak)


def make_inputs(shape, binary: bool, device: torch.device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n, c = shape[:2]
    spatial = shape[2:]
    x = torch.randn((n, 1 if binary else c) + spatial, generator=g).to(device)
    y = torch.randint(0, 2 if binary else c, (n,) + spatial, generator=g).to(device)
    return x.requires_grad_(), y


def run_case(case: Case, shape, device, repeat: int, memory: bool = True) -> dict:
    """Time the plugin loss and its peers on the same inputs.

    The entries are timed round-robin (one step of each in turn, ``repeat`` rounds after a
    warm-up) so that load from other processes affects them alike; the minimum over the
    rounds is reported (``timeit``'s convention: the least disturbed run), the median is
    kept in the JSON output.
    """
    x, y = make_inputs(shape, case.binary, device)
    c = x.shape[1]
    row = {'loss': case.name, 'shape': list(x.shape), 'note': case.note, 'peers': {}}
    fns, values = {}, {}
    for name, factory in [('plugin', case.plugin)] + list(case.peers.items()):
        fn = factory(c)
        if isinstance(fn, torch.nn.Module):
            fn = fn.to(device)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                values[name] = _step(fn, x, y)  # warm-up
        except Exception as e:  # a peer that rejects the input: report, do not abort
            print(f'[fail] {case.name} / {name} on {tuple(x.shape)}: {type(e).__name__}: {e}',
                  file=sys.stderr)
            continue
        fns[name] = fn
    times = {name: [] for name in fns}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for _ in range(repeat):
            for name, fn in fns.items():
                _sync(device)
                t0 = time.perf_counter()
                _step(fn, x, y)
                _sync(device)
                times[name].append(time.perf_counter() - t0)
        for name, fn in fns.items():
            mem = peak_memory(fn, x, y) if memory else float('nan')
            res = {'time_ms': 1e3 * min(times[name]),
                   'median_ms': 1e3 * statistics.median(times[name]),
                   'peak_mb': mem / 2 ** 20, 'value': values[name]}
            if name == 'plugin':
                row['plugin'] = res
            else:
                row['peers'][name] = res
    peers = row['peers']
    if peers and 'plugin' in row:
        fastest = min(peers, key=lambda k: peers[k]['time_ms'])
        leanest = min(peers, key=lambda k: peers[k]['peak_mb'])
        row['fastest_peer'] = fastest
        row['time_ratio'] = row['plugin']['time_ms'] / peers[fastest]['time_ms']
        row['mem_ratio'] = row['plugin']['peak_mb'] / max(peers[leanest]['peak_mb'], 1e-9)
    return row


# ------------------------------------------------------------------------------ output
def markdown_table(rows: List[dict]) -> str:
    lines = ['| shape | plugin loss | plugin ms | plugin MB | fastest peer | peer ms | '
             'peer MB (min) | time ratio | memory ratio |',
             '|---|---|---:|---:|---|---:|---:|---:|---:|']
    for r in rows:
        if 'plugin' not in r:
            continue
        shape = 'x'.join(map(str, r['shape']))
        p = r['plugin']
        if 'fastest_peer' in r:
            f = r['peers'][r['fastest_peer']]
            min_mb = min(v['peak_mb'] for v in r['peers'].values())
            lines.append(f"| {shape} | {r['loss']} | {p['time_ms']:.1f} | {p['peak_mb']:.1f} | "
                         f"{r['fastest_peer']} | {f['time_ms']:.1f} | {min_mb:.1f} | "
                         f"{r['time_ratio']:.2f} | {r['mem_ratio']:.2f} |")
        else:
            lines.append(f"| {shape} | {r['loss']} | {p['time_ms']:.1f} | {p['peak_mb']:.1f} | "
                         '– | – | – | – | – |')
    return '\n'.join(lines)


def detail_table(rows: List[dict]) -> str:
    lines = ['| shape | plugin loss | implementation | ms | peak MB | loss value |',
             '|---|---|---|---:|---:|---:|']
    for r in rows:
        shape = 'x'.join(map(str, r['shape']))
        entries = ([('plugin', r['plugin'])] if 'plugin' in r else []) + list(r['peers'].items())
        for name, v in entries:
            lines.append(f"| {shape} | {r['loss']} | {name} | {v['time_ms']:.1f} | "
                         f"{v['peak_mb']:.1f} | {v['value']:.6g} |")
    return '\n'.join(lines)


def plot(rows: List[dict], sweeps: Dict[str, List[dict]], out: str, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(19, 6.5),
                             gridspec_kw={'width_ratios': [1.5, 1, 1]})
    ax = axes[0]
    losses = list(dict.fromkeys(r['loss'] for r in rows if 'time_ratio' in r))
    shapes = list(dict.fromkeys(tuple(r['shape'][:1] + r['shape'][2:]) for r in rows))
    grid = [[float('nan')] * len(shapes) for _ in losses]
    text = [[''] * len(shapes) for _ in losses]
    for r in rows:
        if 'time_ratio' not in r:
            continue
        i = losses.index(r['loss'])
        j = shapes.index(tuple(r['shape'][:1] + r['shape'][2:]))
        grid[i][j] = r['time_ratio']
        text[i][j] = f"t {r['time_ratio']:.2f}\nm {r['mem_ratio']:.2f}"
    if losses:
        im = ax.imshow(grid, cmap='RdYlGn_r', vmin=0.0, vmax=2.0, aspect='auto')
        for i in range(len(losses)):
            for j in range(len(shapes)):
                ax.text(j, i, text[i][j], ha='center', va='center', fontsize=7)
        ax.set_xticks(range(len(shapes)))
        ax.set_xticklabels([f'N={sh[0]} ' + 'x'.join(map(str, sh[1:]))
                            for sh in shapes], fontsize=8)
        ax.set_yticks(range(len(losses)))
        ax.set_yticklabels(losses, fontsize=8)
        ax.set_title('plugin / best peer: t = time, m = peak memory (lower is better)',
                     fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.03, label='time ratio')
    for ax, (key, label) in zip(axes[1:], [('voxels', 'voxels per image (N=2, C=4)'),
                                           ('classes', 'classes (N=2, 128x128)')]):
        pts = sweeps.get(key, [])
        if not pts:
            ax.set_visible(False)
            continue
        xs = [r['shape'][1] if key == 'classes' else
              int(torch.tensor(r['shape'][2:]).prod()) for r in pts]
        names = ['plugin', 'fused'] + sorted({k for r in pts for k in r['peers']})
        fused = {tuple(r['shape']): r['plugin'] for r in sweeps.get(key + '_fused', [])}
        labels = {'plugin': 'SoftDiceLoss (plugin)',
                  'fused': 'SoftDiceLoss fused_kernel=True (plugin)'}
        for name in names:
            ys = [(r['plugin'] if name == 'plugin' else
                   fused.get(tuple(r['shape']), {}) if name == 'fused' else
                   r['peers'].get(name, {})).get('time_ms') for r in pts]
            keep = [(a, b) for a, b in zip(xs, ys) if b is not None]
            if keep:
                ax.plot(*zip(*keep), marker='o', label=labels.get(name, name))
        ax.set_xscale('log', base=2)
        ax.set_yscale('log')
        ax.set_xlabel(label)
        ax.set_ylabel('forward + backward (ms)')
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f'plot saved to {out}')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='auto', help="'cpu', 'cuda', 'cuda:1' or 'auto'")
    parser.add_argument('--repeat', type=int, default=5,
                        help='timed rounds per entry (the minimum is reported)')
    parser.add_argument('--shapes', choices=sorted(SHAPES), default='default',
                        help="'small' for a quick run")
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument('--out', default='docs/img/benchmark_losses.png', help='plot path')
    parser.add_argument('--json', default=None, help='also save the raw results here')
    parser.add_argument('--no-sweep', action='store_true', help='skip the scaling sweep')
    parser.add_argument('--losses', nargs='*', default=None,
                        help='only the plugin losses whose name contains one of these')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(args.device)
    cases = build_cases()
    if args.losses:
        cases = [c for c in cases if any(k in c.name for k in args.losses)]
    title = (f'{device.type.upper()} ({torch.get_num_threads()} threads)'
             if device.type == 'cpu' else torch.cuda.get_device_name(device))
    print(f'# device: {title}, torch {torch.__version__}, repeat={args.repeat}')
    rows = []
    for shape in SHAPES[args.shapes]:
        repeat = args.repeat if torch.Size(shape).numel() <= 4e6 or device.type == 'cuda' \
            else max(1, args.repeat // 2)
        for case in cases:
            row = run_case(case, shape, device, repeat)
            rows.append(row)
            p = row.get('plugin', {})
            print(f"{'x'.join(map(str, row['shape'])):>16} {case.name:32s} "
                  f"plugin {p.get('time_ms', float('nan')):8.1f} ms "
                  + ' '.join(f"| {k} {v['time_ms']:.1f}" for k, v in row['peers'].items()),
                  flush=True)
    sweeps: Dict[str, List[dict]] = {}
    if not args.no_sweep:
        all_cases = {c.name: c for c in build_cases()}
        dice = all_cases['SoftDiceLoss']
        dice.peers.update(all_cases['SoftDiceLoss (batch)'].peers)
        fused = all_cases['SoftDiceLoss (fused_kernel)']
        fused.peers = dice.peers
        for key, shapes in SWEEPS[args.shapes].items():
            sweeps[key] = [run_case(dice, s, device, max(1, args.repeat // 2), memory=True)
                           for s in shapes]
            sweeps[key + '_fused'] = [run_case(fused, s, device, max(1, args.repeat // 2))
                                      for s in shapes]
            for r in sweeps[key] + sweeps[key + '_fused']:
                print(f"sweep {key}: {'x'.join(map(str, r['shape']))} plugin "
                      f"{r['plugin']['time_ms']:.1f} ms "
                      + ' '.join(f"| {k} {v['time_ms']:.1f}" for k, v in r['peers'].items()),
                      flush=True)
    print()
    print(markdown_table(rows))
    print()
    print(detail_table(rows))
    if sweeps:
        print()
        print(markdown_table(sweeps.get('voxels', []) + sweeps.get('classes', [])))
        print()
        print(markdown_table(sweeps.get('voxels_fused', []) + sweeps.get('classes_fused', [])))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(device=title, torch=torch.__version__, rows=rows, sweeps=sweeps), f,
                      indent=1)
    if args.out:
        plot(rows, sweeps, args.out, f'mmloss-plugin loss speed, {title}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
