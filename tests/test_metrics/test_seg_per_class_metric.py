"""SegPerClassMetric against areas counted by hand."""
import math

import numpy as np
import pytest
import torch

from mmloss_plugin.metrics import SegPerClassMetric

# image 1 (255 = ignored)        image 2
GT1 = [[0, 0, 1, 1],
       [0, 2, 2, 255]]
PR1 = [[0, 1, 1, 1],
       [0, 2, 0, 2]]
GT2 = [[1, 1],
       [0, 0]]
PR2 = [[1, 0],
       [0, 0]]
# Summed over both images (ignored pixel of image 1 left out, its prediction too):
#   class 0: I = 2 + 2 = 4, P = 3 + 3 = 6, L = 3 + 2 = 5
#   class 1: I = 2 + 1 = 3, P = 3 + 1 = 4, L = 2 + 2 = 4
#   class 2: I = 1,         P = 1,         L = 2
AREAS = {0: (4, 6, 5), 1: (3, 4, 4), 2: (1, 1, 2)}


def _sample(pred, gt):
    return {'pred_sem_seg': {'data': torch.tensor(pred)[None]},
                'gt_sem_seg': {'data': torch.tensor(gt, dtype=torch.uint8)[None]}}


def _run(metric, classes=('bg', 'a', 'b'), samples=None):
    metric.dataset_meta = {'classes': classes}
    samples = samples or [_sample(PR1, GT1), _sample(PR2, GT2)]
    metric.process(None, samples)
    return metric.evaluate(len(samples))


def test_per_class_values_by_hand():
    res = _run(SegPerClassMetric())
    dice = {c: 2 * i / (p + lab) for c, (i, p, lab) in AREAS.items()}
    iou = {c: i / (p + lab - i) for c, (i, p, lab) in AREAS.items()}
    recall = {c: i / lab for c, (i, p, lab) in AREAS.items()}
    for c, name in enumerate(('bg', 'a', 'b')):
        assert res[f'seg/dice_{name}'] == pytest.approx(100 * dice[c])
        assert res[f'seg/iou_{name}'] == pytest.approx(100 * iou[c])
        assert res[f'seg/recall_{name}'] == pytest.approx(100 * recall[c])
    assert res['seg/mDice'] == pytest.approx(100 * np.mean(list(dice.values())))
    assert res['seg/mIoU'] == pytest.approx(100 * np.mean(list(iou.values())))
    assert res['seg/mRecall'] == pytest.approx(100 * np.mean(list(recall.values())))
    assert res['seg/fg_dice'] == pytest.approx(100 * (dice[1] + dice[2]) / 2)
    assert res['seg/aAcc'] == pytest.approx(100 * 8 / 11)


def test_binary_fg_dice_is_foreground_dice_and_background_none():
    gt = [[0, 1, 1, 0]]
    pred = [[1, 1, 0, 0]]
    res = _run(SegPerClassMetric(), classes=('background', 'lesion'),
               samples=[_sample(pred, gt)])
    assert res['seg/fg_dice'] == pytest.approx(100 * 2 * 1 / (2 + 2))
    res = _run(SegPerClassMetric(background_index=None), classes=('background', 'lesion'),
               samples=[_sample(pred, gt)])
    assert res['seg/fg_dice'] == pytest.approx(res['seg/mDice'])


def test_class_never_present_is_nan_and_skipped():
    gt = [[0, 0, 1]]
    pred = [[0, 1, 1]]
    res = _run(SegPerClassMetric(), samples=[_sample(pred, gt)])
    assert math.isnan(res['seg/dice_b'])
    assert math.isnan(res['seg/recall_b'])
    # mean over bg (2*1/3) and a (2*1/3)
    assert res['seg/mDice'] == pytest.approx(100 * 2 / 3)
    # predicted but absent class: Dice 0, recall NaN
    res = _run(SegPerClassMetric(), samples=[_sample([[2, 0]], [[0, 0]])])
    assert res['seg/dice_b'] == 0.0 and math.isnan(res['seg/recall_b'])


def test_errors():
    with pytest.raises(ValueError, match='shape'):
        _run(SegPerClassMetric(), samples=[_sample([[0, 1]], [[0, 1, 1]])])
    with pytest.raises(ValueError, match='outside'):
        _run(SegPerClassMetric(), samples=[_sample([[0, 1]], [[0, 7]])])
    with pytest.raises(ValueError, match='background_index'):
        SegPerClassMetric(background_index=-1)


def test_matches_mmseg_iou_metric():
    pytest.importorskip('mmseg')
    from mmseg.evaluation import IoUMetric
    samples = [_sample(PR1, GT1), _sample(PR2, GT2)]
    ref = IoUMetric(iou_metrics=['mIoU', 'mDice'])
    ref.dataset_meta = {'classes': ('bg', 'a', 'b')}
    ref.process(None, samples)
    expected = ref.evaluate(2)
    res = _run(SegPerClassMetric(), samples=samples)
    # mmseg rounds to two decimals
    assert res['seg/mIoU'] == pytest.approx(expected['mIoU'], abs=0.01)
    assert res['seg/mDice'] == pytest.approx(expected['mDice'], abs=0.01)
    assert res['seg/aAcc'] == pytest.approx(expected['aAcc'], abs=0.01)
