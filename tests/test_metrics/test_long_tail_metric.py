"""LongTailMetric against hand-computed values (and scikit-learn when installed)."""
import itertools
import math
import warnings

import numpy as np
import pytest
import torch

from mmloss_plugin.losses import utils as loss_utils
from mmloss_plugin.metrics import LongTailMetric
from mmloss_plugin.metrics.long_tail import binary_auc, macro_ovr_auc

GT = [0, 0, 0, 0, 1, 1, 1, 2, 2, 0]
PRED = [0, 0, 1, 0, 1, 2, 1, 2, 0, 0]
# per class: recall 4/5, 2/3, 1/2; precision 4/5, 2/3, 1/2
RECALL = [0.8, 2 / 3, 0.5]
CLASSES = ('NV', 'MEL x', 'df/1')


def _scores(pred, num_classes, seed=0):
    """Scores whose arg-max is ``pred``, rounded to create ties."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 0.4, size=(len(pred), num_classes))
    s[np.arange(len(pred)), pred] += 0.6
    return np.round(s, 1)


def _pairwise_auc(scores, positive):
    """AUC by definition: P(score_pos > score_neg) + 1/2 P(tie), over all pairs."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def _evaluate(metric, scores, gt, classes=CLASSES):
    metric.dataset_meta = {'classes': classes}
    samples = [{'pred_score': torch.tensor(s, dtype=torch.float32),
                    'gt_label': torch.tensor([g])} for s, g in zip(scores, gt)]
    metric.process(None, samples[:4])
    metric.process(None, samples[4:])
    return metric.evaluate(len(samples))


@pytest.fixture
def forget_warnings():
    seen = loss_utils.warn_once.__defaults__[0]
    before = set(seen)
    seen.clear()
    yield
    seen.clear()
    seen.update(before)


def test_values_against_hand_computation():
    scores = _scores(PRED, 3)
    assert scores.argmax(1).tolist() == PRED
    res = _evaluate(LongTailMetric(cls_num_list=[150, 50, 10]), scores, GT)
    assert res['longtail/accuracy'] == pytest.approx(70.0)
    assert res['longtail/balanced_accuracy'] == pytest.approx(100 * np.mean(RECALL))
    f1 = [2 * 4 / (5 + 5), 2 * 2 / (3 + 3), 2 * 1 / (2 + 2)]
    assert res['longtail/macro_f1'] == pytest.approx(100 * np.mean(f1))
    auc = np.mean([_pairwise_auc(scores[:, c], np.array(GT) == c) for c in range(3)])
    assert res['longtail/macro_auc'] == pytest.approx(100 * auc)
    # per-class recall keys, names sanitised
    assert res['longtail/recall_NV'] == pytest.approx(80.0)
    assert res['longtail/recall_MEL_x'] == pytest.approx(100 * 2 / 3)
    assert res['longtail/recall_df_1'] == pytest.approx(50.0)
    # shot groups: 150 > 100 many, 20 <= 50 <= 100 medium, 10 < 20 few
    assert res['longtail/many_shot_acc'] == pytest.approx(80.0)
    assert res['longtail/medium_shot_acc'] == pytest.approx(100 * 2 / 3)
    assert res['longtail/few_shot_acc'] == pytest.approx(50.0)


def test_against_sklearn():
    sk = pytest.importorskip('sklearn.metrics')
    rng = np.random.default_rng(3)
    n, c = 60, 4
    gt = rng.integers(0, c, n)
    scores = np.round(rng.random((n, c)), 2)
    pred = scores.argmax(1)
    res = _evaluate(LongTailMetric(cls_num_list=[200, 50, 10, 5]), scores, gt,
                    classes=tuple('abcd'))
    assert res['longtail/balanced_accuracy'] == pytest.approx(
        100 * sk.balanced_accuracy_score(gt, pred))
    assert res['longtail/macro_f1'] == pytest.approx(100 * sk.f1_score(gt, pred,
                                                                       average='macro'))
    assert res['longtail/accuracy'] == pytest.approx(100 * sk.accuracy_score(gt, pred))
    auc = np.mean([sk.roc_auc_score(gt == k, scores[:, k]) for k in range(c)])
    assert res['longtail/macro_auc'] == pytest.approx(100 * auc)
    recall = sk.recall_score(gt, pred, average=None)
    for k, name in enumerate('abcd'):
        assert res[f'longtail/recall_{name}'] == pytest.approx(100 * recall[k])


def test_binary_auc_with_ties_by_hand():
    # pos 0.9 beats both negatives, pos 0.5 ties 0.5 and beats 0.1: (1 + 1 + 0.5 + 1) / 4
    assert binary_auc(np.array([0.9, 0.5, 0.5, 0.1]),
                      np.array([True, True, False, False])) == pytest.approx(0.875)
    assert binary_auc(np.array([0.1, 0.2]), np.array([True, True])) != \
        binary_auc(np.array([0.1, 0.2]), np.array([True, True]))  # NaN: no negatives
    # a class absent from the ground truth is skipped, not counted as 0.5 or NaN
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0]])
    gt = np.array([0, 1, 0])
    assert macro_ovr_auc(scores, gt) == pytest.approx(1.0)


def test_absent_class_and_custom_thresholds():
    scores = _scores(PRED, 4)
    res = _evaluate(LongTailMetric(cls_num_list=[150, 50, 10, 0], shot_thresholds=(40, 5)),
                    scores, GT, classes=CLASSES + ('empty',))
    # class 3 absent from gt and predictions: excluded from every average
    assert res['longtail/balanced_accuracy'] == pytest.approx(100 * np.mean(RECALL))
    assert math.isnan(res['longtail/recall_empty'])
    # many: counts > 40 -> classes 0, 1; medium: 5 <= n <= 40 -> class 2; few: class 3
    # (absent from the evaluation set) -> NaN
    assert res['longtail/many_shot_acc'] == pytest.approx(100 * np.mean(RECALL[:2]))
    assert res['longtail/medium_shot_acc'] == pytest.approx(50.0)
    assert math.isnan(res['longtail/few_shot_acc'])


def test_counts_sources(tmp_path, forget_warnings):
    scores = _scores(PRED, 3)
    counts_file = tmp_path / 'counts.txt'
    counts_file.write_text('150\n50\n10\n')
    ann = tmp_path / 'train.txt'
    ann.write_text(''.join(f'img{i}.png {lab}\n' for i, lab in
                           enumerate([0] * 101 + [1] * 20)))  # class 2: no images -> few
    for metric in (LongTailMetric(cls_num_list=str(counts_file)),
                   LongTailMetric(train_ann_file=str(ann))):
        res = _evaluate(metric, scores, GT)
        assert res['longtail/many_shot_acc'] == pytest.approx(80.0)
        assert res['longtail/medium_shot_acc'] == pytest.approx(100 * 2 / 3)
        assert res['longtail/few_shot_acc'] == pytest.approx(50.0)

    # no counts: shot metrics omitted with a single warning
    metric = LongTailMetric()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter('always')
        res = _evaluate(metric, scores, GT)
        res2 = _evaluate(metric, scores, GT)
    assert not any('shot' in k for k in list(res) + list(res2))
    assert sum('many/medium/few-shot' in str(w.message) for w in rec) == 1
    # counts pushed later (ClassCountsHook)
    metric.set_class_counts([150, 50, 10])
    assert 'longtail/few_shot_acc' in _evaluate(metric, scores, GT)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='shot_thresholds'):
        LongTailMetric(shot_thresholds=(20, 100))
    with pytest.raises(ValueError, match='shot_thresholds'):
        LongTailMetric(shot_thresholds=100)
    with pytest.raises(FileNotFoundError):
        LongTailMetric(train_ann_file=str(tmp_path / 'missing.txt'))
    with pytest.raises(ValueError, match='3 classes'):
        _evaluate(LongTailMetric(cls_num_list=[1, 2]), _scores(PRED, 3), GT)


def test_with_mmpretrain_data_samples():
    pytest.importorskip('mmpretrain')
    from mmengine.evaluator import Evaluator
    from mmpretrain.structures import DataSample
    scores = _scores(PRED, 3)
    evaluator = Evaluator([{'type': 'LongTailMetric', '_scope_': 'mmpretrain'}])
    evaluator.dataset_meta = {'classes': CLASSES}
    samples = [DataSample().set_gt_label(g).set_pred_score(torch.tensor(s))
               for s, g in zip(scores, GT)]
    evaluator.process(samples)
    res = evaluator.evaluate(len(samples))
    assert res['longtail/balanced_accuracy'] == pytest.approx(100 * np.mean(RECALL))
