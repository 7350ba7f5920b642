import math

import pytest
import torch
import torch.nn.functional as F

from mmloss_plugin.losses import LogitAdjustedLoss, log_class_prior

COUNTS = [6, 3, 1]
LOGITS = [[1.0, 2.0, 0.5], [0.2, -1.0, 3.0], [-0.5, 0.0, 0.5]]
LABELS = [0, 2, 1]


def hand_la(ref, logits, labels, counts, tau, w=None):
    """-w_y log softmax(z + tau log pi)_y, pi = n / sum(n) (Python floats)."""
    total = sum(counts)
    out = []
    for row, y in zip(logits, labels):
        adj = [v + tau * math.log(counts[c] / total) for c, v in enumerate(row)]
        out.append(-(1.0 if w is None else w[y]) * ref.log_softmax(adj)[y])
    return out


@pytest.mark.parametrize('tau', [0.0, 0.5, 1.0, 2.0])
def test_matches_formula(ref, tau):
    loss = LogitAdjustedLoss(COUNTS, tau=tau, reduction='none')
    out = loss(torch.tensor(LOGITS), torch.tensor(LABELS))
    torch.testing.assert_close(out, torch.tensor(hand_la(ref, LOGITS, LABELS, COUNTS, tau)),
                               rtol=1e-5, atol=1e-6)


def test_tau_one_is_balanced_softmax():
    # Ren et al.: CE(z + log n_y); the constant log N cancels in the softmax.
    z, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    bsm = F.cross_entropy(z + torch.tensor(COUNTS, dtype=torch.float32).log(), y)
    torch.testing.assert_close(LogitAdjustedLoss(COUNTS)(z, y), bsm)


def test_tau_zero_is_cross_entropy():
    z, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    torch.testing.assert_close(LogitAdjustedLoss(COUNTS, tau=0.0)(z, y), F.cross_entropy(z, y))


def test_log_prior_buffer_and_zero_counts(ref):
    loss = LogitAdjustedLoss([3, 0, 1])
    # Zero counts are clamped to 1 before normalising: prior (3, 1, 1) / 5.
    expected = [math.log(3 / 5), math.log(1 / 5), math.log(1 / 5)]
    torch.testing.assert_close(loss.log_prior, torch.tensor(expected))
    torch.testing.assert_close(log_class_prior(torch.tensor([3.0, 0.0, 1.0])),
                               torch.tensor(expected))
    z = torch.tensor(LOGITS, requires_grad=True)
    out = loss(z, torch.tensor([1, 1, 0]))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(z.grad).all()
    assert out.item() == pytest.approx(
        sum(hand_la(ref, LOGITS, [1, 1, 0], [3, 1, 1], 1.0)) / 3, rel=1e-5)


def test_soft_targets(ref):
    soft = [[0.7, 0.3, 0.0], [0.0, 0.4, 0.6], [0.2, 0.2, 0.6]]
    w = [0.5, 1.0, 2.0]
    expected = []
    for row, t in zip(LOGITS, soft):
        lp = ref.log_softmax([v + 0.5 * math.log(COUNTS[c] / 10) for c, v in enumerate(row)])
        expected.append(-sum(t[c] * w[c] * lp[c] for c in range(3)))
    loss = LogitAdjustedLoss(COUNTS, tau=0.5, class_weight=w, reduction='none')
    torch.testing.assert_close(loss(torch.tensor(LOGITS), torch.tensor(soft)),
                               torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_class_weight_and_drw(ref):
    w = [2.0, 1.0, 0.5]
    loss = LogitAdjustedLoss(COUNTS, class_weight=w, reduction='sum')
    z, y = torch.tensor(LOGITS), torch.tensor(LABELS)
    assert loss(z, y).item() == pytest.approx(sum(hand_la(ref, LOGITS, LABELS, COUNTS, 1, w)),
                                              rel=1e-5)
    drw = [1.0, 4.0, 0.25]
    loss.set_drw_weight(drw)
    assert loss(z, y).item() == pytest.approx(
        sum(hand_la(ref, LOGITS, LABELS, COUNTS, 1, drw)), rel=1e-5)


def test_errors():
    with pytest.raises(ValueError, match='tau'):
        LogitAdjustedLoss(COUNTS, tau=-1.0)
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        LogitAdjustedLoss()(torch.randn(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r'cls_num_list has 2 entries.*3 classes'):
        LogitAdjustedLoss([4, 1])(torch.randn(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='class index 3'):
        LogitAdjustedLoss(COUNTS)(torch.randn(2, 3), torch.tensor([0, 3]))


def test_counts_from_txt_and_json(tmp_path):
    txt = tmp_path / 'counts.txt'
    txt.write_text('6\n3\n1\n')
    js = tmp_path / 'counts.json'
    js.write_text('{"cls_num_list": [6, 3, 1]}')
    ref_loss = LogitAdjustedLoss(COUNTS)
    for spec in (str(txt), str(js)):
        torch.testing.assert_close(LogitAdjustedLoss(spec).log_prior, ref_loss.log_prior)


def test_state_dict_round_trip():
    src = LogitAdjustedLoss(COUNTS, tau=0.7)
    dst = LogitAdjustedLoss(tau=0.7)
    assert set(src.state_dict()) == {'cls_num'}
    dst.load_state_dict(src.state_dict())
    torch.testing.assert_close(dst.log_prior, src.log_prior)
    z, y = torch.tensor(LOGITS), torch.tensor(LABELS)
    torch.testing.assert_close(dst(z, y), src(z, y))


def test_gradcheck_float64():
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 1])
    soft = torch.softmax(torch.randn(4, 3), 1).double()
    loss = LogitAdjustedLoss(COUNTS, tau=1.5, class_weight=[0.5, 1.0, 2.0])
    assert loss(z, y).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda x: loss(x, y), (z,))
    assert torch.autograd.gradcheck(lambda x: loss(x, soft), (z,))


def test_bf16_autocast_and_pixelwise(ref):
    loss = LogitAdjustedLoss(COUNTS)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(torch.randn(2, 3).bfloat16(), torch.tensor([0, 2]))
    assert out.dtype == torch.float32 and torch.isfinite(out)
    z = torch.tensor(LOGITS + [[0.0, 0.0, 0.0]]).t().reshape(1, 3, 4)
    y = torch.tensor([LABELS + [255]])
    out = loss(z, y, ignore_index=255)
    assert out.item() == pytest.approx(sum(hand_la(ref, LOGITS, LABELS, COUNTS, 1.0)) / 3,
                                       rel=1e-5)
