"""SoftmaxFocalLoss and WeightedCrossEntropyLoss used pixel-wise by segmentation heads."""
import math

import pytest
import torch

from mmloss_plugin.losses import SoftmaxFocalLoss, WeightedCrossEntropyLoss


def _reference(x, y, class_weight, gamma, ignore_index=255):
    """Mean over valid pixels of -w_y (1 - p_y)^gamma log p_y, pixel by pixel in Python."""
    c = x.shape[1]
    xs = x.movedim(1, -1).reshape(-1, c).tolist()
    ys = y.reshape(-1).tolist()
    total, count = 0.0, 0
    for row, label in zip(xs, ys):
        if label == ignore_index:
            continue
        p = torch.tensor(row, dtype=torch.float64).softmax(0)[label].item()
        total += -class_weight[label] * (1 - p) ** gamma * math.log(p)
        count += 1
    return total / max(count, 1)


@pytest.mark.parametrize('loss_cls,gamma', [(WeightedCrossEntropyLoss, 0.0),
                                            (SoftmaxFocalLoss, 2.0)])
@pytest.mark.parametrize('spatial', [(4, 5), (2, 3, 4)])
def test_class_weights_with_ignored_pixels(loss_cls, gamma, spatial):
    g = torch.Generator().manual_seed(0)
    cw = [0.2, 1.0, 3.0]
    x = torch.randn(2, 3, *spatial, dtype=torch.float64, generator=g)
    y = torch.randint(0, 3, (2,) + spatial, generator=g)
    y[0, 0] = 255
    y[1, ..., -1] = 255
    kwargs = dict(class_weight=cw)
    if loss_cls is SoftmaxFocalLoss:
        kwargs['gamma'] = gamma
    loss = loss_cls(**kwargs)
    # mmseg's decode head passes ignore_index to forward
    val = loss(x, y, ignore_index=255)
    # class weights are float32 buffers: agreement to float32 precision
    assert val.item() == pytest.approx(_reference(x, y, cw, gamma), rel=1e-6)
    # the singleton-channel label layout works too
    assert loss(x, y[:, None], ignore_index=255).item() == pytest.approx(val.item(), rel=1e-12)


@pytest.mark.parametrize('loss_cls', [WeightedCrossEntropyLoss, SoftmaxFocalLoss])
def test_all_ignored_and_masking(loss_cls):
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    y = torch.full((2, 4, 4), 255)
    val = loss_cls(class_weight=[1.0, 2.0, 3.0])(x, y, ignore_index=255)
    val.backward()
    assert val.item() == 0 and x.grad.abs().max() == 0
    # changing logits of ignored pixels does not change the loss
    y = torch.randint(0, 3, (2, 4, 4))
    y[:, 0] = 255
    x2 = x.detach().clone()
    x2[:, :, 0] = 100.0
    loss = loss_cls(class_weight=[1.0, 2.0, 3.0])
    torch.testing.assert_close(loss(x.detach(), y, ignore_index=255), loss(x2, y, ignore_index=255))


@pytest.mark.parametrize('loss_cls', [WeightedCrossEntropyLoss, SoftmaxFocalLoss])
def test_out_of_range_label_is_a_clear_error(loss_cls):
    with pytest.raises(ValueError, match='class index 5'):
        loss_cls(class_weight=[1.0, 2.0, 3.0])(torch.randn(1, 3, 2, 2), torch.full((1, 2, 2), 5),
                                               ignore_index=255)
