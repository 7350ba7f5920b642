import pytest
import torch
import torch.nn.functional as F

from mmloss_plugin.losses import WeightedCrossEntropyLoss, weighted_cross_entropy

LOGITS = [[1.0, 2.0, 0.5], [0.2, -1.0, 3.0], [-0.5, 0.0, 0.5]]
LABELS = [0, 2, 1]
WEIGHTS = [0.5, 1.0, 2.0]


def hand_wce(ref, logits, labels, w):
    return [-w[y] * ref.log_softmax(row)[y] for row, y in zip(logits, labels)]


def test_matches_formula(ref):
    loss = WeightedCrossEntropyLoss(class_weight=WEIGHTS, reduction='none')
    out = loss(torch.tensor(LOGITS), torch.tensor(LABELS))
    torch.testing.assert_close(out, torch.tensor(hand_wce(ref, LOGITS, LABELS, WEIGHTS)),
                               rtol=1e-5, atol=1e-6)
    # Plugin mean: sum / N (mmpretrain/mmseg convention), not torch's sum / sum(w_y).
    mean = WeightedCrossEntropyLoss(class_weight=WEIGHTS)(torch.tensor(LOGITS),
                                                           torch.tensor(LABELS))
    assert mean.item() == pytest.approx(sum(hand_wce(ref, LOGITS, LABELS, WEIGHTS)) / 3,
                                        rel=1e-5)


def test_equals_torch_cross_entropy_sum():
    z, y = torch.randn(7, 4), torch.randint(0, 4, (7,))
    w = torch.tensor([0.1, 1.0, 3.0, 0.5])
    torch.testing.assert_close(
        WeightedCrossEntropyLoss(class_weight=w.tolist(), reduction='sum')(z, y),
        F.cross_entropy(z, y, weight=w, reduction='sum'))


def test_soft_targets(ref):
    soft = [[0.7, 0.3, 0.0], [0.0, 0.4, 0.6], [0.2, 0.2, 0.6]]
    expected = [-sum(t[c] * WEIGHTS[c] * ref.log_softmax(row)[c] for c in range(3))
                for row, t in zip(LOGITS, soft)]
    out = WeightedCrossEntropyLoss(class_weight=WEIGHTS, reduction='none')(
        torch.tensor(LOGITS), torch.tensor(soft))
    torch.testing.assert_close(out, torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_pixelwise_ignore_index_matches_torch():
    z = torch.randn(2, 3, 4, 5)
    y = torch.randint(0, 3, (2, 4, 5))
    y[0, 0] = 255
    w = torch.tensor(WEIGHTS)
    loss = WeightedCrossEntropyLoss(class_weight=WEIGHTS)
    out = loss(z, y, weight=None, ignore_index=255)
    ref = F.cross_entropy(z, y, weight=w, ignore_index=255, reduction='sum') / (y != 255).sum()
    torch.testing.assert_close(out, ref)
    # 3-D volumes.
    z3, y3 = torch.randn(1, 3, 2, 3, 4), torch.randint(0, 3, (1, 2, 3, 4))
    torch.testing.assert_close(
        WeightedCrossEntropyLoss(class_weight=WEIGHTS, reduction='sum')(z3, y3),
        F.cross_entropy(z3, y3, weight=w, reduction='sum'))


def test_strategies_and_drw(ref):
    loss = WeightedCrossEntropyLoss(class_weight='sqrt_inverse', reduction='none')
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        loss(torch.tensor(LOGITS), torch.tensor(LABELS))
    loss.set_class_counts([16, 4, 1])
    raw = [1 / 4, 1 / 2, 1.0]
    w = [3 * v / sum(raw) for v in raw]
    torch.testing.assert_close(loss(torch.tensor(LOGITS), torch.tensor(LABELS)),
                               torch.tensor(hand_wce(ref, LOGITS, LABELS, w)),
                               rtol=1e-5, atol=1e-6)
    drw = [2.0, 1.0, 0.0]
    loss.set_drw_weight(drw)
    torch.testing.assert_close(loss(torch.tensor(LOGITS), torch.tensor(LABELS)),
                               torch.tensor(hand_wce(ref, LOGITS, LABELS, drw)),
                               rtol=1e-5, atol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match=r'class_weight has 2 entries.*3 classes'):
        WeightedCrossEntropyLoss(class_weight=[1.0, 2.0])(torch.randn(2, 3),
                                                          torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='class_weight'):
        WeightedCrossEntropyLoss(class_weight='balanced')
    with pytest.raises(ValueError, match='class index 4'):
        WeightedCrossEntropyLoss()(torch.randn(2, 3), torch.tensor([0, 4]))


def test_gradcheck_float64_and_bf16():
    z = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 2, 1])
    loss = WeightedCrossEntropyLoss(class_weight=WEIGHTS)
    assert torch.autograd.gradcheck(lambda x: loss(x, y), (z,))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(torch.randn(3, 3).bfloat16(), y)
    assert out.dtype == torch.float32 and torch.isfinite(out)


def test_state_dict_into_loss_without_counts():
    src = WeightedCrossEntropyLoss(class_weight='effective_number', cls_num_list=[9, 3, 1])
    dst = WeightedCrossEntropyLoss(class_weight='effective_number')
    dst.load_state_dict(src.state_dict())
    torch.testing.assert_close(dst.class_weight, src.class_weight)
    torch.testing.assert_close(weighted_cross_entropy(torch.tensor(LOGITS), torch.tensor(LABELS),
                                                      dst.class_weight).mean(),
                               src(torch.tensor(LOGITS), torch.tensor(LABELS)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cpu_mapped_checkpoint_into_cuda_module():
    # mmengine loads `load_from` checkpoints with map_location='cpu' after the model moved.
    src = WeightedCrossEntropyLoss(class_weight='inverse', cls_num_list=[9, 3, 1])
    dst = WeightedCrossEntropyLoss(class_weight='inverse').cuda()
    dst.load_state_dict(src.state_dict())
    z, y = torch.tensor(LOGITS), torch.tensor(LABELS)
    torch.testing.assert_close(dst(z.cuda(), y.cuda()).cpu(), src(z, y))


# ------------------------------------------- DRW weights with the weighted mean ('batch')
def _drw(loss, weight, weighted_mean=True):
    loss.set_drw_weight(weight, weighted_mean=weighted_mean)
    return loss


def test_drw_weighted_mean_equals_torch_cross_entropy():
    z, y = torch.randn(9, 4), torch.tensor([0, 0, 0, 0, 1, 1, 2, 3, 0])
    w = torch.tensor([0.1, 1.0, 3.0, 0.5])
    loss = _drw(WeightedCrossEntropyLoss(), w.tolist())
    want = F.cross_entropy(z, y, weight=w)  # sum_i w_yi l_i / sum_i w_yi
    torch.testing.assert_close(loss(z, y), want)
    # mmpretrain's heads pass avg_factor=batch size: still the weighted mean
    torch.testing.assert_close(loss(z, y, avg_factor=9), want)
    # a different avg_factor scales the denominator like the batch size would
    torch.testing.assert_close(loss(z, y, avg_factor=18), want / 2)
    # 'sum' and 'none' are not normalised
    torch.testing.assert_close(loss(z, y, reduction_override='sum'),
                               F.cross_entropy(z, y, weight=w, reduction='sum'))
    # the weight scale does not matter in the weighted mean
    torch.testing.assert_close(_drw(WeightedCrossEntropyLoss(), (10 * w).tolist())(z, y), want)
    # weighted_mean=False keeps the plugin's mean over the batch size
    torch.testing.assert_close(_drw(WeightedCrossEntropyLoss(), w.tolist(), False)(z, y),
                               F.cross_entropy(z, y, weight=w, reduction='sum') / 9)
    loss.set_drw_weight(None)
    assert not loss.drw_weighted_mean
    torch.testing.assert_close(loss(z, y), F.cross_entropy(z, y))


def test_drw_weighted_mean_pixelwise_with_ignored_pixels():
    z = torch.randn(2, 3, 4, 5)
    y = torch.randint(0, 3, (2, 4, 5))
    y[0, :2] = 255
    w = torch.tensor([0.2, 1.0, 4.0])
    loss = _drw(WeightedCrossEntropyLoss(ignore_index=255), w.tolist())
    torch.testing.assert_close(loss(z, y), F.cross_entropy(z, y, weight=w, ignore_index=255))
    # every pixel ignored: 0 with zero gradient, never NaN
    z.requires_grad_(True)
    out = loss(z, torch.full_like(y, 255))
    out.backward()
    assert out.item() == 0 and torch.count_nonzero(z.grad) == 0


def test_drw_weighted_mean_soft_targets(ref):
    soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.4, 0.6], [0.2, 0.2, 0.6]])
    w = torch.tensor(WEIGHTS)
    loss = _drw(WeightedCrossEntropyLoss(), WEIGHTS)
    terms = -(soft * w * torch.tensor(LOGITS).log_softmax(1)).sum(1)
    torch.testing.assert_close(loss(torch.tensor(LOGITS), soft),
                               terms.sum() / (soft * w).sum())
