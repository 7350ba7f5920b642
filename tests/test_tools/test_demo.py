"""Fast tests of tools/demo.py and tools/benchmark_longtail.py on fake run results.

No training: the results dictionaries below have the layout ``worker_main`` writes, with
numbers chosen by hand, so the summaries, tables, plots and docs section can be checked
against values computed here.
"""
import importlib.util
import json
import os.path as osp
import sys

import numpy as np
import pytest

TOOLS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools')


def _load(name):
    if TOOLS not in sys.path:
        sys.path.insert(0, TOOLS)
    spec = importlib.util.spec_from_file_location(f'_test_{name}', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def demo():
    return _load('demo')


@pytest.fixture(scope='module')
def bench():
    return _load('benchmark_longtail')


CLASSES = ['A', 'B', 'C', 'D']
COUNTS = [100, 500, 10, 20]  # rarest: C (10), then D (20)


def fake_cls(recalls, seconds=1.0):
    conf = np.zeros((4, 4), dtype=int)
    for c, r in enumerate(recalls):  # 10 test images per class
        hit = int(round(r / 10))
        conf[c, c] = hit
        conf[c, 1] += 10 - hit  # misses go to the head class B
    metrics = {f'longtail/recall_{c}': float(r) for c, r in zip(CLASSES, recalls)}
    metrics['longtail/balanced_accuracy'] = float(np.mean(recalls))
    metrics['longtail/macro_f1'] = 42.0
    metrics['longtail/accuracy'] = float(np.mean(recalls))
    return dict(classes=CLASSES, metrics=metrics, confusion=conf.tolist(),
                train_counts=COUNTS, train_seconds=seconds,
                loss_curve={'step': [10, 20, 30], 'loss': [2.0, 1.0, 0.5]})


def fake_seg(dice_vessel, dice_lesion):
    classes = ['background', 'vessel', 'lesion']
    dices = [99.0, dice_vessel, dice_lesion]
    metrics = {f'seg/dice_{c}': d for c, d in zip(classes, dices)}
    metrics.update({f'seg/recall_{c}': d for c, d in zip(classes, dices)})
    metrics['seg/fg_dice'] = (dice_vessel + dice_lesion) / 2
    metrics['seg/mIoU'] = 50.0
    metrics['seg/mDice'] = float(np.mean(dices))
    return dict(classes=classes, metrics=metrics, train_seconds=2.0,
                loss_curve={'step': [25, 50], 'loss': [0.3, 0.2]})


def test_cls_summary_rare_recall(demo):
    s = demo.cls_summary(fake_cls([80, 90, 20, 40]))
    assert s['rare_classes'] == ['C', 'D']
    assert s['rare_recall'] == pytest.approx(30.0)  # (20 + 40) / 2
    assert s['balanced_accuracy'] == pytest.approx(57.5)
    assert s['per_class_recall'] == [80, 90, 20, 40]


def test_seg_summary(demo):
    s = demo.seg_summary(fake_seg(60.0, 30.0))
    assert s['fg_dice'] == pytest.approx(45.0)
    assert s['per_class_dice'] == [99.0, 60.0, 30.0]


def test_demo_table_and_plots(demo, tmp_path):
    cls = {'CE': fake_cls([80, 90, 20, 40]), 'LMF': fake_cls([70, 80, 60, 50])}
    seg = {'CE': fake_seg(60.0, 30.0), 'CE+Dice': fake_seg(70.0, 50.0)}
    table = demo.demo_table(cls, seg)
    cls_part, seg_part = table.split('Segmentation')

    def rows(text):
        return {line.split('|')[1].strip(): line for line in text.split('\n')
                if line.startswith('| ')}
    assert '| 57.5 | 42.0 | 30.0 |' in rows(cls_part)['CE']  # bal. acc., macro-F1, rare
    assert '| 65.0 | 42.0 | 55.0 |' in rows(cls_part)['LMF']
    assert 'Rare recall (C, D)' in cls_part
    assert '| 45.0 | 50.0 | 60.0 | 30.0 |' in rows(seg_part)['CE']  # fg Dice, mIoU, v, l
    assert '| 60.0 | 50.0 | 70.0 | 50.0 |' in rows(seg_part)['CE+Dice']
    for fn, res, name in ((demo.plot_cls, cls, 'c.png'), (demo.plot_seg, seg, 's.png')):
        out = fn(res, str(tmp_path / name))
        with open(out, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_confusion_from_dump(demo, tmp_path):
    import pickle
    samples = [{'gt_label': np.array([0]), 'pred_label': np.array([1])},
               {'gt_label': np.array([1]), 'pred_label': np.array([1])},
               {'gt_label': np.array([2]), 'pred_label': np.array([0])}]
    path = tmp_path / 'dump.pkl'
    with open(path, 'wb') as f:
        pickle.dump(samples, f)
    assert demo.confusion_from_dump(str(path), 3) == [[0, 1, 0], [0, 1, 0], [1, 0, 0]]


def test_progress_line(demo):
    line = ('11/24 16:13:16 - mmengine - INFO - Epoch(train) [3][20/32]  lr: 3.7e-02  '
            'eta: 0:00:02  time: 0.0445  loss: 1.3512')
    assert demo.progress_line(line, 20) == 'epoch 3/20  loss 1.3512'
    line = ('11/24 16:13:53 - mmengine - INFO - Iter(train) [ 50/500]  lr: 4.5e-02  '
            'loss: 0.1465  decode.loss_ce: 0.1000')
    assert demo.progress_line(line, None) == 'iter 50  loss 0.1465'
    assert demo.progress_line('Epoch(val) [1][3/3] accuracy/top1: 16.4', None) is None


def test_demo_configs_exist(demo):
    for task, method in demo.DEMO_RUNS:
        assert osp.isfile(osp.join(demo.REPO_ROOT, demo.demo_config(task, method)))


def test_benchmark_aggregate_and_docs(demo, bench, tmp_path):
    specs, results = [], []
    for name, recalls in (('CE', ([50, 90, 10, 20], [60, 90, 20, 30])),
                          ('LMF', ([60, 80, 40, 40], [70, 80, 50, 60]))):
        for seed, rec in enumerate(recalls):
            specs.append(demo.RunSpec(name=f'cls-{bench._slug(name)}-s{seed}', task='cls',
                                      config='x.py', work_dir='w', seed=seed))
            results.append(fake_cls(rec))
    table = bench.aggregate(specs, results)
    ce = table['cls']['CE']['Balanced acc.']
    assert ce == pytest.approx([42.5, 50.0])
    md = bench.tables_markdown(table)
    lmf_row = next(line for line in md.split('\n') if line.startswith('| LMF'))
    # LMF balanced acc. 55 / 65 -> mean 60, sample std sqrt(50) = 7.07;
    # CE 42.5 / 50 -> 46.25, so the delta is +13.75
    assert '| 60.0 ± 7.1 |' in lmf_row
    assert '+13.8' in lmf_row
    assert '95 % CI of Δ' in md
    lo, hi = bench.welch_interval([55.0, 65.0], [42.5, 50.0])
    assert f'| {lo:+.1f} to {hi:+.1f} |' in lmf_row
    assert bench.plot(table, str(tmp_path / 'b.png'), 'cls') is not None

    doc = tmp_path / 'benchmarks.md'
    doc.write_text('# Benchmarks\n\n## Loss speed\n\nkeep me\n\n'
                   f'## {bench.SECTION}\n\nold\n\n## Later\n\nkeep too\n')
    bench.replace_section(str(doc), bench.SECTION, 'new body')
    text = doc.read_text()
    assert 'old' not in text and 'new body' in text
    assert 'keep me' in text and 'keep too' in text
    assert text.index('## Loss speed') < text.index('new body') < text.index('## Later')
    bench.replace_section(str(doc), bench.SECTION, 'newer')
    assert doc.read_text().count(f'## {bench.SECTION}') == 1


def test_welch_interval(bench):
    pytest.importorskip('scipy')
    # equal sizes and spreads: Welch = Student with 2 (n - 1) = 2 degrees of freedom,
    # t(0.975, 2) = 4.303 (printed tables); se = sqrt(1 + 1)
    lo, hi = bench.welch_interval([1.0, 3.0], [0.0, 2.0])
    assert lo == pytest.approx(1 - 4.3027 * 2 ** 0.5, abs=1e-3)
    assert hi == pytest.approx(1 + 4.3027 * 2 ** 0.5, abs=1e-3)
    assert bench.welch_interval([1.0], [0.0, 2.0]) is None
    assert bench.welch_interval([2.0, 2.0], [1.0, 1.0]) == (1.0, 1.0)


def test_worker_spec_roundtrip(demo):
    spec = demo.RunSpec(name='n', task='cls', config='c.py', work_dir='/w', seed=3,
                        cfg_options={'train_cfg.max_epochs': 1})
    from dataclasses import asdict
    assert demo.RunSpec(**json.loads(json.dumps(asdict(spec)))) == spec


def test_fill_zoo_row(bench):
    text = '\n'.join([
        'Results are filled in after the benchmark runs (`—`: not run yet).',
        '',
        '| Dataset | Backbone | Top-1 acc. | Balanced acc. | Few-shot acc. | Config |',
        '|---|---|---|---|---|---|',
        '| ISIC | ResNet-50 | — | — | — | [a.py](./a.py) |',
        '| demo (synthetic, 64x64) | ResNet-18 | — | — | — | [b.py](./b.py) |',
        'after'])
    out = bench.fill_zoo_row(text, {'Top-1 acc.': '80.0 ± 1.0', 'Balanced acc.': '81.0 ± 2.0'},
                             'demo (synthetic, 64x64, imbalance ratio 100)', 'Demo row: new')
    lines = out.split('\n')
    assert lines[0] == 'Demo row: new'
    assert lines[4] == '| ISIC | ResNet-50 | — | — | — | [a.py](./a.py) |'  # untouched
    assert lines[5] == ('| demo (synthetic, 64x64, imbalance ratio 100) | ResNet-18 | 80.0 ± 1.0 '
                        '| 81.0 ± 2.0 | — | [b.py](./b.py) |')  # few-shot not given: kept
    assert lines[6] == 'after'
    # idempotent: a second fill finds the rewritten note and row again
    again = bench.fill_zoo_row(out, {'Balanced acc.': '90.0'}, 'demo (synthetic, x)', 'Demo row: 2')
    assert again.split('\n')[0] == 'Demo row: 2'
    assert '| demo (synthetic, x) | ResNet-18 | 80.0 ± 1.0 | 90.0 |' in again


def test_zoo_markdown_lists_only_bundled_recipes(demo, bench):
    import argparse
    specs, results = [], []
    for name, rec in (('CE', [50, 90, 10, 20]), ('LDAM', [10, 10, 10, 10]),
                      ('LMF', [60, 80, 40, 40])):
        specs.append(demo.RunSpec(name=f'cls-{bench._slug(name)}-s0', task='cls',
                                  config='x.py', work_dir='w', seed=0))
        results.append(fake_cls(rec))
    table = bench.aggregate(specs, results)
    md = bench.zoo_markdown(table, argparse.Namespace(imbalance_ratio=100.0), 'CMD')
    rows = {line.split('|')[1].strip(): line for line in md.split('\n')
            if line.startswith('| ') and not line.startswith('| Loss')}
    assert set(rows) == {'CE', 'LMF'}  # 'LDAM' is an ablation (extra options), not a config
    assert '+12.5' in rows['LMF']  # balanced acc. 55.0 vs CE 42.5
    assert 'resnet18-w16_lmf_1xb64-30e_demo-cls.py' in rows['LMF']
    assert '`CMD`' in md and 'imbalance ratio 100' in md


def test_benchmark_val_split_and_overrides(bench):
    args = bench.parse_args(['--seeds', '1', '--imbalance-ratio', '0', '--split', 'val',
                             '--cfg-options', 'model.head.loss.s=16', 'x.type=Foo', '--no-docs'])
    specs = bench.build_specs(args)
    assert {s.task for s in specs} == {'cls', 'seg'}
    for spec in specs:
        assert spec.cfg_options['model.head.loss.s'] == 16
        assert spec.cfg_options['x.type'] == 'Foo'
        for key, value in bench.VAL_SPLIT[spec.task].items():
            assert spec.cfg_options[key] == value
    lmf = next(s for s in specs if s.name == 'cls-lmf-s0')
    assert lmf.cfg_options['test_dataloader.dataset.ann_file'] == 'meta/val.txt'
    plain = bench.build_specs(bench.parse_args(['--seeds', '1', '--imbalance-ratio', '0']))
    assert all('test_dataloader.dataset.ann_file' not in s.cfg_options for s in plain)
    with pytest.raises(SystemExit):  # tuning runs must not overwrite the docs' test numbers
        bench.parse_args(['--split', 'val'])
    with pytest.raises(SystemExit):
        bench.parse_args(['--cfg-options', 'no_equals_sign', '--no-docs'])
    # a call is not a literal: it would silently become the string 'dict(max_norm=5.0)'
    with pytest.raises(SystemExit):
        bench.parse_args(['--cfg-options', 'optim_wrapper.clip_grad=dict(max_norm=5.0)',
                          '--no-docs'])
    clip = bench.parse_args(['--cfg-options', "optim_wrapper.clip_grad={'max_norm': 5.0}",
                             '--no-docs'])
    assert clip.overrides['optim_wrapper.clip_grad'] == {'max_norm': 5.0}


def test_benchmark_data_seed_replicate(bench, monkeypatch):
    calls = []
    monkeypatch.setattr(bench.subprocess, 'run', lambda cmd, **kw: calls.append(cmd))
    roots = {}
    for seed in (0, 2):
        argv = ['--seeds', '1', '--only', 'cls', '--imbalance-ratio', '50', '--no-docs']
        specs = bench.build_specs(bench.parse_args(argv + ['--data-seed', str(seed)]))
        roots[seed] = {s.data_root for s in specs}
        cmd = calls[-1]
        assert cmd[cmd.index('--seed') + 1] == str(seed)
        assert cmd[cmd.index('--cls-name') + 1] == osp.basename(next(iter(roots[seed])))
    # the reported set keeps its name; a replicate gets its own folder
    assert {osp.basename(r) for r in roots[0]} == {'demo_cls_ir50'}
    assert {osp.basename(r) for r in roots[2]} == {'demo_cls_ir50_d2'}
    with pytest.raises(SystemExit):  # a replicate's numbers must not reach the docs
        bench.parse_args(['--data-seed', '1'])
    with pytest.raises(SystemExit):  # data/demo_cls is generated with seed 0 only
        bench.parse_args(['--data-seed', '1', '--imbalance-ratio', '0', '--no-docs'])
