import math
import warnings

import pytest
import torch

from mmloss_plugin.losses import LDAMLoss, LMFLoss, SoftmaxFocalLoss

COUNTS = [60, 12, 2]
COS = [[0.3, -0.2, 0.9], [0.1, 0.5, -0.4], [-0.7, 0.8, 0.2], [0.0, 0.1, -0.1]]
LABELS = [2, 0, 1, 2]


def hand_lmf(ref, logits, labels, counts, alpha, beta, gamma, max_m, s, w):
    """alpha * focal(s z) + beta * LDAM(z) per sample, written out on Python floats."""
    m = ref.ldam_margins(counts, max_m)
    out = []
    for row, y in zip(logits, labels):
        logp = ref.log_softmax([s * v for v in row])[y]
        focal = -w[y] * (1 - math.exp(logp)) ** gamma * logp
        adj = [s * (v - (m[y] if c == y else 0.0)) for c, v in enumerate(row)]
        ldam = -w[y] * ref.log_softmax(adj)[y]
        out.append(alpha * focal + beta * ldam)
    return out


def test_cosine_matches_formula(ref):
    w = [0.5, 1.0, 2.0]
    loss = LMFLoss(COUNTS, alpha=0.7, beta=1.3, gamma=2.0, max_m=0.5, s=4.0, class_weight=w,
                   logit_type='cosine', reduction='none')
    out = loss(torch.tensor(COS), torch.tensor(LABELS))
    expected = hand_lmf(ref, COS, LABELS, COUNTS, 0.7, 1.3, 2.0, 0.5, 4.0, w)
    torch.testing.assert_close(out, torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_raw_default_mean(ref, fresh_warnings):
    raw = [[2.0, -1.0, 0.5], [0.3, 1.5, -2.0], [1.0, 1.0, 1.0], [-1.0, 0.0, 3.0]]
    loss = LMFLoss(COUNTS)  # alpha=beta=1, gamma=2, max_m=0.5, s=30 not applied to raw logits
    with pytest.warns(UserWarning, match='NormedLinearClsHead'):
        out = loss(torch.tensor(raw), torch.tensor(LABELS), avg_factor=4)
    expected = hand_lmf(ref, raw, LABELS, COUNTS, 1.0, 1.0, 2.0, 0.5, 1.0, [1.0] * 3)
    assert out.item() == pytest.approx(sum(expected) / 4, rel=1e-5)
    assert loss.loss_name == 'loss_lmf'


def test_is_sum_of_its_parts():
    z, y = torch.randn(5, 3) * 0.5, torch.tensor([0, 1, 2, 2, 1])
    kw = {'max_m': 0.4, 's': 6.0, 'logit_type': 'cosine', 'class_weight': [1.0, 2.0, 0.5]}
    lmf = LMFLoss(COUNTS, alpha=0.3, beta=2.0, gamma=1.0, **kw)
    ldam = LDAMLoss(COUNTS, **kw)
    focal = SoftmaxFocalLoss(gamma=1.0, class_weight=[1.0, 2.0, 0.5])
    # Both terms see s * z; the focal term has no margin.
    torch.testing.assert_close(lmf(z, y), 0.3 * focal(6.0 * z, y) + 2.0 * ldam(z, y))
    only_ldam = LMFLoss(COUNTS, alpha=0.0, beta=1.0, **kw)
    torch.testing.assert_close(only_ldam(z, y), ldam(z, y))


@pytest.mark.parametrize('kwargs,name', [({'alpha': -1.0}, 'alpha'), ({'beta': -0.1}, 'beta'),
                                         ({'gamma': -2.0}, 'gamma'),
                                         ({'alpha': 0.0, 'beta': 0.0}, 'alpha and beta'),
                                         ({'logit_type': 'cos'}, 'logit_type'),
                                         ({'s': -1.0}, 's')])
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LMFLoss(COUNTS, **kwargs)


def test_soft_targets(ref):
    soft = [[0.5, 0.5, 0.0], [0.2, 0.0, 0.8], [0.0, 1.0, 0.0], [0.1, 0.1, 0.8]]
    s, gamma, max_m = 3.0, 2.0, 0.5
    m = ref.ldam_margins(COUNTS, max_m)
    expected = []
    for row, t in zip(COS, soft):
        lp = ref.log_softmax([s * v for v in row])
        focal = -sum(t[c] * (1 - math.exp(lp[c])) ** gamma * lp[c] for c in range(3))
        la = ref.log_softmax([s * (row[c] - m[c] * t[c]) for c in range(3)])
        ldam = -sum(t[c] * la[c] for c in range(3))
        expected.append(focal + ldam)
    loss = LMFLoss(COUNTS, s=s, logit_type='cosine', reduction='none')
    torch.testing.assert_close(loss(torch.tensor(COS), torch.tensor(soft)),
                               torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_zero_count_class_is_finite():
    z = torch.tensor(COS, requires_grad=True)
    loss = LMFLoss([40, 0, 3], logit_type='cosine', class_weight='effective_number')
    assert torch.isfinite(loss.margins).all() and loss.margins[1].item() == pytest.approx(0.5)
    out = loss(z, torch.tensor([1, 1, 0, 2]))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(z.grad).all()


def test_missing_counts_and_mismatch():
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        LMFLoss()(torch.randn(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r'cls_num_list has 4 entries.*3 classes'):
        LMFLoss([1, 2, 3, 4])(torch.randn(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='class index 5'):
        LMFLoss(COUNTS)(torch.randn(2, 3), torch.tensor([5, 1]))


def test_mark_cosine_and_repr(fresh_warnings):
    loss = LMFLoss(COUNTS, s=10.0)
    assert "resolved 'raw'" in repr(loss) and 'alpha=1.0' in repr(loss)
    loss.mark_cosine_logits()
    assert loss.effective_s == 10.0 and "resolved 'cosine'" in repr(loss)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        loss(torch.tensor(COS), torch.tensor(LABELS))


def test_state_dict_round_trip(ref):
    src = LMFLoss(COUNTS, max_m=0.3, logit_type='cosine', s=5.0)
    dst = LMFLoss(max_m=0.3, logit_type='cosine', s=5.0)
    dst.load_state_dict(src.state_dict())
    torch.testing.assert_close(dst.margins, torch.tensor(ref.ldam_margins(COUNTS, 0.3)))
    z, y = torch.tensor(COS), torch.tensor(LABELS)
    torch.testing.assert_close(dst(z, y), src(z, y))


def test_drw_overrides_class_weight(ref):
    loss = LMFLoss(COUNTS, s=2.0, logit_type='cosine', class_weight='inverse', reduction='none')
    drw = [1.0, 3.0, 0.5]
    loss.set_drw_weight(drw)
    expected = hand_lmf(ref, COS, LABELS, COUNTS, 1.0, 1.0, 2.0, 0.5, 2.0, drw)
    torch.testing.assert_close(loss(torch.tensor(COS), torch.tensor(LABELS)),
                               torch.tensor(expected), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('soft', [False, True])
def test_gradcheck_float64(soft):
    torch.manual_seed(0)
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.softmax(torch.randn(4, 3), 1).double() if soft else torch.tensor([0, 1, 2, 1])
    loss = LMFLoss(COUNTS, alpha=0.5, beta=1.5, s=2.0, logit_type='cosine',
                   class_weight=[0.5, 1.0, 2.0])
    assert loss(z, y).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda x: loss(x, y), (z,))


def test_bf16_autocast_and_pixelwise():
    z = (torch.rand(2, 3, 4, 4) * 2 - 1).bfloat16()
    y = torch.randint(0, 3, (2, 4, 4))
    y[0, :2] = 255
    loss = LMFLoss(COUNTS, logit_type='cosine')
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(z, y, ignore_index=255)
    assert out.dtype == torch.float32 and torch.isfinite(out)
