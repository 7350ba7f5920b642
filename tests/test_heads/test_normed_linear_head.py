"""NormedLinearClsHead: cosine logits, gradients, loss marking, mmpretrain conventions."""
import math

import pytest
import torch
import torch.nn as nn

from mmloss_plugin.heads import NormedLinear, cosine_logits

pytest.importorskip('mmpretrain')
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

import mmloss_plugin  # noqa: E402,F401


def _head(**kwargs):
    cfg = {'type': 'NormedLinearClsHead', 'num_classes': 3, 'in_channels': 5,
           '_scope_': 'mmpretrain'}
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _cos_by_hand(f, w):
    """Cosine of every (feature, class weight) pair from dot products and norms."""
    out = torch.empty(f.shape[0], w.shape[0])
    for i in range(f.shape[0]):
        for c in range(w.shape[0]):
            out[i, c] = (f[i] * w[c]).sum() / (f[i].norm() * w[c].norm())
    return out


def test_logits_are_cosines_in_unit_range():
    torch.manual_seed(0)
    head = _head()
    feats = torch.randn(6, 5) * 100  # magnitude must not matter
    logits = head((torch.randn(6, 2), feats))  # tuple of stage features: last one used
    assert logits.shape == (6, 3)
    assert logits.abs().max() <= 1.0
    torch.testing.assert_close(logits, _cos_by_hand(feats, head.fc.weight.detach()),
                               rtol=1e-5, atol=1e-6)
    # a plain tensor is accepted too, and scale multiplies the cosines
    head16 = _head(scale=16.0, loss={'type': 'CrossEntropyLoss'})
    head16.fc.weight.data.copy_(head.fc.weight.data)
    torch.testing.assert_close(head16(feats), 16 * logits.detach(), rtol=1e-5, atol=1e-5)


def test_gradient_flows_to_weight_and_features():
    torch.manual_seed(1)
    head = _head(loss={'type': 'LDAMLoss', 'cls_num_list': [10, 5, 1]})
    feats = torch.randn(4, 5, requires_grad=True)
    samples = [DataSample().set_gt_label(lab) for lab in (0, 1, 2, 0)]
    losses = head.loss((feats,), samples)
    assert torch.isfinite(losses['loss'])
    losses['loss'].backward()
    assert head.fc.weight.grad is not None and head.fc.weight.grad.abs().sum() > 0
    assert feats.grad is not None and feats.grad.abs().sum() > 0


class _Spy(nn.Module):
    def __init__(self):
        super().__init__()
        self.marked = 0

    def mark_cosine_logits(self):
        self.marked += 1


class _Container(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.plain = _Spy(), _Spy(), nn.Identity()

    def forward(self, *args, **kwargs):
        raise NotImplementedError


def test_mark_cosine_logits_called_only_with_unit_scale():
    head = _head(loss={'type': 'LDAMLoss', 's': 30.0})
    assert head.loss_module.cosine_logits is True
    assert head.loss_module.effective_s == 30.0
    head = _head(scale=16.0, loss={'type': 'LDAMLoss', 's': 30.0})
    assert head.loss_module.cosine_logits is False
    # every submodule that has the method, found recursively; others untouched
    container = _Container()
    _head(loss=container)
    assert container.a.marked == 1 and container.b.marked == 1
    container = _Container()
    _head(loss=container, scale=2.0)
    assert container.a.marked == 0


def test_predict_scale():
    torch.manual_seed(2)
    feats = torch.randn(4, 5)
    head = _head(loss={'type': 'LDAMLoss', 's': 30.0})
    cos = head(feats).detach()
    scores = torch.stack([s.pred_score for s in head.predict((feats,))])
    torch.testing.assert_close(scores, torch.softmax(30 * cos, 1))
    head = _head(loss={'type': 'CrossEntropyLoss'}, predict_scale=4.0)
    cos = head(feats).detach()
    out = head.predict((feats,))
    torch.testing.assert_close(torch.stack([s.pred_score for s in out]),
                               torch.softmax(4 * cos, 1))
    assert [int(s.pred_label) for s in out] == cos.argmax(1).tolist()


def test_zero_feature_gives_finite_logits_and_bad_input_errors():
    head = _head()
    out = head(torch.zeros(2, 5))
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match='GlobalAveragePooling'):
        head(torch.randn(2, 5, 3, 3))
    with pytest.raises(ValueError, match='in_channels'):
        head(torch.randn(2, 4))
    with pytest.raises(ValueError, match='num_classes'):
        _head(num_classes=0)
    with pytest.raises(ValueError, match='scale'):
        _head(scale=0.0)


def test_normed_linear_module_and_function():
    layer = NormedLinear(3, 2, scale=2.0)
    x = torch.tensor([[3.0, 0.0, 4.0]])
    layer.weight.data = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -2.0]])
    # cos with e1 = 3/5, with -e3 = -4/5
    torch.testing.assert_close(layer(x), torch.tensor([[2 * 0.6, -2 * 0.8]]))
    assert math.isclose(float(cosine_logits(x, x).squeeze()), 1.0, rel_tol=1e-6)


def test_default_init_gives_unit_norm_class_vectors():
    # Tiny initial rows (std 0.01) let the first s=30 SGD steps swing the class directions;
    # the default init must give rows of norm ~1 whatever the feature dimension.
    torch.manual_seed(0)
    for in_channels in (16, 512, 2048):
        layer = NormedLinear(in_channels, 7)
        norms = layer.weight.detach().norm(dim=1)
        assert torch.all((norms > 0.5) & (norms < 1.5)), (in_channels, norms)
