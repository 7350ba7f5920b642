import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from mmloss_plugin.losses import LDAMLoss, ldam_margins

COUNTS = [100, 10, 1]
COS = [[0.3, -0.2, 0.9], [0.1, 0.5, -0.4], [-0.7, 0.8, 0.2]]
LABELS = [2, 0, 1]


def hand_ldam(ref, logits, labels, counts, max_m, s, w=None):
    """-w_y log softmax(s (z - Delta_y e_y))_y per sample (Python floats)."""
    m = ref.ldam_margins(counts, max_m)
    out = []
    for row, y in zip(logits, labels):
        adj = [s * (v - (m[y] if c == y else 0.0)) for c, v in enumerate(row)]
        out.append(-(1.0 if w is None else w[y]) * ref.log_softmax(adj)[y])
    return out


def test_margins_match_formula():
    # Delta_j = max_m * n_j^(-1/4) / max_k n_k^(-1/4); rarest class gets max_m.
    m = ldam_margins(torch.tensor([100.0, 10.0, 1.0]), 0.5)
    expected = [0.5 * 100 ** -0.25, 0.5 * 10 ** -0.25, 0.5]
    torch.testing.assert_close(m, torch.tensor(expected))
    loss = LDAMLoss([16, 81, 256], max_m=0.3)
    # n^-1/4 = 1/2, 1/3, 1/4 -> scaled so that 1/2 -> 0.3.
    torch.testing.assert_close(loss.margins, torch.tensor([0.3, 0.2, 0.15]))


def test_cosine_matches_formula(ref):
    loss = LDAMLoss(COUNTS, max_m=0.5, s=4.0, logit_type='cosine', reduction='none')
    out = loss(torch.tensor(COS), torch.tensor(LABELS))
    expected = hand_ldam(ref, COS, LABELS, COUNTS, 0.5, 4.0)
    torch.testing.assert_close(out, torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_class_weight_and_mean(ref):
    w = [0.2, 1.0, 3.0]
    loss = LDAMLoss(COUNTS, max_m=0.4, s=2.0, class_weight=w, logit_type='cosine')
    out = loss(torch.tensor(COS), torch.tensor(LABELS), avg_factor=3)
    expected = sum(hand_ldam(ref, COS, LABELS, COUNTS, 0.4, 2.0, w)) / 3
    assert out.item() == pytest.approx(expected, rel=1e-5)


def test_raw_logits_do_not_apply_s(ref):
    raw = [[3.0, -2.0, 1.0], [0.5, 4.0, -1.0], [2.0, 2.0, 0.0]]
    expected = hand_ldam(ref, raw, LABELS, COUNTS, 0.5, 1.0)
    for logit_type in ('raw', 'auto'):
        loss = LDAMLoss(COUNTS, s=30.0, logit_type=logit_type, reduction='none')
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            out = loss(torch.tensor(raw), torch.tensor(LABELS))
        torch.testing.assert_close(out, torch.tensor(expected), rtol=1e-5, atol=1e-6)
        assert loss.effective_s == 1.0 and loss.resolved_logit_type == 'raw'


def test_auto_warns_once_for_raw_logits(fresh_warnings):
    loss = LDAMLoss(COUNTS)  # defaults: s=30, logit_type='auto', head did not declare cosine
    z, y = torch.tensor(COS), torch.tensor(LABELS)
    with pytest.warns(UserWarning, match=r"NormedLinearClsHead.*logit_type='cosine'"):
        loss(z, y)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        loss(z, y)  # one-time


@pytest.mark.parametrize('kwargs', [{'s': 1.0}, {'logit_type': 'raw'},
                                    {'logit_type': 'cosine'}])
def test_no_warning_when_explicit(fresh_warnings, kwargs):
    loss = LDAMLoss(COUNTS, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert torch.isfinite(loss(torch.tensor(COS), torch.tensor(LABELS)))


def test_mark_cosine_logits_applies_s(ref, fresh_warnings):
    head = torch.nn.Module()
    head.loss_module = LDAMLoss(COUNTS, s=8.0, reduction='none')
    assert "resolved 'raw'" in repr(head.loss_module)
    # What NormedLinearClsHead does:
    for m in head.modules():
        if hasattr(m, 'mark_cosine_logits'):
            m.mark_cosine_logits()
    loss = head.loss_module
    assert loss.cosine_logits is True and loss.effective_s == 8.0
    assert "resolved 'cosine'" in repr(loss) and 'effective s=8.0' in repr(loss)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        out = loss(torch.tensor(COS), torch.tensor(LABELS))
    torch.testing.assert_close(out, torch.tensor(hand_ldam(ref, COS, LABELS, COUNTS, 0.5, 8.0)),
                               rtol=1e-5, atol=1e-6)
    # An explicit 'raw' wins over the head's declaration.
    raw = LDAMLoss(COUNTS, s=8.0, logit_type='raw')
    raw.mark_cosine_logits()
    assert raw.effective_s == 1.0


def test_invalid_arguments():
    with pytest.raises(ValueError, match='logit_type'):
        LDAMLoss(COUNTS, logit_type='normed')
    with pytest.raises(ValueError, match='max_m'):
        LDAMLoss(COUNTS, max_m=-0.1)
    with pytest.raises(ValueError, match='s must be > 0'):
        LDAMLoss(COUNTS, s=0.0)
    with pytest.raises(ValueError, match='cls_num_list'):
        LDAMLoss([3, -1, 2])
    with pytest.raises(ValueError, match='class index 3'):
        LDAMLoss(COUNTS)(torch.randn(2, 3), torch.tensor([3, 0]))


def test_soft_targets_expected_margin(ref):
    soft = [[0.5, 0.5, 0.0], [0.2, 0.0, 0.8], [0.0, 1.0, 0.0]]
    w = [1.0, 2.0, 0.5]
    s, max_m = 3.0, 0.5
    m = ref.ldam_margins(COUNTS, max_m)
    expected = []
    for row, t in zip(COS, soft):
        logp = ref.log_softmax([s * (row[c] - m[c] * t[c]) for c in range(3)])
        expected.append(-sum(t[c] * w[c] * logp[c] for c in range(3)))
    loss = LDAMLoss(COUNTS, max_m=max_m, s=s, class_weight=w, logit_type='cosine',
                    reduction='none')
    out = loss(torch.tensor(COS), torch.tensor(soft))
    torch.testing.assert_close(out, torch.tensor(expected), rtol=1e-5, atol=1e-6)
    # One-hot soft targets reduce to hard labels.
    y = torch.tensor(LABELS)
    torch.testing.assert_close(loss(torch.tensor(COS), F.one_hot(y, 3).float()),
                               loss(torch.tensor(COS), y))


def test_zero_count_class_is_finite(ref):
    counts = [50, 0, 5]
    loss = LDAMLoss(counts, max_m=0.5, s=5.0, logit_type='cosine', class_weight='inverse')
    # Zero counts are clamped to 1: the empty class gets the largest margin.
    torch.testing.assert_close(loss.margins, torch.tensor(ref.ldam_margins(counts, 0.5)))
    assert loss.margins[1].item() == pytest.approx(0.5)
    assert torch.isfinite(loss.class_weight).all()
    z = torch.tensor(COS, requires_grad=True)
    out = loss(z, torch.tensor([1, 1, 0]))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(z.grad).all()


def test_missing_counts_names_the_hook():
    loss = LDAMLoss()
    assert loss.margins is None
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        loss(torch.randn(2, 3), torch.tensor([0, 1]))
    loss.set_class_counts(COUNTS)  # what ClassCountsHook does before training
    torch.testing.assert_close(loss.margins, ldam_margins(torch.tensor(COUNTS), 0.5))


def test_length_mismatch_names_both_numbers():
    with pytest.raises(ValueError, match=r'cls_num_list has 2 entries.*3 classes'):
        LDAMLoss([5, 1])(torch.randn(2, 3), torch.tensor([0, 1]))
    loss = LDAMLoss(class_weight=[1, 1, 1, 1])  # built fine; counts come later (hook)
    loss.set_class_counts([1, 2, 3, 4])
    with pytest.raises(ValueError, match=r'4 entries.*3 classes'):
        loss(torch.randn(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='cls_num_list has 3 classes but class_weight has 2'):
        LDAMLoss(COUNTS, class_weight=[1.0, 2.0])


def test_state_dict_round_trip_into_loss_without_counts(ref):
    src = LDAMLoss(COUNTS, max_m=0.4, s=2.0, logit_type='cosine',
                   class_weight='effective_number')
    src.set_drw_weight([1.0, 2.0, 3.0])
    sd = src.state_dict()
    assert set(sd) == {'class_weight', 'cls_num', 'drw_weight'}
    dst = LDAMLoss(max_m=0.4, s=2.0, logit_type='cosine', class_weight='effective_number')
    dst.load_state_dict(sd)  # strict
    torch.testing.assert_close(dst.cls_num, torch.tensor(COUNTS, dtype=torch.float32))
    torch.testing.assert_close(dst.margins, torch.tensor(ref.ldam_margins(COUNTS, 0.4)))
    torch.testing.assert_close(dst.drw_weight, torch.tensor([1.0, 2.0, 3.0]))
    z, y = torch.tensor(COS), torch.tensor(LABELS)
    torch.testing.assert_close(dst(z, y), src(z, y))
    # A loss built with other counts gets its margins refreshed from the checkpoint's.
    other = LDAMLoss([1, 1, 1], max_m=0.4, s=2.0, logit_type='cosine',
                     class_weight='effective_number')
    other.load_state_dict(sd)
    torch.testing.assert_close(other.margins, dst.margins)


def test_buffers_follow_module_to():
    loss = LDAMLoss(COUNTS, class_weight=[1.0, 2.0, 3.0]).to(torch.float64)
    assert loss.margins.dtype == torch.float64 and loss.class_weight.dtype == torch.float64
    meta = LDAMLoss(COUNTS).to('meta')
    assert meta.margins.device.type == 'meta' and meta.cls_num.device.type == 'meta'


def test_drw_overrides_class_weight(ref):
    loss = LDAMLoss(COUNTS, s=2.0, class_weight=[1.0, 1.0, 1.0], logit_type='cosine',
                    reduction='none')
    drw = [0.5, 2.0, 4.0]
    loss.set_drw_weight(drw)
    out = loss(torch.tensor(COS), torch.tensor(LABELS))
    torch.testing.assert_close(
        out, torch.tensor(hand_ldam(ref, COS, LABELS, COUNTS, 0.5, 2.0, drw)),
        rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('soft', [False, True])
def test_gradcheck_float64(soft):
    torch.manual_seed(0)
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.softmax(torch.randn(4, 3), 1).double() if soft else torch.tensor([0, 1, 2, 1])
    loss = LDAMLoss(COUNTS, s=3.0, class_weight=[0.5, 1.0, 2.0], logit_type='cosine')
    assert loss(z, y).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda x: loss(x, y), (z,))


def test_bf16_autocast_computes_in_float32():
    loss = LDAMLoss(COUNTS, logit_type='cosine')
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(torch.tensor(COS).bfloat16(), torch.tensor(LABELS))
    assert out.dtype == torch.float32 and torch.isfinite(out)


def test_pixelwise_with_ignore_index(ref):
    z = torch.tensor(COS + [[0.0, 0.0, 0.0]]).t().reshape(1, 3, 2, 2)
    y = torch.tensor(LABELS + [255]).reshape(1, 2, 2)
    loss = LDAMLoss(COUNTS, s=2.0, logit_type='cosine')
    out = loss(z, y, ignore_index=255)
    expected = sum(hand_ldam(ref, COS, LABELS, COUNTS, 0.5, 2.0)) / 3
    assert out.item() == pytest.approx(expected, rel=1e-5)
    assert not math.isnan(out.item())
