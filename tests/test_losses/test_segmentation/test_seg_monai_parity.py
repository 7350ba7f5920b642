"""Parity with MONAI's DiceLoss, GeneralizedDiceLoss and TverskyLoss for matching options."""
import itertools

import pytest
import torch

from mmloss_plugin.losses import FocalTverskyLoss, GeneralizedDiceLoss, IoULoss, SoftDiceLoss

monai_losses = pytest.importorskip('monai.losses')


def _data(spatial, c=4, seed=0, ignore=False, absent=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, c, *spatial, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randint(0, c, (3,) + spatial, generator=g)
    if absent:
        y[0] = y[0].clamp(max=1)  # classes 2.. absent from image 0
        y[1] = 0                  # only background in image 1
    if ignore:
        y[0, 0] = 255
        y[2, ..., -1] = 255
    return x, y


def _check(ours, ref, x):
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    g1, = torch.autograd.grad(ours, x)
    g2, = torch.autograd.grad(ref, x)
    torch.testing.assert_close(g1, g2, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize('spatial,include_background,batch,absent', list(itertools.product(
    [(6, 7), (3, 4, 5)], [True, False], [False, True], [False, True])))
def test_dice_softmax(spatial, include_background, batch, absent):
    x, y = _data(spatial, absent=absent)
    kw = dict(include_background=include_background, batch=batch)
    ref = monai_losses.DiceLoss(softmax=True, to_onehot_y=True, **kw)(x, y[:, None])
    _check(SoftDiceLoss(**kw)(x, y), ref, x)


def test_dice_class_weight_and_ignore_index():
    x, y = _data((6, 7), ignore=True)
    w = [0.5, 1.0, 2.0, 3.0]
    ref = monai_losses.DiceLoss(softmax=True, to_onehot_y=True, weight=w,
                                ignore_index=255)(x, y[:, None])
    _check(SoftDiceLoss(class_weight=w)(x, y), ref, x)


def test_dice_sigmoid_binary_and_multilabel():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1, 5, 6, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randint(0, 2, (2, 5, 6), generator=g)
    ref = monai_losses.DiceLoss(sigmoid=True)(x, y[:, None].double())
    _check(SoftDiceLoss(use_sigmoid=True)(x, y), ref, x)
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randint(0, 2, (2, 3, 5, 6), generator=g)
    ref = monai_losses.DiceLoss(sigmoid=True, batch=True)(x, y.double())
    _check(SoftDiceLoss(use_sigmoid=True, batch=True)(x, y), ref, x)


def test_iou_equals_monai_jaccard_with_half_smoothing():
    x, y = _data((6, 7))
    ref = monai_losses.DiceLoss(softmax=True, to_onehot_y=True, jaccard=True,
                                smooth_nr=1e-3, smooth_dr=1e-3)(x, y[:, None])
    _check(IoULoss(smooth=0.5e-3)(x, y), ref, x)


@pytest.mark.parametrize('alpha,beta,batch,include_background', [
    (0.3, 0.7, False, True), (0.5, 0.5, True, True), (0.8, 0.2, False, False)])
def test_tversky(alpha, beta, batch, include_background):
    x, y = _data((3, 4, 5), absent=True, ignore=True)
    kw = dict(alpha=alpha, beta=beta, batch=batch, include_background=include_background)
    ref = monai_losses.TverskyLoss(softmax=True, to_onehot_y=True, ignore_index=255,
                                   **kw)(x, y[:, None])
    _check(FocalTverskyLoss(gamma=1.0, **kw)(x, y), ref, x)


@pytest.mark.parametrize('w_type,batch,include_background,spatial', list(itertools.product(
    ['square', 'simple', 'uniform'], [False, True], [True, False], [(6, 7), (3, 4, 5)])))
def test_generalized_dice(w_type, batch, include_background, spatial):
    x, y = _data(spatial, absent=True)
    kw = dict(batch=batch, include_background=include_background)
    ref = monai_losses.GeneralizedDiceLoss(softmax=True, to_onehot_y=True, w_type=w_type,
                                           **kw)(x, y[:, None])
    _check(GeneralizedDiceLoss(weight_type=w_type, **kw)(x, y), ref, x)


def test_generalized_dice_all_absent_matches_monai_zero():
    # one-channel sigmoid, empty foreground everywhere: every weight is 0 -> loss 0
    x = torch.randn(2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    y = torch.zeros(2, 4, 4, dtype=torch.long)
    ref = monai_losses.GeneralizedDiceLoss(sigmoid=True)(x, y[:, None].double())
    ours = GeneralizedDiceLoss(use_sigmoid=True)(x, y)
    assert ref.item() == 0.0 and ours.item() == 0.0
