"""The classification losses build from configs and work inside the toolboxes' heads."""
import warnings

import pytest
import torch

import mmloss_plugin  # noqa: F401  (registers the plugin)

NAMES = ['SoftmaxFocalLoss', 'LDAMLoss', 'LMFLoss', 'LogitAdjustedLoss',
         'WeightedCrossEntropyLoss']
COUNTS = [40, 10, 2]


def _cfg(name):
    cfg = {'type': name}
    if name in ('LDAMLoss', 'LMFLoss', 'LogitAdjustedLoss'):
        cfg['cls_num_list'] = COUNTS
    return cfg


@pytest.mark.parametrize('name', NAMES)
def test_build_from_mmpretrain_registry(name):
    registry = pytest.importorskip('mmpretrain.registry')
    loss = registry.MODELS.build(_cfg(name))
    assert type(loss).__name__ == name
    assert registry.MODELS.get(name) is type(loss)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        out = loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]), avg_factor=4)
    assert out.shape == () and torch.isfinite(out)


@pytest.mark.parametrize('name', ['LMFLoss', 'SoftmaxFocalLoss', 'LogitAdjustedLoss'])
def test_inside_linear_cls_head(name):
    registry = pytest.importorskip('mmpretrain.registry')
    from mmpretrain.structures import DataSample
    head = registry.MODELS.build({'type': 'LinearClsHead', 'num_classes': 3, 'in_channels': 5,
                                  'loss': _cfg(name)})
    feats = (torch.randn(4, 5),)
    labels = [0, 2, 1, 2]
    samples = [DataSample().set_gt_label(y) for y in labels]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        losses = head.loss(feats, samples)
        expected = head.loss_module(head(feats), torch.tensor(labels))
        assert set(losses) >= {'loss'}
        torch.testing.assert_close(losses['loss'], expected)
        # Mixup/CutMix: gt_score soft targets.
        scores = torch.softmax(torch.randn(4, 3), 1)
        soft = [DataSample().set_gt_label(y).set_gt_score(s) for y, s in zip(labels, scores)]
        torch.testing.assert_close(head.loss(feats, soft)['loss'],
                                   head.loss_module(head(feats), scores))


@pytest.mark.parametrize('name', ['SoftmaxFocalLoss', 'WeightedCrossEntropyLoss'])
def test_build_from_mmseg_registry(name):
    registry = pytest.importorskip('mmseg.registry')
    pytest.importorskip('mmseg.models')  # building imports it (mmseg 1.2.2 needs ftfy, regex)
    loss = registry.MODELS.build({'type': name, 'class_weight': [1.0, 2.0, 0.5]})
    z = torch.randn(2, 3, 4, 4)
    y = torch.randint(0, 3, (2, 4, 4))
    y[:, 0] = 255
    out = loss(z, y, weight=None, ignore_index=255)
    assert torch.isfinite(out) and loss.loss_name.startswith('loss_')
