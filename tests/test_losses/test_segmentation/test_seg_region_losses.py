"""Region losses: hand-computed values, options, masking, edge cases, gradients, autocast."""
import math

import pytest
import torch

from mmloss_plugin.losses import (
    FocalTverskyLoss,
    GeneralizedDiceLoss,
    IoULoss,
    SensitivitySpecificityLoss,
    SoftDiceLoss,
)

REGION_LOSSES = [SoftDiceLoss, IoULoss, FocalTverskyLoss, GeneralizedDiceLoss,
                 SensitivitySpecificityLoss]


def _logits_from_probs(probs):
    """(N, C, *) log-probabilities: their softmax gives back ``probs``."""
    return torch.tensor(probs, dtype=torch.float64).log()


# Example A: one image, 2 classes, 4 pixels. P(class 1) = .9 .2 .6 .1, labels 1 0 1 0.
#   class 1: TP = .9 + .6 = 1.5, sum p = 1.8, sum g = 2, FP = .3, FN = .5
#   class 0: p = .1 .8 .4 .9 -> TP = 1.7, sum p = 2.2, sum g = 2, FP = .5, FN = .3
P1 = [0.9, 0.2, 0.6, 0.1]
XA = _logits_from_probs([[[1 - p for p in P1], P1]])       # (1, 2, 4)
YA = torch.tensor([[1, 0, 1, 0]])

# Example B: one image, 3 classes, 4 pixels, labels 0 0 0 1 (class 2 absent).
#   class 0: TP = .7 + .6 + .5 = 1.8, sum p = 2.0, sum g = 3
#   class 1: TP = .5, sum p = .2 + .3 + .25 + .5 = 1.25, sum g = 1
#   class 2: TP = 0, sum p = .1 + .1 + .25 + .3 = .75, sum g = 0
PB = [[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.5, 0.25, 0.25], [0.2, 0.5, 0.3]]
XB = _logits_from_probs([[[px[c] for px in PB] for c in range(3)]])  # (1, 3, 4)
YB = torch.tensor([[0, 0, 0, 1]])


def _approx(v):
    return pytest.approx(v, rel=1e-9, abs=1e-12)


class TestHandValues:

    def test_dice(self):
        expected = ((1 - 3.0 / 3.8) + (1 - 3.4 / 4.2)) / 2
        assert SoftDiceLoss(smooth=0)(XA, YA).item() == _approx(expected)
        s = 1e-5
        expected = ((1 - (3.0 + s) / (3.8 + s)) + (1 - (3.4 + s) / (4.2 + s))) / 2
        assert SoftDiceLoss()(XA, YA).item() == _approx(expected)

    def test_dice_options(self):
        d1, d0 = 1 - 3.0 / 3.8, 1 - 3.4 / 4.2
        assert SoftDiceLoss(smooth=0, include_background=False)(XA, YA).item() == _approx(d1)
        cw = SoftDiceLoss(smooth=0, class_weight=[0.5, 2.0])(XA, YA).item()
        assert cw == _approx((0.5 * d0 + 2.0 * d1) / 2)
        none = SoftDiceLoss(smooth=0, reduction='none')(XA, YA)
        assert none.shape == (1, 2)
        assert none[0].tolist() == [_approx(d0), _approx(d1)]
        assert SoftDiceLoss(smooth=0, reduction='sum')(XA, YA).item() == _approx(d0 + d1)
        assert SoftDiceLoss(smooth=0, loss_weight=3.0)(XA, YA).item() == \
            _approx(3 * (d0 + d1) / 2)
        assert SoftDiceLoss(smooth=0)(XA, YA, avg_factor=4.0).item() == _approx((d0 + d1) / 4)

    def test_dice_empty_class(self):
        s = 1e-5
        expected = ((1 - (3.6 + s) / (5 + s)) + (1 - (1 + s) / (2.25 + s))
                    + (1 - s / (0.75 + s))) / 3
        assert SoftDiceLoss()(XB, YB).item() == _approx(expected)

    def test_iou(self):
        expected = ((1 - 1.5 / 2.3) + (1 - 1.7 / 2.5)) / 2
        assert IoULoss(smooth=0)(XA, YA).item() == _approx(expected)

    @pytest.mark.parametrize('gamma', [1.0, 0.75, 2.0])
    def test_focal_tversky(self, gamma):
        ti1 = 1.5 / (1.5 + 0.3 * 0.3 + 0.7 * 0.5)
        ti0 = 1.7 / (1.7 + 0.3 * 0.5 + 0.7 * 0.3)
        expected = ((1 - ti1) ** gamma + (1 - ti0) ** gamma) / 2
        loss = FocalTverskyLoss(smooth=0, gamma=gamma)(XA, YA).item()
        assert loss == _approx(expected)

    def test_tversky_alpha_weights_false_positives(self):
        # all weight on FP: class 1 FP = .3, class 0 FP = .5
        expected = ((1 - 1.5 / 1.8) + (1 - 1.7 / 2.2)) / 2
        loss = FocalTverskyLoss(alpha=1.0, beta=0.0, gamma=1.0, smooth=0)(XA, YA).item()
        assert loss == _approx(expected)

    @pytest.mark.parametrize('weight_type,w', [
        ('square', [1 / 9, 1.0, 1.0]),    # class 2 absent -> max finite weight (1)
        ('simple', [1 / 3, 1.0, 1.0]),
        ('uniform', [1.0, 1.0, 1.0]),
    ])
    def test_generalized_dice(self, weight_type, w):
        tp, sp, sg = [1.8, 0.5, 0.0], [2.0, 1.25, 0.75], [3.0, 1.0, 0.0]
        num = 2 * sum(wi * t for wi, t in zip(w, tp))
        den = sum(wi * (p + g) for wi, p, g in zip(w, sp, sg))
        loss = GeneralizedDiceLoss(weight_type=weight_type, smooth=0)(XB, YB).item()
        assert loss == _approx(1 - num / den)

    def test_generalized_dice_class_weight_multiplies_weights(self):
        w = [1 / 9 * 2.0, 1.0 * 0.5, 1.0 * 1.0]
        num = 2 * (w[0] * 1.8 + w[1] * 0.5)
        den = w[0] * 5.0 + w[1] * 2.25 + w[2] * 0.75
        loss = GeneralizedDiceLoss(smooth=0, class_weight=[2.0, 0.5, 1.0])(XB, YB).item()
        assert loss == _approx(1 - num / den)

    def test_sensitivity_specificity(self):
        # class 1: g = 1 0 1 0, p = .9 .2 .6 .1 -> sens = (.1^2 + .4^2)/2, spec = (.2^2+.1^2)/2
        sens1, spec1 = (0.01 + 0.16) / 2, (0.04 + 0.01) / 2
        sens0, spec0 = (0.04 + 0.01) / 2, (0.01 + 0.16) / 2
        r = 0.05
        expected = ((r * sens1 + (1 - r) * spec1) + (r * sens0 + (1 - r) * spec0)) / 2
        loss = SensitivitySpecificityLoss(smooth=0)(XA, YA).item()
        assert loss == _approx(expected)
        r = 0.5
        expected = ((r * sens1 + (1 - r) * spec1) + (r * sens0 + (1 - r) * spec0)) / 2
        assert SensitivitySpecificityLoss(r=r, smooth=0)(XA, YA).item() == _approx(expected)

    def test_binary_one_channel_sigmoid(self):
        # logit log(p / (1 - p)) -> sigmoid p; foreground statistics only
        x = torch.tensor([[[math.log(p / (1 - p)) for p in P1]]], dtype=torch.float64)
        for loss_cls, expected in [
            (SoftDiceLoss, 1 - 3.0 / 3.8),
            (IoULoss, 1 - 1.5 / 2.3),
            (SensitivitySpecificityLoss, 0.05 * 0.085 + 0.95 * 0.025),
        ]:
            loss = loss_cls(use_sigmoid=True, smooth=0)
            assert loss(x, YA).item() == _approx(expected), loss_cls
            assert loss(x, YA[:, None]).item() == _approx(expected), loss_cls


@pytest.mark.parametrize('loss_cls', REGION_LOSSES)
@pytest.mark.parametrize('batch', [False, True])
@pytest.mark.parametrize('spatial', [(5, 6), (3, 4, 5)])
def test_against_one_hot_reference(seg_ref, loss_cls, batch, spatial):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, *spatial, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randint(0, 4, (3,) + spatial, generator=g)
    y[0, 0] = 255
    w = torch.rand((3,) + spatial, dtype=torch.float64, generator=g)
    s = seg_ref.sums(x, y, 255, False, w, batch)
    ref = {SoftDiceLoss: lambda: seg_ref.dice(s), IoULoss: lambda: seg_ref.iou(s),
           FocalTverskyLoss: lambda: seg_ref.tversky(s, 0.3, 0.7, 0.75),
           GeneralizedDiceLoss: lambda: seg_ref.gdl(s),
           SensitivitySpecificityLoss: lambda: seg_ref.ss(s)}[loss_cls]().mean()
    ours = loss_cls(batch=batch)(x, y, weight=w)
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-12)
    g1, = torch.autograd.grad(ours, x)
    g2, = torch.autograd.grad(ref, x)
    torch.testing.assert_close(g1, g2, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize('loss_cls', REGION_LOSSES)
def test_multilabel_sigmoid_matches_reference(seg_ref, loss_cls):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=g)
    y = torch.randint(0, 2, (2, 3, 4, 5), generator=g)
    y[0, 2, 1] = 255
    s = seg_ref.sums(x, y, 255, True)
    ref = {SoftDiceLoss: seg_ref.dice, IoULoss: seg_ref.iou,
           FocalTverskyLoss: lambda t: seg_ref.tversky(t, 0.3, 0.7, 0.75),
           GeneralizedDiceLoss: seg_ref.gdl, SensitivitySpecificityLoss: seg_ref.ss}[loss_cls]
    torch.testing.assert_close(loss_cls(use_sigmoid=True)(x, y), ref(s).mean())


@pytest.mark.parametrize('loss_cls', REGION_LOSSES)
@pytest.mark.parametrize('mode', ['softmax', 'binary'])
def test_gradcheck_float64(loss_cls, mode):
    g = torch.Generator().manual_seed(4)
    c = 1 if mode == 'binary' else 3
    x = torch.randn(2, c, 3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randint(0, max(c, 2), (2, 3, 4), generator=g)
    y[0, 1] = 255
    w = torch.rand(2, 3, 4, dtype=torch.float64, generator=g) + 0.5
    loss = loss_cls(use_sigmoid=mode == 'binary')
    assert torch.autograd.gradcheck(lambda inp: loss(inp, y, weight=w), (x,))


@pytest.mark.parametrize('loss_cls', REGION_LOSSES)
@pytest.mark.parametrize('use_sigmoid,c', [(False, 3), (True, 1), (True, 3)])
def test_ignored_pixels_do_not_affect_loss_or_gradient(loss_cls, use_sigmoid, c):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, c, 4, 4, generator=g)
    y = torch.randint(0, max(c, 2), (2, 4, 4), generator=g)
    ignored = torch.zeros(2, 4, 4, dtype=torch.bool)
    ignored[0, :2] = True
    ignored[1, 3, 3] = True
    y[ignored] = 255
    x2 = x.clone()
    x2[ignored.unsqueeze(1).expand_as(x)] = 50.0 * torch.randn(int(ignored.sum()) * c,
                                                               generator=g)
    loss = loss_cls(use_sigmoid=use_sigmoid)
    out = []
    for inp in (x, x2):
        inp = inp.clone().requires_grad_()
        val = loss(inp, y)
        val.backward()
        out.append((val.detach(), inp.grad))
    torch.testing.assert_close(out[0][0], out[1][0], rtol=0, atol=1e-6)
    keep = ~ignored.unsqueeze(1).expand_as(x)
    torch.testing.assert_close(out[0][1][keep], out[1][1][keep], rtol=0, atol=1e-7)
    assert out[0][1][~keep].abs().max() == 0 and out[1][1][~keep].abs().max() == 0


@pytest.mark.parametrize('loss_cls', REGION_LOSSES)
@pytest.mark.parametrize('batch', [False, True])
def test_all_ignored_batch_is_zero_with_zero_gradient(loss_cls, batch):
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    y = torch.full((2, 4, 4), 255)
    val = loss_cls(batch=batch)(x, y)
    val.backward()
    assert val.item() == 0.0
    assert torch.isfinite(x.grad).all() and x.grad.abs().max() == 0
    # ignore_index passed to forward wins over the constructor's
    y7 = torch.full((2, 4, 4), 7)
    assert loss_cls(ignore_index=255)(x, y7, ignore_index=7).item() == 0.0


@pytest.mark.parametrize('loss_cls', REGION_LOSSES)
def test_fully_ignored_image_is_left_out_of_the_mean(loss_cls):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(2, 3, 4, 4, generator=g)
    y = torch.randint(0, 3, (2, 4, 4), generator=g)
    y[1] = 255
    loss = loss_cls()
    torch.testing.assert_close(loss(x, y), loss(x[:1], y[:1]))


@pytest.mark.parametrize('loss_cls', REGION_LOSSES)
def test_empty_class_is_finite(loss_cls):
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    y = torch.randint(0, 2, (2, 5, 5))  # classes 2 and 3 absent everywhere
    val = loss_cls()(x, y)
    val.backward()
    assert torch.isfinite(val) and torch.isfinite(x.grad).all()


@pytest.mark.parametrize('loss_cls', REGION_LOSSES)
def test_bf16_autocast_computes_in_float32(loss_cls):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, 8, 8, generator=g).bfloat16().requires_grad_()
    y = torch.randint(0, 3, (2, 8, 8), generator=g)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        val = loss_cls()(x, y)
    assert val.dtype == torch.float32 and torch.isfinite(val)
    torch.testing.assert_close(val, loss_cls()(x.detach().float(), y), rtol=1e-6, atol=1e-6)
    val.backward()
    assert torch.isfinite(x.grad.float()).all()


def test_fp16_large_image_does_not_overflow():
    # sums over 512 x 512 pixels exceed fp16's 65504
    x = torch.zeros(1, 2, 512, 512, dtype=torch.float16)
    y = torch.ones(1, 512, 512, dtype=torch.long)
    val = SoftDiceLoss(smooth=0)(x, y)
    assert val.dtype == torch.float32
    # p = .5 everywhere: class 1 -> 1 - 2*.5n/(.5n+n) = 1/3; class 0 absent -> 1 - 0/(.5n) = 1
    assert val.item() == pytest.approx((1 / 3 + 1) / 2, rel=1e-6)


def test_include_background_false_drops_class_zero():
    g = torch.Generator().manual_seed(8)
    x = torch.randn(2, 3, 4, 4, generator=g)
    y = torch.randint(0, 3, (2, 4, 4), generator=g)
    full = SoftDiceLoss(reduction='none')(x, y)
    fg = SoftDiceLoss(reduction='none', include_background=False)(x, y)
    torch.testing.assert_close(fg, full[:, 1:])


def test_include_background_warns_for_binary(recwarn):
    x = torch.randn(1, 1, 4, 4)
    y = torch.randint(0, 2, (1, 4, 4))
    a = SoftDiceLoss(use_sigmoid=True, include_background=False)(x, y)
    torch.testing.assert_close(a, SoftDiceLoss(use_sigmoid=True)(x, y))


@pytest.mark.parametrize('kwargs,exc,match', [
    (dict(smooth=-1), ValueError, 'smooth'),
    (dict(use_sigmoid=1), TypeError, 'use_sigmoid'),
    (dict(batch='yes'), TypeError, 'batch'),
    (dict(reduction='avg'), ValueError, 'reduction'),
    (dict(loss_name='dice'), ValueError, 'loss_name'),
    (dict(ignore_index='255'), TypeError, 'ignore_index'),
])
def test_bad_options_raise(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        SoftDiceLoss(**kwargs)


def test_specific_bad_options_raise():
    with pytest.raises(ValueError, match='gamma'):
        FocalTverskyLoss(gamma=0)
    with pytest.raises(ValueError, match='alpha'):
        FocalTverskyLoss(alpha=-0.1)
    with pytest.raises(ValueError, match='weight_type'):
        GeneralizedDiceLoss(weight_type='log')
    with pytest.raises(ValueError, match='r must be in'):
        SensitivitySpecificityLoss(r=1.5)
    with pytest.raises(ValueError, match='class_weight has 2 entries'):
        SoftDiceLoss(class_weight=[1.0, 2.0])(torch.randn(1, 3, 2, 2),
                                              torch.zeros(1, 2, 2, dtype=torch.long))


@pytest.mark.parametrize('loss_cls,name', [
    (SoftDiceLoss, 'loss_dice'), (IoULoss, 'loss_iou'),
    (FocalTverskyLoss, 'loss_focal_tversky'), (GeneralizedDiceLoss, 'loss_generalized_dice'),
    (SensitivitySpecificityLoss, 'loss_sensitivity_specificity'),
])
def test_loss_names(loss_cls, name):
    assert loss_cls().loss_name == name
    assert loss_cls(loss_name='loss_x').loss_name == 'loss_x'
