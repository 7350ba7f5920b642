"""Demo: what a long-tail loss changes, on the synthetic demo sets, on CPU in about 10 minutes.

Trains four small models with ``tools/train.py``'s code path (mmengine ``Runner`` built from the
bundled demo configs), evaluates each on the balanced *test* split and compares them:

* classification (7 long-tailed classes, ratio ~58): slim ResNet-18 with cross-entropy vs LMF
  (focal + LDAM on a cosine head);
* segmentation (background / vessel / lesion, foreground < 5 %): slim UNet with
  cross-entropy vs cross-entropy + soft Dice.

Prints a table (balanced accuracy, macro-F1, recall of the rarest classes, foreground Dice)
and writes plots (per-class recall, confusion matrices, per-class Dice, loss curves) and
``summary.md`` to the output folder (default ``work_dirs/demo``)::

    python tools/demo.py [--out work_dirs/demo] [--jobs 2] [--quick] [--verbose]

Generates ``data/demo_cls`` and ``data/demo_seg`` first when they are missing. Runs use one
thread each and at most ``--jobs`` (default 2) at a time. ``tools/benchmark_longtail.py``
reuses the runner and the metric helpers of this file.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import pickle
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

TOOLS_DIR = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(TOOLS_DIR)

# Method -> folder of its demo config (the file is found by pattern, so a renamed
# schedule suffix such as ``-20e`` does not break the demo).
CLS_METHODS = {
    'CE': 'ce',
    'Focal': 'focal',
    'LDAM-DRW': 'ldam_drw',
    'LMF': 'lmf',
    'Logit-adj.': 'logit_adjustment',
}
SEG_METHODS = {
    'CE': 'ce',
    'CE+Dice': 'ce_dice',
    'Dice': 'dice',
    'Focal Tversky': 'focal_tversky',
    'GDL': 'generalized_dice',
}


def demo_config(task: str, method: str) -> str:
    """Path (relative to the repository root) of the bundled demo config of a method."""
    if task == 'cls':
        rel, pattern = osp.join('configs', 'classification', CLS_METHODS[method]), '*demo-cls*.py'
    else:
        rel, pattern = osp.join('configs', 'segmentation', SEG_METHODS[method]), '*demo-seg*.py'
    found = sorted(glob.glob(osp.join(REPO_ROOT, rel, pattern)))
    if len(found) != 1:
        raise FileNotFoundError(f'expected one demo config {pattern!r} in {rel}, found '
                                f'{len(found)}')
    return osp.relpath(found[0], REPO_ROOT)


DEMO_RUNS = [('cls', 'CE'), ('cls', 'LMF'), ('seg', 'CE'), ('seg', 'CE+Dice')]
RARE_K = 2  # "rare-class recall" = mean test recall of the RARE_K rarest training classes


# --------------------------------------------------------------------------- running
@dataclass
class RunSpec:
    """One training + test run (executed in its own process by :func:`worker_main`)."""

    name: str
    task: str  # 'cls' | 'seg'
    config: str
    work_dir: str
    seed: int = 0
    threads: int = 1
    data_root: Optional[str] = None  # classification: another generated demo_cls folder
    cfg_options: Dict[str, Any] = field(default_factory=dict)
    validate: bool = True

    @property
    def result_file(self) -> str:
        return osp.join(self.work_dir, 'result.json')

    @property
    def log_file(self) -> str:
        return osp.join(self.work_dir, 'run.log')


def _load_train_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('_mmloss_train_tool',
                                                  osp.join(TOOLS_DIR, 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _override_cls_data_root(cfg, data_root: str) -> None:
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            cfg[key]['dataset']['data_root'] = data_root
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key)
        if not evaluators:
            continue
        for ev in (evaluators if isinstance(evaluators, list) else [evaluators]):
            if ev.get('type') == 'LongTailMetric':
                ev['train_ann_file'] = osp.join(data_root, 'meta', 'train.txt')


def _scalars_file(log_dir: str) -> Optional[str]:
    path = osp.join(log_dir, 'vis_data', 'scalars.json')
    return path if osp.isfile(path) else None


def read_loss_curve(scalars_json: Optional[str]) -> Dict[str, List[float]]:
    """``{'step': [...], 'loss': [...]}`` from mmengine's ``vis_data/scalars.json``."""
    steps, losses = [], []
    if scalars_json and osp.isfile(scalars_json):
        with open(scalars_json) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if 'loss' in rec and 'step' in rec:
                    steps.append(int(rec['step']))
                    losses.append(float(rec['loss']))
    return {'step': steps, 'loss': losses}


def confusion_from_dump(dump_file: str, num_classes: int) -> List[List[int]]:
    """Confusion matrix (rows: ground truth, columns: prediction) from DumpResults output."""
    with open(dump_file, 'rb') as f:
        samples = pickle.load(f)
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    for s in samples:
        gt = int(np.asarray(_get(s, 'gt_label')).reshape(-1)[0])
        pred = int(np.asarray(_get(s, 'pred_label')).reshape(-1)[0])
        cm[gt, pred] += 1
    return cm.tolist()


def seg_examples_from_dump(dump_file: str, k: int = 3) -> List[dict]:
    """The ``k`` test images with the most pixels of the rarest class (+ GT and prediction)."""
    with open(dump_file, 'rb') as f:
        samples = pickle.load(f)
    items = []
    for s in samples:
        gt = np.asarray(_get(_get(s, 'gt_sem_seg'), 'data')).squeeze()
        pred = np.asarray(_get(_get(s, 'pred_sem_seg'), 'data')).squeeze()
        items.append((str(_get(s, 'img_path')), gt.astype(np.int64), pred.astype(np.int64)))
    if not items:
        return []
    num_classes = int(max(gt.max() for _, gt, _ in items if gt.size)) + 1
    totals = np.bincount(np.concatenate([gt[gt < 255].ravel() for _, gt, _ in items]),
                         minlength=num_classes)
    rare = int(np.argmin(np.where(totals > 0, totals, totals.max() + 1)))
    order = sorted(range(len(items)), key=lambda i: -int((items[i][1] == rare).sum()))
    return [dict(img_path=items[i][0], gt=items[i][1].tolist(), pred=items[i][2].tolist())
            for i in order[:k]]


def _get(sample: Any, key: str) -> Any:
    value = sample[key] if isinstance(sample, dict) else getattr(sample, key)
    return value.cpu().numpy() if hasattr(value, 'cpu') and hasattr(value, 'numpy') else value


def worker_main(spec: RunSpec) -> dict:
    """Train and test one run in this process; writes and returns ``result.json``'s content."""
    import torch
    torch.set_num_threads(max(1, spec.threads))
    train_tool = _load_train_tool()
    argv = [osp.join(REPO_ROOT, spec.config), '--work-dir', spec.work_dir]
    if not spec.validate:
        argv.append('--no-validate')
    args = train_tool.parse_args(argv)
    cfg = train_tool.build_cfg(args)
    if spec.cfg_options:
        cfg.merge_from_dict(spec.cfg_options)
    cfg.randomness = dict(seed=spec.seed, deterministic=False)
    if spec.data_root and spec.task == 'cls':
        _override_cls_data_root(cfg, spec.data_root)
    dump_file = osp.join(spec.work_dir, 'test_predictions.pkl')
    evaluators = cfg.test_evaluator
    evaluators = list(evaluators) if isinstance(evaluators, list) else [evaluators]
    cfg.test_evaluator = evaluators + [dict(type='DumpResults', out_file_path=dump_file)]
    # keep only the final checkpoint (tests use the weights at the end of training)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1, save_last=True,
                                        by_epoch=spec.task == 'cls', max_keep_ckpts=1)
    runner = train_tool.runtime.build_runner(cfg)
    t0 = time.time()
    runner.train()
    train_s = time.time() - t0
    # The test loop is run directly: ``runner.test()`` would call the hooks' ``before_run``
    # again, where mmengine's EMAHook rebuilds its averaged model from the final weights, so
    # an EMA run would be tested on its last weights instead of the average.
    metrics = runner.test_loop.run()
    classes = list(runner.test_dataloader.dataset.metainfo['classes'])
    result = dict(spec=asdict(spec), classes=classes, train_seconds=train_s,
                  metrics={k: float(v) for k, v in metrics.items()
                           if isinstance(v, (int, float, np.floating))},
                  loss_curve=read_loss_curve(_scalars_file(runner.log_dir)))
    if spec.task == 'cls':
        result['confusion'] = confusion_from_dump(dump_file, len(classes))
        result['train_counts'] = _train_counts(cfg)
    else:
        result['examples'] = seg_examples_from_dump(dump_file)
        os.remove(dump_file)  # holds the logits of every test image
    with open(spec.result_file, 'w') as f:
        json.dump(result, f, indent=1)
    return result


def _train_counts(cfg) -> Optional[List[int]]:
    ds = cfg.train_dataloader.dataset
    path = osp.join(ds.data_root, ds.ann_file)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        labels = [int(line.split()[-1]) for line in f if line.strip()]
    return np.bincount(labels, minlength=max(labels) + 1).tolist()


def progress_line(line: str, total: Optional[int]) -> Optional[str]:
    """Compact form of an mmengine train log line, or None for other lines."""
    m = re.search(r'(Epoch|Iter)\(train\)\s*\[\s*(\d+)(?:/\d+)?\]', line)
    if not m:
        return None
    loss = re.search(r'\sloss: ([0-9.eE+-]+)', line)
    unit = 'epoch' if m.group(1) == 'Epoch' else 'iter'
    pos = f'{unit} {m.group(2)}' + (f'/{total}' if total else '')
    return pos + (f'  loss {float(loss.group(1)):.4f}' if loss else '')


def run_specs(specs: Sequence[RunSpec], jobs: int = 2, verbose: bool = False,
              reuse: bool = False, echo=print) -> List[Optional[dict]]:
    """Run specs in subprocesses, ``jobs`` at a time; returns their results (None = failed).

    Progress: a header per run, then one compact line per epoch (classification) or per
    logged interval (segmentation); ``verbose`` prints mmengine's own log lines instead.
    Each run's full log is in ``<work_dir>/run.log``.
    """
    results: List[Optional[dict]] = [None] * len(specs)
    t_start = time.time()
    lock = threading.Lock()
    raw_echo = echo

    def echo(msg: str) -> None:
        with lock:
            raw_echo(msg)

    def one(i: int) -> None:
        spec = specs[i]
        if reuse and osp.isfile(spec.result_file):
            with open(spec.result_file) as f:
                results[i] = json.load(f)
            echo(f'==> [{spec.name}] reusing {spec.result_file}')
            return
        os.makedirs(spec.work_dir, exist_ok=True)
        echo(f'==> [{spec.name}] {spec.config} (seed {spec.seed}) -> {spec.work_dir}')
        env = dict(os.environ, OMP_NUM_THREADS=str(spec.threads),
                   MKL_NUM_THREADS=str(spec.threads), PYTHONUNBUFFERED='1',
                   PYTHONPATH=os.pathsep.join(
                       [REPO_ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
        cmd = [sys.executable, osp.abspath(__file__), '--worker', json.dumps(asdict(spec))]
        t0 = time.time()
        last = None
        with open(spec.log_file, 'w') as log, subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, bufsize=1) as proc:
            for line in proc.stdout:
                log.write(line)
                if verbose:
                    echo(f'[{spec.name}] {line.rstrip()}')
                    continue
                short = progress_line(line, None)
                if short is None:
                    continue
                key = short.split('  ')[0]
                if key != last:
                    last = key
                    echo(f'    [{spec.name}] {short}  ({time.time() - t0:.0f} s)')
            rc = proc.wait()
        if rc != 0 or not osp.isfile(spec.result_file):
            echo(f'!!  [{spec.name}] failed (exit status {rc}); see {spec.log_file}')
            return
        with open(spec.result_file) as f:
            results[i] = json.load(f)
        echo(f'<== [{spec.name}] done in {time.time() - t0:.0f} s '
             f'(total {time.time() - t_start:.0f} s)')

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, range(len(specs))))
    return results


# --------------------------------------------------------------------------- metrics
def cls_summary(result: dict, rare_k: int = RARE_K) -> Dict[str, float]:
    """Balanced accuracy, macro-F1, rare-class recall, per-class recall (percent)."""
    m = result['metrics']
    classes = result['classes']
    recall = [m.get(f'longtail/recall_{_safe(c)}', float('nan')) for c in classes]
    counts = result.get('train_counts')
    rare = (list(np.argsort(counts, kind='stable')[:rare_k]) if counts
            else list(range(len(classes)))[-rare_k:])
    return {
        'balanced_accuracy': m.get('longtail/balanced_accuracy', float('nan')),
        'macro_f1': m.get('longtail/macro_f1', float('nan')),
        'rare_recall': float(np.mean([recall[i] for i in rare])),
        'accuracy': m.get('longtail/accuracy', float('nan')),
        'per_class_recall': recall,
        'rare_classes': [classes[i] for i in rare],
    }


def seg_summary(result: dict) -> Dict[str, float]:
    """Foreground Dice (mean over non-background classes), mIoU, per-class Dice (percent)."""
    m = result['metrics']
    classes = result['classes']
    return {
        'fg_dice': m.get('seg/fg_dice', float('nan')),
        'mDice': m.get('seg/mDice', float('nan')),
        'mIoU': m.get('seg/mIoU', float('nan')),
        'per_class_dice': [m.get(f'seg/dice_{_safe(c)}', float('nan')) for c in classes],
        'per_class_recall': [m.get(f'seg/recall_{_safe(c)}', float('nan')) for c in classes],
    }


def _safe(name: Any) -> str:
    return re.sub(r'[^0-9A-Za-z_.-]+', '_', str(name)).strip('_') or 'class'


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def fmt(v):
        return f'{v:.1f}' if isinstance(v, float) else str(v)
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join('---' if i == 0 else '---:' for i in range(len(header))) + '|']
    lines += ['| ' + ' | '.join(fmt(v) for v in row) + ' |' for row in rows]
    return '\n'.join(lines)


def demo_table(cls_results: Dict[str, dict], seg_results: Dict[str, dict]) -> str:
    """Markdown comparison table of the demo runs (one row per method)."""
    parts = []
    if cls_results:
        rows = []
        rare = None
        for name, res in cls_results.items():
            s = cls_summary(res)
            rare = s['rare_classes']
            rows.append([name, s['balanced_accuracy'], s['macro_f1'], s['rare_recall']])
        # (on the balanced test split plain accuracy equals balanced accuracy)
        parts.append('Classification (balanced test split, 40 images per class)\n\n' +
                     markdown_table(['Loss', 'Balanced acc.', 'Macro-F1',
                                     f'Rare recall ({", ".join(rare)})'], rows))
    if seg_results:
        rows = []
        names = None
        for name, res in seg_results.items():
            s = seg_summary(res)
            names = res['classes']
            rows.append([name, s['fg_dice'], s['mIoU']] + s['per_class_dice'][1:])
        parts.append('Segmentation (test split)\n\n' + markdown_table(
            ['Loss', 'Foreground Dice', 'mIoU'] + [f'Dice {c}' for c in names[1:]], rows))
    return '\n\n'.join(parts)


# --------------------------------------------------------------------------- plots
def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


COLORS = ['#7f7f7f', '#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b']


def plot_cls(cls_results: Dict[str, dict], out_file: str) -> str:
    """Per-class recall bars, row-normalised confusion matrices and loss curves."""
    plt = _plt()
    names = list(cls_results)
    first = cls_results[names[0]]
    classes = first['classes']
    counts = first.get('train_counts') or [0] * len(classes)
    order = list(np.argsort(counts)[::-1]) if any(counts) else list(range(len(classes)))
    n = len(names)
    fig = plt.figure(figsize=(4.3 * (n + 1), 8.6), dpi=80)
    gs = fig.add_gridspec(2, n + 1, height_ratios=[1, 1.1])
    ax = fig.add_subplot(gs[0, :])
    width = 0.8 / n
    x = np.arange(len(classes))
    for j, name in enumerate(names):
        summary = cls_summary(cls_results[name])
        rec = summary['per_class_recall']
        bars = ax.bar(x + (j - (n - 1) / 2) * width, [rec[i] for i in order], width,
                      color=COLORS[j % len(COLORS)],
                      label=f'{name} (balanced acc. {summary["balanced_accuracy"]:.1f})')
        for b, i in zip(bars, order):
            ax.text(b.get_x() + b.get_width() / 2, rec[i] + 1, f'{rec[i]:.0f}', ha='center',
                    fontsize=8)
    ax.set_xticks(x)
    ax.set_xticklabels([f'{classes[i]}\nn={counts[i]}' for i in order])
    ax.set_ylabel('test recall (%)')
    ax.set_ylim(0, 112)
    ax.set_title('Per-class recall on the balanced test split; classes sorted by training '
                 'count n (head -> tail)')
    ax.legend(loc='lower left', fontsize=9)
    ax.grid(axis='y', alpha=0.3)
    axl = fig.add_subplot(gs[1, n])
    for j, name in enumerate(names):
        curve = cls_results[name]['loss_curve']
        if curve['step']:
            axl.plot(curve['step'], curve['loss'], color=COLORS[j % len(COLORS)], label=name)
    axl.set_yscale('log')
    axl.set_xlabel('iteration')
    axl.set_title('Training loss (each on its own scale)')
    if any(cls_results[k]['loss_curve']['step'] for k in names):
        axl.legend(fontsize=9)
    for j, name in enumerate(names):
        cm = np.asarray(cls_results[name]['confusion'], dtype=float)[order][:, order]
        cm = 100 * cm / np.maximum(cm.sum(1, keepdims=True), 1)
        axc = fig.add_subplot(gs[1, j])
        axc.imshow(cm, cmap='Blues', vmin=0, vmax=100)
        for r in range(len(classes)):
            for c in range(len(classes)):
                axc.text(c, r, f'{cm[r, c]:.0f}', ha='center', va='center', fontsize=8,
                         color='white' if cm[r, c] > 55 else 'black')
        labels = [classes[i] for i in order]
        axc.set_xticks(range(len(classes)))
        axc.set_xticklabels(labels, rotation=45, fontsize=8)
        axc.set_yticks(range(len(classes)))
        axc.set_yticklabels(labels, fontsize=8)
        axc.set_xlabel('predicted')
        axc.set_ylabel('true')
        axc.set_title(f'{name}: confusion (% of true class)')
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
    return out_file


def plot_seg(seg_results: Dict[str, dict], out_file: str) -> str:
    """Per-class Dice and recall bars and loss curves."""
    plt = _plt()
    names = list(seg_results)
    classes = seg_results[names[0]]['classes']
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), dpi=80)
    n = len(names)
    width = 0.8 / n
    x = np.arange(len(classes))
    for key, ax, title in (('per_class_dice', axes[0], 'Dice'),
                           ('per_class_recall', axes[1], 'Recall')):
        for j, name in enumerate(names):
            s = seg_summary(seg_results[name])
            label = f'{name} (fg Dice {s["fg_dice"]:.1f})' if key == 'per_class_dice' else name
            bars = ax.bar(x + (j - (n - 1) / 2) * width, s[key], width,
                          color=COLORS[j % len(COLORS)], label=label)
            for b, v in zip(bars, s[key]):
                ax.text(b.get_x() + b.get_width() / 2, v + 1, f'{v:.0f}', ha='center',
                        fontsize=8)
        ax.set_xticks(x)
        ax.set_xticklabels(classes)
        ax.set_ylim(0, 125)
        ax.set_ylabel(f'test {title} (%)')
        ax.set_title(f'Per-class {title}')
        ax.grid(axis='y', alpha=0.3)
        ax.legend(loc='upper right', fontsize=9, ncol=2)
    for j, name in enumerate(names):
        curve = seg_results[name]['loss_curve']
        if curve['step']:
            axes[2].plot(curve['step'], curve['loss'], color=COLORS[j % len(COLORS)],
                         label=name)
    axes[2].set_yscale('log')
    axes[2].set_xlabel('iteration')
    axes[2].set_title('Training loss (each loss on its own scale)')
    if any(seg_results[n]['loss_curve']['step'] for n in names):
        axes[2].legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
    return out_file


def _overlay(img: np.ndarray, mask: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    out = img.astype(np.float32).copy()
    for c, color in enumerate(palette):
        if c == 0:
            continue
        sel = mask == c
        out[sel] = 0.35 * out[sel] + 0.65 * np.asarray(color, dtype=np.float32)
    return out.clip(0, 255).astype(np.uint8)


def plot_seg_examples(seg_results: Dict[str, dict], out_file: str) -> Optional[str]:
    """Test images with ground truth and each method's prediction overlaid."""
    names = [n for n in seg_results if seg_results[n].get('examples')]
    if not names:
        return None
    plt = _plt()
    from PIL import Image
    examples = seg_results[names[0]]['examples']
    palette = [(0, 0, 0), (0, 220, 255), (60, 255, 60), (255, 60, 200), (255, 230, 0)]
    rows, cols = len(examples), 2 + len(names)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows + 0.4), dpi=80,
                             squeeze=False)
    for r, ex in enumerate(examples):
        path = ex['img_path']
        img = (np.asarray(Image.open(path).convert('RGB')) if osp.isfile(path)
               else np.zeros(np.asarray(ex['gt']).shape + (3,), np.uint8))
        panels = [('image', img), ('ground truth', _overlay(img, np.asarray(ex['gt']), palette))]
        for name in names:
            match = [e for e in seg_results[name]['examples'] if e['img_path'] == path]
            pred = np.asarray(match[0]['pred']) if match else np.zeros_like(ex['gt'])
            panels.append((name, _overlay(img, pred, palette)))
        for c, (title, panel) in enumerate(panels):
            axes[r, c].imshow(panel, interpolation='nearest')
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(title)
    classes = seg_results[names[0]]['classes']
    fig.suptitle('Test images (most lesion pixels): ' + ', '.join(
        f'{c} = {col}' for c, col in zip(classes[1:], ['cyan', 'green', 'magenta', 'yellow'])))
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
    return out_file


# --------------------------------------------------------------------------- demo
def ensure_demo_data(data_dir: str = 'data', echo=print) -> None:
    """Generate data/demo_cls and data/demo_seg when they are missing (seconds)."""
    needed = [p for p in ('demo_cls', 'demo_seg')
              if not osp.isfile(osp.join(REPO_ROOT, data_dir, p, 'manifest.json'))]
    if not needed:
        return
    echo(f'==> generating demo data ({", ".join(needed)}) under {data_dir}/')
    subprocess.run([sys.executable, osp.join(TOOLS_DIR, 'make_demo_data.py'), '--out',
                    osp.join(REPO_ROOT, data_dir)], check=True)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default='work_dirs/demo', help='output folder')
    p.add_argument('--jobs', type=int, default=2, help='runs in parallel (1 thread each)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--quick', action='store_true',
                   help='a few iterations per run (checks the pipeline, numbers meaningless)')
    p.add_argument('--reuse', action='store_true',
                   help='reuse finished runs found in --out (re-draws table and plots)')
    p.add_argument('--verbose', action='store_true', help="print mmengine's log lines")
    p.add_argument('--worker', help=argparse.SUPPRESS)
    return p.parse_args(argv)


def demo_specs(out: str, seed: int = 0, quick: bool = False) -> List[RunSpec]:
    specs = []
    for task, name in DEMO_RUNS:
        config = demo_config(task, name)
        opts = {}
        if quick:
            opts = ({'train_cfg.max_epochs': 1} if task == 'cls'
                    else {'train_cfg.max_iters': 10, 'train_cfg.val_interval': 10})
        slug = re.sub(r'[^0-9a-z]+', '-', name.lower()).strip('-')
        specs.append(RunSpec(name=f'{task}-{slug}', task=task, config=config,
                             work_dir=osp.join(out, f'{task}_{slug}'), seed=seed,
                             cfg_options=opts, validate=not quick))
    return specs


def report(specs: Sequence[RunSpec], results: Sequence[Optional[dict]], out: str,
           echo=print) -> str:
    """Table (printed and written to summary.md) and plots for finished demo runs."""
    cls_res, seg_res = {}, {}
    for (task, name), res in zip(DEMO_RUNS, results):
        if res is not None:
            (cls_res if task == 'cls' else seg_res)[name] = res
    table = demo_table(cls_res, seg_res)
    plots = []
    if cls_res:
        plots.append(plot_cls(cls_res, osp.join(out, 'classification.png')))
    if seg_res:
        plots.append(plot_seg(seg_res, osp.join(out, 'segmentation.png')))
        examples = plot_seg_examples(seg_res, osp.join(out, 'segmentation_examples.png'))
        if examples:
            plots.append(examples)
    with open(osp.join(out, 'summary.md'), 'w') as f:
        f.write('# mmloss-plugin demo\n\n' + table + '\n\n' +
                '\n'.join(f'![{osp.basename(p)}]({osp.basename(p)})' for p in plots) + '\n')
    echo('\n' + table + '\n')
    echo('Plots: ' + ', '.join(plots))
    return table


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker_main(RunSpec(**json.loads(args.worker)))
        return 0
    t0 = time.time()
    out = osp.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    ensure_demo_data()
    specs = demo_specs(out, args.seed, args.quick)
    results = run_specs(specs, jobs=args.jobs, verbose=args.verbose, reuse=args.reuse)
    report(specs, results, out)
    failed = [s.name for s, r in zip(specs, results) if r is None]
    print(f'Demo finished in {time.time() - t0:.0f} s; outputs in {out}')
    if failed:
        print(f'error: failed runs: {", ".join(failed)}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
