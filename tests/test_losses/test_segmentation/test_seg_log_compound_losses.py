"""LogLoss, CompoundLoss and the pixel-wise use of the classification losses."""
import math

import pytest
import torch

from mmloss_plugin.losses import CompoundLoss, LogLoss, SoftDiceLoss

P1 = [0.9, 0.2, 0.6, 0.1]
X1 = torch.tensor([[[math.log(p / (1 - p)) for p in P1]]], dtype=torch.float64)  # (1, 1, 4)
Y1 = torch.tensor([[1, 0, 1, 0]])


class TestLogLoss:

    def test_hand_values(self):
        # -log p for g = 1, -log(1 - p) for g = 0: -log .9, -log .8, -log .6, -log .9
        terms = [-math.log(0.9), -math.log(0.8), -math.log(0.6), -math.log(0.9)]
        assert LogLoss()(X1, Y1).item() == pytest.approx(sum(terms) / 4, rel=1e-9)
        assert LogLoss()(X1, Y1[:, None]).item() == pytest.approx(sum(terms) / 4, rel=1e-9)
        y = Y1.clone()
        y[0, 1] = 255
        masked = (terms[0] + terms[2] + terms[3]) / 3
        assert LogLoss()(X1, y).item() == pytest.approx(masked, rel=1e-9)
        weighted = (2 * terms[0] + 0.5 * terms[1] + 2 * terms[2] + 0.5 * terms[3]) / 4
        assert LogLoss(class_weight=[0.5, 2.0])(X1, Y1).item() == pytest.approx(weighted,
                                                                               rel=1e-9)
        none = LogLoss(reduction='none')(X1, y)
        assert none.shape == (1, 4) and none[0, 1] == 0
        pix_w = torch.tensor([[1.0, 2.0, 0.0, 1.0]], dtype=torch.float64)
        expected = (terms[0] + 2 * terms[1] + terms[3]) / 4
        assert LogLoss()(X1, Y1, weight=pix_w).item() == pytest.approx(expected, rel=1e-9)

    def test_3d_all_ignored_and_gradient(self):
        x = torch.randn(2, 1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
        y = torch.randint(0, 2, (2, 3, 4, 5))
        y[0, 0] = 255
        assert torch.autograd.gradcheck(lambda inp: LogLoss()(inp, y), (x,))
        val = LogLoss()(x, torch.full_like(y, 255))
        val.backward()
        assert val.item() == 0 and x.grad.abs().max() == 0

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match='one-channel'):
            LogLoss()(torch.randn(1, 2, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))
        with pytest.raises(ValueError, match='class index 2'):
            LogLoss()(torch.randn(1, 1, 4, 4), torch.full((1, 4, 4), 2))
        with pytest.raises(ValueError, match='2 entries'):
            LogLoss(class_weight=[1.0, 2.0, 3.0])

    def test_bf16_autocast(self):
        x = torch.randn(2, 1, 8, 8).bfloat16()
        y = torch.randint(0, 2, (2, 8, 8))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            val = LogLoss()(x, y)
        assert val.dtype == torch.float32 and torch.isfinite(val)


class TestCompoundLoss:

    def test_weighted_sum_and_forwarding(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(2, 3, 5, 5, generator=g)
        y = torch.randint(0, 3, (2, 5, 5), generator=g)
        y[0, 0] = 7
        w = torch.rand(2, 5, 5, generator=g)
        comp = CompoundLoss(losses=[dict(type='SoftDiceLoss'),
                                    dict(type='FocalTverskyLoss', gamma=1.0)],
                            weights=[2.0, 0.5], loss_weight=3.0)
        from mmloss_plugin.losses import FocalTverskyLoss
        expected = 3.0 * (2.0 * SoftDiceLoss()(x, y, weight=w, ignore_index=7)
                          + 0.5 * FocalTverskyLoss(gamma=1.0)(x, y, weight=w, ignore_index=7))
        torch.testing.assert_close(comp(x, y, weight=w, ignore_index=7), expected)
        assert comp.loss_name == 'loss_compound'
        assert len(list(comp.children())[0]) == 2

    def test_pred_is_checked_once_not_per_term(self, monkeypatch):
        from mmloss_plugin.losses import utils
        calls = []
        real = utils.check_finite
        monkeypatch.setattr(utils, 'check_finite',
                            lambda x, name: calls.append(name) or real(x, name))
        x, y = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
        loss = CompoundLoss(losses=[dict(type='SoftDiceLoss'), dict(type='IoULoss')])
        loss(x, y)
        assert calls == ['CompoundLoss: pred']
        SoftDiceLoss()(x, y)  # outside a compound every loss checks its own input
        assert calls[-1] == 'SoftDiceLoss: pred'
        x[0, 0, 0, 0] = float('nan')
        with pytest.raises(ValueError, match='CompoundLoss: pred contains 1 NaN'):
            loss(x, y)

    def test_with_mmseg_cross_entropy(self):
        pytest.importorskip('mmseg.models')  # needs mmseg's optional ftfy/regex too
        from mmseg.registry import MODELS
        g = torch.Generator().manual_seed(1)
        x = torch.randn(2, 3, 5, 5, generator=g)
        y = torch.randint(0, 3, (2, 5, 5), generator=g)
        y[:, 0] = 255
        comp = MODELS.build(dict(type='CompoundLoss', losses=[
            dict(type='CrossEntropyLoss', avg_non_ignore=True),
            dict(type='SoftDiceLoss', loss_weight=3.0)]))
        valid = y != 255
        log_p = x.log_softmax(1).gather(1, y.clamp(max=2)[:, None])[:, 0]
        ce = -(log_p[valid]).mean()
        expected = ce + 3.0 * SoftDiceLoss()(x, y)
        torch.testing.assert_close(comp(x, y, ignore_index=255), expected)

    def test_bad_configs(self):
        with pytest.raises(TypeError, match='non-empty list'):
            CompoundLoss(losses=[])
        with pytest.raises(TypeError, match='non-empty list'):
            CompoundLoss(losses=dict(type='SoftDiceLoss'))
        with pytest.raises(ValueError, match='one weight per loss'):
            CompoundLoss(losses=[dict(type='SoftDiceLoss')], weights=[1.0, 2.0])
        with pytest.raises(TypeError, match='"type"'):
            CompoundLoss(losses=[dict(smooth=1.0)])

    def test_unknown_type(self):
        pytest.importorskip('mmseg.models')
        with pytest.raises(KeyError, match='NoSuchLossAnywhere'):
            CompoundLoss(losses=[dict(type='NoSuchLossAnywhere')])
