"""The fused hard-label paths of the CE family against one-hot reference formulas.

``WeightedCrossEntropyLoss`` sums ``-w_y log p_y`` with one ``nll_loss(reduction='sum')`` call
when it can (hard labels, no element-wise weight, ``'mean'``/``'sum'``), and the focal loss
evaluates its modulation on ``log p_y`` only. The references below are written from the
formulas with dense one-hot tensors, independently of the implementation.
"""
import pytest
import torch
import torch.nn.functional as F

from mmloss_plugin.losses import SoftmaxFocalLoss, WeightedCrossEntropyLoss
from mmloss_plugin.losses.utils import reduce_summed

W = [0.5, 1.0, 2.0]
IGNORE = 255


def _inputs(ignored: bool):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64).requires_grad_()
    y = torch.randint(0, 3, (2, 4, 5), generator=g)
    if ignored:
        y[0, 0, :3] = IGNORE
    return x, y


def _reference(x, y, gamma: float, reduction: str, avg_factor=None):
    """-w_y (1 - p_y)^gamma log p_y with one-hot tensors; mean over non-ignored pixels."""
    valid = y != IGNORE
    onehot = F.one_hot(torch.where(valid, y, 0), 3).permute(0, 3, 1, 2).to(x.dtype)
    logp = x - x.logsumexp(1, keepdim=True)
    w = torch.tensor(W, dtype=x.dtype).view(1, 3, 1, 1)
    per_pixel = -(onehot * w * (1 - logp.exp()) ** gamma * logp).sum(1) * valid
    if reduction == 'sum':
        return per_pixel.sum()
    if avg_factor is not None:
        return per_pixel.sum() / (avg_factor + torch.finfo(x.dtype).eps)
    return per_pixel.sum() / valid.sum()


@pytest.mark.parametrize('ignored', [False, True])
@pytest.mark.parametrize('reduction,avg_factor', [('mean', None), ('sum', None), ('mean', 7.0)])
@pytest.mark.parametrize('loss_type,gamma', [('wce', 0.0), ('focal', 0.5), ('focal', 2.0)])
def test_hard_label_paths_match_one_hot_formula(ignored, reduction, avg_factor, loss_type,
                                                gamma):
    x, y = _inputs(ignored)
    loss_fn = (WeightedCrossEntropyLoss(class_weight=W, ignore_index=IGNORE)
               if loss_type == 'wce' else
               SoftmaxFocalLoss(gamma=gamma, class_weight=W, ignore_index=IGNORE))
    value = loss_fn(x, y, avg_factor=avg_factor, reduction_override=reduction)
    (grad,) = torch.autograd.grad(value, x)
    ref = _reference(x, y, gamma, reduction, avg_factor)
    (ref_grad,) = torch.autograd.grad(ref, x)
    torch.testing.assert_close(value, ref)
    torch.testing.assert_close(grad, ref_grad)


def test_fused_wce_equals_element_wise_path():
    """A per-pixel weight of ones takes the element-wise path: same value and gradient."""
    x, y = _inputs(ignored=True)
    loss_fn = WeightedCrossEntropyLoss(class_weight=W, ignore_index=IGNORE)
    fused = loss_fn(x, y)
    element_wise = loss_fn(x, y, weight=torch.ones(y.shape, dtype=x.dtype))
    torch.testing.assert_close(fused, element_wise)
    torch.testing.assert_close(torch.autograd.grad(fused, x)[0],
                               torch.autograd.grad(element_wise, x)[0])


def test_fused_wce_all_ignored_is_zero_with_zero_gradient():
    x, y = _inputs(ignored=False)
    y = torch.full_like(y, IGNORE)
    value = WeightedCrossEntropyLoss(ignore_index=IGNORE)(x, y)
    (grad,) = torch.autograd.grad(value, x)
    assert value.item() == 0.0
    assert torch.count_nonzero(grad) == 0


def test_reduce_summed_rules():
    total = torch.tensor(6.0)
    assert reduce_summed(total, 3, 'mean').item() == 2.0
    assert reduce_summed(total, 3, 'sum').item() == 6.0
    assert reduce_summed(total, 0, 'mean').item() == 6.0  # no entries: the (zero) sum
    assert reduce_summed(total, 3, 'mean', avg_factor=4.0).item() == pytest.approx(1.5)
    with pytest.raises(ValueError, match='avg_factor can not be used with reduction="sum"'):
        reduce_summed(total, 3, 'sum', avg_factor=2.0)
