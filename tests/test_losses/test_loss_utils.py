import json
import math

import numpy as np
import pytest
import torch

from mmloss_plugin.losses.utils import (
    BaseLoss,
    check_non_negative,
    check_positive,
    check_unit_interval,
    class_weights_from_counts,
    load_class_counts,
    prepare_targets,
    resolve_class_weight,
    summed_class_weight,
    weight_reduce_loss,
)


def _normalise(w):
    return [len(w) * v / sum(w) for v in w]


# ------------------------------------------------------------- class_weights_from_counts
@pytest.mark.parametrize('strategy,raw', [
    ('inverse', [1 / 8, 1 / 2, 1.0]),
    ('sqrt_inverse', [1 / math.sqrt(8), 1 / math.sqrt(2), 1.0]),
    ('effective_number', [(1 - 0.9) / (1 - 0.9 ** n) for n in (8, 2, 1)]),
])
def test_class_weight_strategies(strategy, raw):
    w = class_weights_from_counts([8, 2, 1], strategy, beta=0.9)
    np.testing.assert_allclose(w, _normalise(raw), rtol=1e-12)
    assert w.sum() == pytest.approx(3.0)


def test_effective_number_default_beta_and_limits():
    beta = 0.9999
    raw = [(1 - beta) / (1 - beta ** n) for n in (1000, 10)]
    np.testing.assert_allclose(class_weights_from_counts([1000, 10], 'effective_number'),
                               _normalise(raw), rtol=1e-9)
    # beta = 0: every class weighs the same.
    np.testing.assert_allclose(class_weights_from_counts([100, 1], 'effective_number', 0.0),
                               [1.0, 1.0])
    with pytest.raises(ValueError, match='beta'):
        class_weights_from_counts([1, 2], 'effective_number', beta=1.0)


@pytest.mark.parametrize('strategy', ['inverse', 'sqrt_inverse', 'effective_number'])
def test_zero_counts_are_finite(strategy):
    w = class_weights_from_counts([10, 0, 1], strategy)
    assert np.all(np.isfinite(w))
    # A zero count is treated as one sample: same weight as the class with one sample.
    assert w[1] == pytest.approx(w[2]) and w[1] == w.max()


def test_unknown_strategy():
    with pytest.raises(ValueError, match='strategy'):
        class_weights_from_counts([1, 2], 'balanced')


def test_resolve_class_weight():
    assert resolve_class_weight(None) is None
    assert resolve_class_weight('inverse') is None  # counts not known yet
    np.testing.assert_allclose(resolve_class_weight('inverse', np.array([1.0, 3.0])),
                               _normalise([1.0, 1 / 3]))
    np.testing.assert_allclose(resolve_class_weight([1, 2.5]), [1.0, 2.5])
    with pytest.raises(ValueError, match='class_weight'):
        resolve_class_weight([1.0, -2.0])
    with pytest.raises(ValueError, match='class_weight'):
        resolve_class_weight([[1.0, 2.0]])
    with pytest.raises(TypeError, match='class_weight'):
        resolve_class_weight([1.0, 'a'])


# ------------------------------------------------------------------- load_class_counts
def test_load_counts_from_sequences():
    assert load_class_counts(None) is None
    for spec in ([3, 2, 1], (3, 2, 1), np.array([3, 2, 1]), torch.tensor([3, 2, 1])):
        np.testing.assert_array_equal(load_class_counts(spec), [3.0, 2.0, 1.0])


def test_load_counts_from_files(tmp_path):
    lines = tmp_path / 'lines.txt'
    lines.write_text('30\n20\n10\n')
    commas = tmp_path / 'commas.txt'
    commas.write_text('30, 20,10')
    plain = tmp_path / 'list.json'
    plain.write_text(json.dumps([30, 20, 10]))
    keyed = tmp_path / 'keyed.json'
    keyed.write_text(json.dumps({'counts': [30, 20, 10], 'classes': ['a', 'b', 'c']}))
    for path in (lines, commas, plain, keyed, str(keyed)):
        np.testing.assert_array_equal(load_class_counts(path), [30.0, 20.0, 10.0])


def test_load_counts_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='cls_num_list'):
        load_class_counts(str(tmp_path / 'missing.txt'))
    bad_txt = tmp_path / 'bad.txt'
    bad_txt.write_text('3 two 1')
    with pytest.raises(ValueError, match='only numbers'):
        load_class_counts(bad_txt)
    bad_json = tmp_path / 'bad.json'
    bad_json.write_text(json.dumps({'sizes': [1, 2]}))
    with pytest.raises(ValueError, match='cls_num_list'):
        load_class_counts(bad_json)
    with pytest.raises(ValueError, match='non-negative'):
        load_class_counts([3, -1])
    with pytest.raises(ValueError, match='non-negative'):
        load_class_counts([3, float('nan')])
    with pytest.raises(ValueError, match='1-D'):
        load_class_counts([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match='1-D'):
        load_class_counts([])
    with pytest.raises(TypeError, match='cls_num_list'):
        load_class_counts(['a', 'b'])


# ------------------------------------------------------------------ weight_reduce_loss
def test_weight_reduce_loss_semantics():
    loss = torch.tensor([1.0, 2.0, 3.0, 4.0])
    w = torch.tensor([1.0, 0.0, 2.0, 0.5])
    assert weight_reduce_loss(loss).item() == pytest.approx(2.5)
    assert weight_reduce_loss(loss, reduction='sum').item() == pytest.approx(10.0)
    torch.testing.assert_close(weight_reduce_loss(loss, w, 'none'),
                               torch.tensor([1.0, 0.0, 6.0, 2.0]))
    assert weight_reduce_loss(loss, w).item() == pytest.approx(9.0 / 4)
    # 'mean' with avg_factor divides the (weighted) sum by it.
    assert weight_reduce_loss(loss, w, 'mean', avg_factor=3).item() == pytest.approx(3.0)
    with pytest.raises(ValueError, match='avg_factor'):
        weight_reduce_loss(loss, reduction='sum', avg_factor=2)
    with pytest.raises(ValueError, match='reduction'):
        weight_reduce_loss(loss, reduction='avg')


def test_weight_reduce_loss_broadcasts_sample_weight():
    loss = torch.ones(2, 3, 4)
    w = torch.tensor([1.0, 3.0])
    assert weight_reduce_loss(loss, w, 'sum').item() == pytest.approx(12 + 36)


# ---------------------------------------------------------------------- prepare_targets
def test_prepare_targets_forms():
    pred = torch.zeros(2, 3, 4)
    t = prepare_targets(pred, torch.tensor([[0, 1, 2, 255], [2, 2, 1, 0]]), ignore_index=255)
    assert t.index[0, 3].item() == 0 and t.valid.sum().item() == 7 and not t.is_soft
    t = prepare_targets(pred, torch.tensor([[[0, 1, 2, 1]], [[2, 2, 1, 0]]]))  # (N, 1, L)
    assert t.index.shape == (2, 4) and t.valid is None
    t = prepare_targets(torch.zeros(2, 3), torch.tensor([1.0, 2.0]))  # integral floats
    assert t.index.dtype == torch.int64
    soft = torch.full((2, 3), 1 / 3)
    assert prepare_targets(torch.zeros(2, 3), soft).is_soft


def test_prepare_targets_errors():
    pred = torch.zeros(2, 3)
    with pytest.raises(ValueError, match='pred must have shape'):
        prepare_targets(torch.zeros(3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r'target shape \(3,\)'):
        prepare_targets(pred, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match='non-integer'):
        prepare_targets(pred, torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match=r'class index 3.*\[0, 2\]'):
        prepare_targets(pred, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match='class index -1'):
        prepare_targets(pred, torch.tensor([-1, 0]), ignore_index=255)
    with pytest.raises(TypeError, match='integer tensor'):
        prepare_targets(pred, torch.tensor([True, False]))
    with pytest.raises(ValueError, match='non-negative'):
        prepare_targets(pred, torch.tensor([[1.5, -0.5, 0.0], [0.0, 1.0, 0.0]]))
    with pytest.raises(ValueError, match='soft'):
        prepare_targets(pred, torch.full((2, 3), 1 / 3), allow_soft=False)


# ----------------------------------------------------------------- checks and BaseLoss
def test_number_checks_name_the_argument():
    with pytest.raises(ValueError, match='s must be > 0'):
        check_positive(0, 's')
    with pytest.raises(ValueError, match='gamma must be >= 0'):
        check_non_negative(-1, 'gamma')
    with pytest.raises(TypeError, match='tau must be a number'):
        check_non_negative('1', 'tau')
    with pytest.raises(ValueError, match=r'beta must be in \[0, 1\)'):
        check_unit_interval(1.0, 'beta', open_right=True)


class DummyPerSampleLoss(BaseLoss):
    def forward(self, loss, targets=None, **kwargs):
        return self.reduce(loss, targets=targets, **kwargs)


def test_base_loss_reduce_and_names():
    assert DummyPerSampleLoss().loss_name == 'loss_dummy_per_sample'
    with pytest.raises(ValueError, match='loss_name'):
        DummyPerSampleLoss(loss_name='ce')
    with pytest.raises(ValueError, match='reduction'):
        DummyPerSampleLoss(reduction='avg')
    m = DummyPerSampleLoss(loss_weight=2.0)
    assert m(torch.tensor([1.0, 3.0])).item() == pytest.approx(4.0)
    assert m(torch.tensor([1.0, 3.0]), reduction_override='sum').item() == pytest.approx(8.0)
    with pytest.raises(ValueError, match='reduction_override'):
        m(torch.tensor([1.0]), reduction_override='max')
    # Mean over non-ignored entries only.
    t = prepare_targets(torch.zeros(1, 2, 3), torch.tensor([[0, 255, 1]]), ignore_index=255)
    assert m(torch.tensor([[2.0, 0.0, 4.0]]), targets=t).item() == pytest.approx(2 * 6.0 / 2)


def test_base_loss_counts_and_state():
    m = DummyPerSampleLoss(class_weight='inverse')
    assert m.needs_counts and m.class_weight is None
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        m.check_num_classes(2)
    m.set_class_counts([1, 3])
    torch.testing.assert_close(m.class_weight, torch.tensor([1.5, 0.5]))
    m.set_drw_weight([2.0, 1.0])
    torch.testing.assert_close(m.effective_class_weight(), torch.tensor([2.0, 1.0]))
    m.set_drw_weight(None)
    torch.testing.assert_close(m.effective_class_weight(), torch.tensor([1.5, 0.5]))
    with pytest.raises(ValueError, match=r'2 entries.*3 classes'):
        m.check_num_classes(3)
    fresh = DummyPerSampleLoss(class_weight='inverse')
    fresh.load_state_dict(m.state_dict())
    torch.testing.assert_close(fresh.cls_num, torch.tensor([1.0, 3.0]))
    torch.testing.assert_close(fresh.class_weight, torch.tensor([1.5, 0.5]))


# ------------------------------------------------------- summed_class_weight, drw_avg_factor
def test_summed_class_weight_hard_ignored_and_soft():
    w = torch.tensor([0.5, 2.0, 4.0])
    pred = torch.zeros(4, 3)
    hard = prepare_targets(pred, torch.tensor([0, 1, 2, 255]), ignore_index=255)
    assert summed_class_weight(w, hard).item() == pytest.approx(0.5 + 2 + 4)
    soft = prepare_targets(pred, torch.tensor([[1.0, 0, 0], [0, 0.5, 0.5], [0, 0, 1],
                                               [0.25, 0.75, 0]]))
    assert summed_class_weight(w, soft).item() == pytest.approx(0.5 + 3 + 4 + 1.625)


def test_drw_avg_factor_only_with_weighted_mean():
    m = DummyPerSampleLoss()
    targets = prepare_targets(torch.zeros(3, 2), torch.tensor([0, 1, 1]))
    assert m.drw_avg_factor(targets, None) is None  # no DRW
    m.set_drw_weight([1.0, 3.0])
    assert m.drw_avg_factor(targets, 5.0) == 5.0  # DRW, but the plain mean
    m.set_drw_weight([1.0, 3.0], weighted_mean=True)
    assert m.drw_avg_factor(targets, None).item() == pytest.approx(7.0)
    assert m.drw_avg_factor(targets, 6.0).item() == pytest.approx(14.0)
