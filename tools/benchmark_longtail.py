"""Effectiveness benchmark of the plugin's losses on the synthetic demo sets (CPU, several seeds).

Trains every bundled demo recipe (classification: CE, focal, LDAM, LDAM-DRW, LMF, logit-adjusted
CE; segmentation: CE, CE+Dice, Dice, Focal Tversky, Generalized Dice) with ``--seeds`` seeds,
evaluates on the balanced test split and writes a mean +- std table and a plot::

    python tools/benchmark_longtail.py [--seeds 3] [--imbalance-ratio R] [--only cls|seg]
                                       [--jobs 2] [--methods CE LMF] [--no-docs]

``--imbalance-ratio R`` (default 100) generates ``data/bench/demo_cls_irR`` (the demo
generator's HAM10000-like profile reshaped to ratio R; balanced val split of 40 and test split
of ``--test-per-class`` images per class, default 100, so that one test image moves a class
recall by 1 point, not 2.5) and trains on it; ``--imbalance-ratio 0`` uses the default demo set
(ratio ~58, 40 test images per class). Seeds change initialisation and data order, not the
data (``--data-seed N`` generates an independent replicate of the set, to tune recipes on
without reading the reported one); runs go seed by seed (all methods' seed 0 first). Results:
``work_dirs/benchmark_longtail/summary.json``; unless ``--no-docs``, the section
"Effectiveness (demo data)" of ``docs/benchmarks.md``, ``docs/img/benchmark_*.png``, the
model-zoo section of ``README.md`` and the demo rows of the config folders' READMEs are
(re)written. ``--reuse`` skips runs whose ``result.json`` exists.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import demo  # noqa: E402  (tools/demo.py: runner, metric helpers, plots)

SECTION = 'Effectiveness (demo data)'

# benchmark name -> (task, demo method, extra cfg options)
CLS_RUNS = {
    'CE': ('CE', {}),
    'Focal': ('Focal', {}),
    # LDAM without re-weighting: the LDAM-DRW recipe with the DRW hook removed
    'LDAM': ('LDAM-DRW', {'custom_hooks': [dict(type='ClassCountsHook')]}),
    'LDAM-DRW': ('LDAM-DRW', {}),
    'LMF': ('LMF', {}),
    'Logit-adj.': ('Logit-adj.', {}),
}
SEG_RUNS = {
    'CE': ('CE', {}),
    'CE+Dice': ('CE+Dice', {}),
    'Dice': ('Dice', {}),
    'Focal Tversky': ('Focal Tversky', {}),
    'GDL': ('GDL', {}),
}

#: Values aggregated for the model-zoo tables only (not columns of the docs tables).
ZOO_ONLY = ('Train s', 'Top-1 acc.', 'Few-shot acc.', 'mDice')
#: Metric columns of the model-zoo tables (config READMEs use the same header cells).
ZOO_COLUMNS = {'cls': ('Top-1 acc.', 'Balanced acc.', 'Macro-F1', 'Few-shot acc.'),
               'seg': ('mDice', 'mIoU', 'Foreground Dice')}
ZOO_DEMO_ROW = '| demo (synthetic'
ZOO_NOTE = ('Results are filled in', 'Demo row:')
ZOO_START, ZOO_END = '<!-- zoo:start -->', '<!-- zoo:end -->'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seeds', type=int, default=3, help='number of seeds (0, 1, ...)')
    p.add_argument('--imbalance-ratio', type=float, default=100.0,
                   help='classification imbalance ratio (largest / smallest training count); '
                   '0 = the default demo set data/demo_cls (HAM10000 profile, ~58)')
    p.add_argument('--test-per-class', type=int, default=100,
                   help='balanced test images per class of the generated set (not used with '
                   '--imbalance-ratio 0)')
    p.add_argument('--only', choices=['cls', 'seg'])
    p.add_argument('--jobs', type=int, default=2, help='runs in parallel (1 thread each)')
    p.add_argument('--methods', nargs='+', help='subset of methods (names as in the table)')
    p.add_argument('--out', default='work_dirs/benchmark_longtail')
    p.add_argument('--docs', default='docs/benchmarks.md')
    p.add_argument('--img-dir', default='docs/img')
    p.add_argument('--readme', default='README.md',
                   help='README whose model-zoo section (between the zoo markers) is rewritten')
    p.add_argument('--no-docs', action='store_true',
                   help='do not touch docs/, the README or the config READMEs')
    p.add_argument('--reuse', action='store_true', help='reuse finished runs in --out')
    p.add_argument('--note', default='', help='extra markdown paragraph for the docs section '
                   '(after the tables)')
    p.add_argument('--collect-only', action='store_true',
                   help='train nothing: tabulate the finished runs found in --out')
    p.add_argument('--split', choices=['test', 'val'], default='test',
                   help='split every run is evaluated on; "val" is for tuning recipes without '
                   'reading the test split (needs --no-docs: the docs report the test split)')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='config overrides applied to every run, e.g. model.head.loss.s=16 '
                   '(values parsed as Python literals; for recipe searches, with --no-docs)')
    p.add_argument('--data-seed', type=int, default=0,
                   help='generator seed of the classification set; another seed gives an '
                   'independent replicate (data/bench/demo_cls_irR_dN, same profile and '
                   'splits) to tune recipes on without touching the reported data (needs '
                   '--no-docs and --imbalance-ratio > 0)')
    p.add_argument('--verbose', action='store_true')
    args = p.parse_args(argv)
    if (args.split != 'test' or args.cfg_options or args.data_seed) and not args.no_docs:
        p.error('--split val, --cfg-options and --data-seed are for recipe searches: add '
                '--no-docs (the docs and model-zoo tables report the bundled configs on the '
                'test split of the data-seed-0 set)')
    if args.data_seed < 0 or (args.data_seed and not args.imbalance_ratio):
        p.error('--data-seed must be an int >= 0, and a non-zero one needs --imbalance-ratio '
                '> 0 (the default demo set data/demo_cls is generated with seed 0)')
    args.overrides = {}
    for item in args.cfg_options:
        key, sep, value = item.partition('=')
        if not sep or not key:
            p.error(f'--cfg-options expects KEY=VALUE entries, got {item!r}')
        try:
            args.overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            if any(c in value for c in '([{'):  # meant as Python, e.g. dict(max_norm=5)
                p.error(f'--cfg-options {key}: {value!r} is not a Python literal; write '
                        "dicts as {'max_norm': 5.0} and lists as [1, 2] (plain strings, "
                        'such as type names, need no quotes)')
            args.overrides[key] = value  # a plain string, e.g. a type name
    return args


#: ``test_dataloader`` overrides that evaluate on the val split instead (``--split val``).
VAL_SPLIT = {
    'cls': {'test_dataloader.dataset.ann_file': 'meta/val.txt'},
    'seg': {'test_dataloader.dataset.data_prefix': dict(img_path='img_dir/val',
                                                        seg_map_path='ann_dir/val')},
}


def _slug(name: str) -> str:
    return re.sub(r'[^0-9a-z]+', '-', name.lower()).strip('-')


def cls_data_root(ratio: Optional[float], test_per_class: int = 100,
                  data_seed: int = 0) -> Optional[str]:
    """Generate (once) and return the demo classification set with imbalance ``ratio``
    (``data_seed`` > 0: an independent replicate of it, for tuning)."""
    if ratio is None:
        return None
    name = f'demo_cls_ir{ratio:g}' + (f'_d{data_seed}' if data_seed else '')
    out = osp.join(demo.REPO_ROOT, 'data', 'bench')
    subprocess.run([sys.executable, osp.join(demo.TOOLS_DIR, 'make_demo_data.py'), '--only',
                    'cls', '--imbalance-ratio', str(ratio), '--test-per-class',
                    str(test_per_class), '--out', out, '--cls-name', name, '--seed',
                    str(data_seed), '--quiet'],
                   check=True)
    return osp.join(out, name)


def build_specs(args: argparse.Namespace) -> List[demo.RunSpec]:
    """Seed-major order: every method's seed 0 first, so a stopped run leaves whole seeds."""
    specs = []
    ir_tag = f'ir{args.imbalance_ratio:g}' if args.imbalance_ratio else 'default'
    for task, runs in (('cls', CLS_RUNS), ('seg', SEG_RUNS)):
        if args.only not in (None, task):
            continue
        data_root = (cls_data_root(args.imbalance_ratio or None, args.test_per_class,
                                   args.data_seed) if task == 'cls' else None)
        for seed in range(args.seeds):
            for name, (method, opts) in runs.items():
                if args.methods and name not in args.methods:
                    continue
                if args.split == 'val':
                    opts = {**opts, **VAL_SPLIT[task]}
                opts = {**opts, **args.overrides}
                sub = f'cls_{ir_tag}' if task == 'cls' else 'seg'
                specs.append(demo.RunSpec(
                    name=f'{task}-{_slug(name)}-s{seed}', task=task,
                    config=demo.demo_config(task, method),
                    work_dir=osp.join(osp.abspath(args.out), sub, f'{_slug(name)}_s{seed}'),
                    seed=seed, data_root=data_root, cfg_options=opts, validate=False))
    return specs


def aggregate(specs: Sequence[demo.RunSpec], results: Sequence[Optional[dict]]) -> Dict:
    """``{task: {method: {metric: [values over seeds]}}}``."""
    table: Dict[str, Dict[str, Dict[str, List[float]]]] = {'cls': {}, 'seg': {}}
    for spec, res in zip(specs, results):
        if res is None:
            continue
        method = spec.name[len(spec.task) + 1:].rsplit('-s', 1)[0]
        runs = CLS_RUNS if spec.task == 'cls' else SEG_RUNS
        method = next(n for n in runs if _slug(n) == method)
        entry = table[spec.task].setdefault(method, {})
        if spec.task == 'cls':
            s = demo.cls_summary(res)
            vals = {'Balanced acc.': s['balanced_accuracy'], 'Macro-F1': s['macro_f1'],
                    'Rare recall': s['rare_recall'], 'Top-1 acc.': s['accuracy'],
                    'Few-shot acc.': res['metrics'].get('longtail/few_shot_acc',
                                                        float('nan'))}
        else:
            s = demo.seg_summary(res)
            vals = {'Foreground Dice': s['fg_dice'], 'mIoU': s['mIoU'], 'mDice': s['mDice']}
            for c, d in zip(res['classes'][1:], s['per_class_dice'][1:]):
                vals[f'Dice {c}'] = d
        vals['Train s'] = res.get('train_seconds', float('nan'))
        for k, v in vals.items():
            entry.setdefault(k, []).append(float(v))
    return table


def _mean_std(values: Sequence[float]) -> str:
    v = np.asarray(values, dtype=float)
    if v.size == 1:
        return f'{v[0]:.1f}'
    return f'{v.mean():.1f} ± {v.std(ddof=1):.1f}'


def welch_interval(a: Sequence[float], b: Sequence[float],
                   level: float = 0.95) -> Optional[tuple]:
    """Welch's t confidence interval of ``mean(a) - mean(b)`` (unequal variances).

    ``None`` with fewer than 2 values on either side, or when scipy (installed with
    mmsegmentation) is missing. Zero spread on both sides gives the point estimate twice.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        return None
    try:
        from scipy.stats import t as student_t
    except ImportError:
        return None
    diff = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = np.sqrt(va + vb)
    if se == 0:
        return diff, diff
    dof = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = student_t.ppf(0.5 + level / 2, dof) * se
    return diff - half, diff + half


def results_table(methods: Dict[str, Dict[str, List[float]]], cols: Sequence[str], key: str,
                  extra_header: Sequence[str], extra_cells, interval: bool = False) -> str:
    """Markdown table, a row per method: mean ± std of ``cols``, the gain in ``key`` over CE
    (when CE ran; with ``interval``, also its 95 % Welch confidence interval), then
    ``extra_cells(name, values)`` under ``extra_header``."""
    base = np.mean(methods['CE'][key]) if 'CE' in methods else None
    header = ['Loss'] + list(cols) + ([f'Δ {key} vs CE'] if base is not None else [])
    if base is not None and interval:
        header.append('95 % CI of Δ')
    rows = []
    for name, vals in methods.items():
        row = [name] + [_mean_std(vals[c]) for c in cols]
        if base is not None:
            row.append(f'{np.mean(vals[key]) - base:+.1f}')
            if interval:
                ci = None if name == 'CE' else welch_interval(vals[key], methods['CE'][key])
                row.append('–' if ci is None else f'{ci[0]:+.1f} to {ci[1]:+.1f}')
        rows.append(row + list(extra_cells(name, vals)))
    return demo.markdown_table(header + list(extra_header), rows)


def tables_markdown(table: Dict) -> str:
    parts = []
    for task, key, title in (('cls', 'Balanced acc.', 'Classification'),
                             ('seg', 'Foreground Dice', 'Segmentation')):
        methods = table.get(task) or {}
        if not methods:
            continue
        cols = [c for c in next(iter(methods.values())) if c not in ZOO_ONLY]
        md = results_table(methods, cols, key, ['Seeds', 'Train s/run'],
                           lambda _, vals, key=key: [str(len(vals[key])),
                                                     f'{np.mean(vals["Train s"]):.0f}'],
                           interval=True)
        parts.append(f'**{title}**\n\n' + md)
    return '\n\n'.join(parts)


def plot(table: Dict, out_file: str, task: str) -> Optional[str]:
    methods = table.get(task) or {}
    if not methods:
        return None
    plt = demo._plt()
    keys = (['Balanced acc.', 'Macro-F1', 'Rare recall'] if task == 'cls'
            else [k for k in next(iter(methods.values())) if k.startswith(('Foreground',
                                                                             'Dice '))])
    names = list(methods)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(names) * len(keys) / 2.2, 3.8), dpi=80)
    width = 0.8 / len(keys)
    x = np.arange(len(names))
    for j, k in enumerate(keys):
        means = [np.mean(methods[n][k]) for n in names]
        stds = [np.std(methods[n][k], ddof=1) if len(methods[n][k]) > 1 else 0 for n in names]
        bars = ax.bar(x + (j - (len(keys) - 1) / 2) * width, means, width, yerr=stds,
                      capsize=3, color=demo.COLORS[(j + 1) % len(demo.COLORS)], label=k)
        for b, m in zip(bars, means):
            ax.text(b.get_x() + b.get_width() / 2, 1, f'{m:.0f}', ha='center', fontsize=7,
                    color='white')
    if 'CE' in methods:
        ax.axhline(np.mean(methods['CE'][keys[0]]), color='k', ls='--', lw=0.8,
                   label=f'CE {keys[0].lower()}')
    ax.set_xticks(x)
    ax.set_xticklabels(names)
    ax.set_ylabel('test score (%)')
    ax.set_ylim(0, 115)
    seeds = len(next(iter(methods.values()))[keys[0]])
    ax.set_title(('Classification, long-tailed demo set' if task == 'cls' else
                  'Segmentation, sparse-foreground demo set') + f' (mean ± std, {seeds} seeds)')
    ax.legend(fontsize=8, loc='upper center', ncol=len(keys) + 1)
    ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
    return out_file


def replace_section(doc_file: str, title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of a markdown file, keeping the rest."""
    text = '# Benchmarks\n'
    if osp.isfile(doc_file):
        with open(doc_file) as f:
            text = f.read()
    lines = text.rstrip('\n').split('\n')
    start = next((i for i, line in enumerate(lines) if line.strip() == f'## {title}'), None)
    new = [f'## {title}', ''] + body.rstrip('\n').split('\n')
    if start is None:
        lines += [''] + new
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith('## ')),
                   len(lines))
        lines = lines[:start] + new + ([''] + lines[end:] if end < len(lines) else [])
    with open(doc_file, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    os.chdir(demo.REPO_ROOT)
    demo.ensure_demo_data()
    specs = build_specs(args)
    if not specs:
        print('error: nothing to run (check --methods / --only)', file=sys.stderr)
        return 2
    if not args.collect_only:
        print(f'{len(specs)} runs, {args.jobs} at a time')
    if args.collect_only:
        results = []
        for spec in specs:
            found = osp.isfile(spec.result_file)
            if found:
                with open(spec.result_file) as f:
                    results.append(json.load(f))
            else:
                results.append(None)
        specs_done = [s for s, r in zip(specs, results) if r is not None]
        print(f'collected {len(specs_done)} of {len(specs)} runs')
    else:
        results = demo.run_specs(specs, jobs=args.jobs, verbose=args.verbose,
                                 reuse=args.reuse)
    table = aggregate(specs, results)
    md = tables_markdown(table)
    wall = None if args.collect_only else time.time() - t0
    train_min = sum(r.get('train_seconds', 0) for r in results if r) / 60
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'summary.json'), 'w') as f:
        json.dump(dict(args=vars(args), wall_seconds=wall, table=table), f, indent=1)
    print('\n' + md + (f'\n\nWall time {wall / 60:.1f} min' if wall else ''))
    failed = [] if args.collect_only else [s.name for s, r in zip(specs, results) if r is None]
    if not args.no_docs:
        os.makedirs(args.img_dir, exist_ok=True)
        imgs = [p for p in (plot(table, osp.join(args.img_dir, f'benchmark_{t}.png'), t)
                            for t in ('cls', 'seg')) if p]
        print('Plots: ' + ', '.join(imgs))
        shown, skip = [], False
        for a in (argv if argv is not None else sys.argv[1:]):
            if skip or a == '--note':  # the note is printed below the tables
                skip = not skip
                continue
            shown.append(a if a.startswith('-') or ' ' not in a else repr(a))
        cmd = 'python tools/benchmark_longtail.py ' + ' '.join(shown)
        body = docs_body(args, md, imgs, wall, train_min, cmd.strip())
        replace_section(args.docs, SECTION, body)
        print(f'Updated section "{SECTION}" of {args.docs}')
        for path in update_zoo(table, args, cmd.strip(), args.readme):
            print(f'Updated the results table of {osp.relpath(path, demo.REPO_ROOT)}')
    if failed:
        print(f'error: failed runs: {", ".join(failed)}', file=sys.stderr)
        return 1
    return 0


def zoo_readme(task: str, name: str) -> Optional[str]:
    """README of the config folder of a benchmark entry; None for ablations (extra options)."""
    method, opts = (CLS_RUNS if task == 'cls' else SEG_RUNS)[name]
    if opts:
        return None
    return osp.join(demo.REPO_ROOT, osp.dirname(demo.demo_config(task, method)), 'README.md')


def _cells(line: str) -> List[str]:
    return [c.strip() for c in line.strip().strip('|').split('|')]


def fill_zoo_row(text: str, values: Dict[str, str], dataset: str, note: str) -> str:
    """Fill the demo row of a config README's results table (cells named by the header).

    The row is the one starting with ``| demo (synthetic``; its dataset cell becomes
    ``dataset`` and every cell whose header is a key of ``values`` gets that value. The
    paragraph line above the table that starts with one of ``ZOO_NOTE`` becomes ``note``.
    """
    lines = text.split('\n')
    header: Optional[List[str]] = None
    for i, line in enumerate(lines):
        if line.startswith('| Dataset'):
            header = _cells(line)
        elif line.startswith(ZOO_DEMO_ROW) and header:
            cells = _cells(line)
            cells[0] = dataset
            for j, col in enumerate(header[:len(cells)]):
                if col in values:
                    cells[j] = values[col]
            lines[i] = '| ' + ' | '.join(cells) + ' |'
        elif line.startswith(ZOO_NOTE):
            lines[i] = note
    return '\n'.join(lines)


def zoo_markdown(table: Dict, args: argparse.Namespace, cmd: str) -> str:
    """The README's model-zoo section body: one row per bundled demo recipe."""
    parts = [f'Demo data, mean ± std over the seeds, from `{cmd}` '
             f'(details and plots: [docs/benchmarks.md](docs/benchmarks.md)).']
    for task, key, title in (('cls', 'Balanced acc.', 'Classification (ResNet-18 width 1/4, '
                              f'30 epochs, demo set at imbalance ratio {_ratio(args)})'),
                             ('seg', 'Foreground Dice', 'Segmentation (UNet width 16, '
                              '500 iterations, demo set)')):
        methods = {n: v for n, v in (table.get(task) or {}).items() if zoo_readme(task, n)}
        if not methods:
            continue
        runs = CLS_RUNS if task == 'cls' else SEG_RUNS

        def config_link(name, _, task=task, runs=runs):
            config = demo.demo_config(task, runs[name][0])
            return [f'[{osp.basename(config)}]({config})']
        md = results_table(methods, ZOO_COLUMNS[task], key, ['Config'], config_link)
        parts.append(f'**{title}**\n\n' + md)
    return '\n\n'.join(parts)


def update_zoo(table: Dict, args: argparse.Namespace, cmd: str, readme: str) -> List[str]:
    """Write the results into the config READMEs' demo rows and the README's zoo section."""
    written = []
    for task in ('cls', 'seg'):
        for name, vals in (table.get(task) or {}).items():
            path = zoo_readme(task, name)
            if path is None or not osp.isfile(path):
                continue
            seeds = len(next(iter(vals.values())))
            dataset = ('demo (synthetic, 64x64' +
                       (f', imbalance ratio {_ratio(args)})' if task == 'cls' else ')'))
            note = (f'Demo row: mean ± std over {seeds} seeds on the test split (classification: '
                    'balanced, so top-1 equals balanced accuracy), from '
                    f'`{cmd}` (see [docs/benchmarks.md](../../../docs/benchmarks.md)). '
                    '`—`: not trained by us (the real datasets need a download and, at these '
                    'schedules, a GPU); no number is claimed for them.')
            values = {c: _mean_std(vals[c]) for c in ZOO_COLUMNS[task] if c in vals}
            with open(path) as f:
                text = f.read()
            new = fill_zoo_row(text, values, dataset, note)
            if new != text:
                with open(path, 'w') as f:
                    f.write(new)
                written.append(path)
    if osp.isfile(readme):
        with open(readme) as f:
            text = f.read()
        if ZOO_START in text and ZOO_END in text:
            head, rest = text.split(ZOO_START, 1)
            tail = rest.split(ZOO_END, 1)[1]
            body = zoo_markdown(table, args, cmd)
            with open(readme, 'w') as f:
                f.write(f'{head}{ZOO_START}\n{body}\n{ZOO_END}{tail}')
            written.append(readme)
    return written


def _ratio(args: argparse.Namespace) -> str:
    return f'{args.imbalance_ratio:g}' if args.imbalance_ratio else '~58 (HAM10000 profile)'


def docs_body(args, md: str, imgs: Sequence[str], wall: Optional[float], train_min: float,
              cmd: str) -> str:
    ratio = _ratio(args)
    rel = [osp.relpath(p, osp.dirname(osp.abspath(args.docs))) for p in imgs]
    timing = (f'wall time {wall / 60:.0f} min' if wall else
              f'{train_min:.0f} min of training in total')
    return '\n'.join([
        'Generated by `tools/benchmark_longtail.py` (do not edit by hand: rerun it).',
        '',
        f'Command: `{cmd}` — up to {args.seeds} seed(s), classification imbalance ratio '
        f'{ratio}, {args.jobs} run(s) in parallel with one CPU thread each; {timing}.',
        '',
        'Every run trains one bundled demo config from scratch (classification: slim '
        'ResNet-18, 64x64 inputs, 30 epochs, on the 7-class demo set generated by '
        '`tools/make_demo_data.py` with that imbalance ratio; segmentation: slim UNet, '
        '500 iterations, on `data/demo_seg`, background / vessel / lesion, foreground '
        '3 % of the pixels) and is evaluated once, after the '
        'last iteration, on the balanced **test** split '
        f'({args.test_per_class if args.imbalance_ratio else 40} images per class; 60 '
        'segmentation images). Values are percent, mean ± sample std over seeds (seeds '
        'change initialisation and data order). Rare recall = mean recall of the two '
        'rarest training classes. Foreground Dice = mean Dice of vessel and lesion. '
        '"95 % CI of Δ": Welch\'s t interval of the difference of the means (seeds as '
        'independent samples). LDAM = the LDAM-DRW recipe without `DRWHook`.',
        '',
        md,
        '',
    ] + ([args.note, ''] if args.note else []) + [f'![{osp.basename(p)}]({p})' for p in rel]
        + [''])


if __name__ == '__main__':
    sys.exit(main())
