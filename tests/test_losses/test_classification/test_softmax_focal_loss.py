import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from mmloss_plugin.losses import SoftmaxFocalLoss, softmax_focal_loss

LOGITS = [[1.0, 2.0, 0.5], [0.2, -1.0, 3.0], [-0.5, 0.0, 0.5]]
LABELS = [0, 2, 1]
WEIGHTS = [0.5, 1.0, 2.0]


def hand_focal(ref, logits, labels, gamma, w=None):
    """-w_y (1 - p_y)^gamma log p_y per sample, p = softmax (Python floats)."""
    out = []
    for row, y in zip(logits, labels):
        logp = ref.log_softmax(row)[y]
        wy = 1.0 if w is None else w[y]
        out.append(-wy * (1.0 - math.exp(logp)) ** gamma * logp)
    return out


def hand_soft_focal(ref, logits, soft, gamma, w):
    out = []
    for row, t in zip(logits, soft):
        logp = ref.log_softmax(row)
        out.append(-sum(t[c] * w[c] * (1 - math.exp(logp[c])) ** gamma * logp[c]
                        for c in range(len(row))))
    return out


@pytest.mark.parametrize('gamma', [0.0, 0.5, 2.0])
def test_hard_labels_match_formula(ref, gamma):
    loss = SoftmaxFocalLoss(gamma=gamma, class_weight=WEIGHTS, reduction='none')
    out = loss(torch.tensor(LOGITS), torch.tensor(LABELS))
    expected = hand_focal(ref, LOGITS, LABELS, gamma, WEIGHTS)
    assert out.shape == (3,)
    torch.testing.assert_close(out, torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_reductions_and_avg_factor(ref):
    per = hand_focal(ref, LOGITS, LABELS, 2.0)
    z, y = torch.tensor(LOGITS), torch.tensor(LABELS)
    loss = SoftmaxFocalLoss(loss_weight=3.0)
    assert loss(z, y).item() == pytest.approx(3 * sum(per) / 3, rel=1e-5)
    # mmpretrain's ClsHead passes avg_factor=N.
    assert loss(z, y, avg_factor=2).item() == pytest.approx(3 * sum(per) / 2, rel=1e-5)
    assert loss(z, y, reduction_override='sum').item() == pytest.approx(3 * sum(per), rel=1e-5)
    w = torch.tensor([1.0, 0.0, 2.0])
    assert loss(z, y, weight=w, reduction_override='sum').item() == pytest.approx(
        3 * (per[0] + 2 * per[2]), rel=1e-5)


def test_focal_factor_is_per_sample_not_on_batch_mean(ref):
    # The seed bug: (1 - exp(-mean CE))^gamma * mean CE. The two differ on this batch.
    z, y = torch.tensor(LOGITS), torch.tensor(LABELS)
    ce = [-ref.log_softmax(r)[t] for r, t in zip(LOGITS, LABELS)]
    mean_ce = sum(ce) / 3
    wrong = (1 - math.exp(-mean_ce)) ** 2 * mean_ce
    right = sum(hand_focal(ref, LOGITS, LABELS, 2.0)) / 3
    assert abs(wrong - right) > 1e-2
    assert SoftmaxFocalLoss()(z, y).item() == pytest.approx(right, rel=1e-5)


def test_class_weight_outside_probability(ref):
    # p_y must be the softmax probability, not exp(-w_y * CE).
    out = SoftmaxFocalLoss(gamma=2.0, class_weight=[4.0, 4.0, 4.0], reduction='none')(
        torch.tensor(LOGITS), torch.tensor(LABELS))
    expected = [4 * v for v in hand_focal(ref, LOGITS, LABELS, 2.0)]
    torch.testing.assert_close(out, torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_gamma_zero_is_weighted_cross_entropy():
    z, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 1, 0])
    w = torch.tensor([0.3, 1.0, 2.0, 0.7])
    out = SoftmaxFocalLoss(gamma=0.0, class_weight=w.tolist(), reduction='sum')(z, y)
    torch.testing.assert_close(out, F.cross_entropy(z, y, weight=w, reduction='sum'))


def test_soft_targets(ref):
    soft = [[0.7, 0.3, 0.0], [0.0, 0.4, 0.6], [1.0, 0.0, 0.0]]
    out = SoftmaxFocalLoss(gamma=1.5, class_weight=WEIGHTS, reduction='none')(
        torch.tensor(LOGITS), torch.tensor(soft))
    expected = hand_soft_focal(ref, LOGITS, soft, 1.5, WEIGHTS)
    torch.testing.assert_close(out, torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_one_hot_soft_equals_hard():
    z, y = torch.randn(5, 3), torch.tensor([0, 2, 1, 1, 0])
    loss = SoftmaxFocalLoss(class_weight=WEIGHTS)
    torch.testing.assert_close(loss(z, F.one_hot(y, 3).float()), loss(z, y))


def test_pixelwise_with_ignore_index(ref):
    # (N=1, C=3, H=1, W=4): pixels as the rows of LOGITS plus one ignored pixel.
    pix = LOGITS + [[9.0, -9.0, 0.0]]
    z = torch.tensor(pix).t().reshape(1, 3, 1, 4)
    y = torch.tensor([[LABELS + [255]]])
    loss = SoftmaxFocalLoss(gamma=2.0, class_weight=WEIGHTS)
    expected = hand_focal(ref, LOGITS, LABELS, 2.0, WEIGHTS)
    # mmseg calls loss(seg_logits, seg_label, weight=seg_weight, ignore_index=255).
    out = loss(z, y, weight=None, ignore_index=255)
    assert out.item() == pytest.approx(sum(expected) / 3, rel=1e-5)  # mean over valid pixels
    per = loss(z, y, ignore_index=255, reduction_override='none')
    assert per.shape == (1, 1, 4) and per[0, 0, 3].item() == 0.0
    # ignore_index from the constructor works the same.
    assert SoftmaxFocalLoss(class_weight=WEIGHTS, ignore_index=255)(z, y).item() == \
        pytest.approx(out.item(), rel=1e-6)
    # Without ignore_index, 255 is an out-of-range label.
    with pytest.raises(ValueError, match='class index 255'):
        loss(z, y)


def test_pixelwise_3d_matches_flattened():
    z = torch.randn(2, 3, 2, 3, 2)
    y = torch.randint(0, 3, (2, 2, 3, 2))
    y[0, 0, 0, 0] = 255
    loss = SoftmaxFocalLoss(gamma=2.0, class_weight=WEIGHTS, ignore_index=255)
    flat_z = z.movedim(1, -1).reshape(-1, 3)
    flat_y = y.reshape(-1)
    keep = flat_y != 255
    expected = SoftmaxFocalLoss(gamma=2.0, class_weight=WEIGHTS)(flat_z[keep], flat_y[keep])
    torch.testing.assert_close(loss(z, y), expected)


def test_all_ignored_is_zero_with_zero_grad():
    z = torch.randn(1, 3, 2, 2, requires_grad=True)
    out = SoftmaxFocalLoss()(z, torch.full((1, 2, 2), 255), ignore_index=255)
    out.backward()
    assert out.item() == 0.0 and torch.all(z.grad == 0)


def test_confident_logits_finite_gradient():
    # gamma < 1 has an infinite derivative of (1-p)^gamma at p = 1.
    z = torch.tensor([[200.0, -200.0, 0.0], [0.0, 300.0, -1.0]], requires_grad=True)
    out = SoftmaxFocalLoss(gamma=0.5)(z, torch.tensor([0, 1]))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(z.grad).all()


@pytest.mark.parametrize('gamma', [-0.5, float('nan')])
def test_invalid_gamma(gamma):
    with pytest.raises(ValueError, match='gamma'):
        SoftmaxFocalLoss(gamma=gamma)


def test_label_errors():
    loss = SoftmaxFocalLoss()
    with pytest.raises(ValueError, match='class index 3'):
        loss(torch.randn(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match='class index -1'):
        loss(torch.randn(2, 3), torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match='target shape'):
        loss(torch.randn(2, 3), torch.tensor([0, 1, 2]))


def test_class_weight_length_mismatch():
    with pytest.raises(ValueError, match=r'class_weight has 2 entries.*3 classes'):
        SoftmaxFocalLoss(class_weight=[1.0, 2.0])(torch.randn(2, 3), torch.tensor([0, 1]))


def test_class_weight_strategy_from_counts(ref):
    # 'inverse' on counts (4, 2, 1): w ∝ (1/4, 1/2, 1), normalised to sum to C = 3.
    w = [3 * v / 1.75 for v in (0.25, 0.5, 1.0)]
    loss = SoftmaxFocalLoss(class_weight='inverse', cls_num_list=[4, 2, 1], reduction='none')
    out = loss(torch.tensor(LOGITS), torch.tensor(LABELS))
    torch.testing.assert_close(out, torch.tensor(hand_focal(ref, LOGITS, LABELS, 2.0, w)),
                               rtol=1e-5, atol=1e-6)


def test_strategy_without_counts_names_the_hook():
    loss = SoftmaxFocalLoss(class_weight='effective_number')
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        loss(torch.randn(2, 3), torch.tensor([0, 1]))
    loss.set_class_counts([5, 5, 5])
    assert torch.isfinite(loss(torch.randn(2, 3), torch.tensor([0, 1])))


def test_drw_overrides_class_weight(ref):
    z, y = torch.tensor(LOGITS), torch.tensor(LABELS)
    loss = SoftmaxFocalLoss(class_weight=WEIGHTS, reduction='none')
    drw = [3.0, 0.25, 1.5]
    loss.set_drw_weight(drw)
    torch.testing.assert_close(loss(z, y), torch.tensor(hand_focal(ref, LOGITS, LABELS, 2, drw)),
                               rtol=1e-5, atol=1e-6)
    loss.set_drw_weight(None)
    torch.testing.assert_close(loss(z, y),
                               torch.tensor(hand_focal(ref, LOGITS, LABELS, 2, WEIGHTS)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('soft', [False, True])
def test_gradcheck_float64(soft):
    torch.manual_seed(0)
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.softmax(torch.randn(4, 3), 1).double() if soft else torch.tensor([0, 1, 2, 1])
    loss = SoftmaxFocalLoss(gamma=1.5, class_weight=WEIGHTS)
    assert loss(z, y).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda x: loss(x, y), (z,))


def test_bf16_autocast_computes_in_float32():
    z = torch.randn(4, 3, 2, 2).bfloat16()
    y = torch.randint(0, 3, (4, 2, 2))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = SoftmaxFocalLoss(class_weight=WEIGHTS)(z, y)
    assert out.dtype == torch.float32 and torch.isfinite(out)


def test_pure_function_matches_module():
    z, y = torch.randn(3, 3), torch.tensor([2, 0, 1])
    w = torch.tensor(WEIGHTS)
    torch.testing.assert_close(softmax_focal_loss(z, y, 2.0, w).mean(),
                               SoftmaxFocalLoss(class_weight=WEIGHTS)(z, y))


def test_no_counts_needed_and_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        out = SoftmaxFocalLoss()(torch.randn(2, 3), torch.tensor([0, 1]))
    assert torch.isfinite(out)
    assert SoftmaxFocalLoss().loss_name == 'loss_softmax_focal'
    assert 'gamma=2.0' in repr(SoftmaxFocalLoss())
