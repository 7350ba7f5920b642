"""Shared fixtures of the segmentation-loss tests: a plain one-hot reference implementation.

The reference materialises the one-hot target and masks with explicit products, i.e. it
follows the textbook formulas and shares no code with ``mmloss_plugin``.
"""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F


def _probs_and_onehot(x, y, ignore_index=255, use_sigmoid=False):
    """Probabilities, dense target and validity of a (N, C, *) prediction, by brute force."""
    c = x.shape[1]
    p = x.sigmoid() if use_sigmoid else x.softmax(1)
    if use_sigmoid and c == 1:
        if y.dim() == x.dim():
            y = y[:, 0]
        valid = y != ignore_index
        g = (y == 1).to(x.dtype).unsqueeze(1)
        return p, g, valid.unsqueeze(1)
    if use_sigmoid and y.shape == x.shape:  # multi-label
        valid = y != ignore_index
        return p, torch.where(valid, y, torch.zeros_like(y)).to(x.dtype), valid
    if y.dim() == x.dim():
        y = y[:, 0]
    valid = y != ignore_index
    g = F.one_hot(torch.where(valid, y, torch.zeros_like(y)), c).movedim(-1, 1).to(x.dtype)
    return p, g, valid.unsqueeze(1)


def _sums(x, y, ignore_index=255, use_sigmoid=False, weight=None, batch=False):
    p, g, valid = _probs_and_onehot(x, y, ignore_index, use_sigmoid)
    m = valid.to(x.dtype)
    if weight is not None:
        m = m * weight.reshape(m.shape[0], 1, *m.shape[2:]).to(x.dtype)
    m = m.expand_as(p)
    dims = tuple(range(2, x.dim()))
    out = dict(tp=(p * g * m).sum(dims), sp=(p * m).sum(dims), sg=(g * m).sum(dims),
               sens=(m * g * (g - p) ** 2).sum(dims), spec=(m * (1 - g) * (g - p) ** 2).sum(dims),
               neg=(m * (1 - g)).sum(dims))
    if batch:
        out = {k: v.sum(0, keepdim=True) for k, v in out.items()}
    return out


def _dice(s, smooth=1e-5):
    return 1 - (2 * s['tp'] + smooth) / (s['sp'] + s['sg'] + smooth)


def _iou(s, smooth=1e-5):
    return 1 - (s['tp'] + smooth) / (s['sp'] + s['sg'] - s['tp'] + smooth)


def _tversky(s, alpha, beta, gamma, smooth=1e-5):
    fp, fn = s['sp'] - s['tp'], s['sg'] - s['tp']
    ti = (s['tp'] + smooth) / (s['tp'] + alpha * fp + beta * fn + smooth)
    return (1 - ti) ** gamma


def _gdl(s, weight_type='square', smooth=1e-5):
    sg = s['sg']
    if weight_type == 'uniform':
        w = torch.ones_like(sg)
    else:
        w = 1 / sg ** 2 if weight_type == 'square' else 1 / sg
        rows = []
        for row in w:  # absent class -> max finite weight of the row, all absent -> 0
            finite = row[torch.isfinite(row)]
            fill = finite.max() if finite.numel() else row.new_zeros(())
            rows.append(torch.where(torch.isfinite(row), row, fill))
        w = torch.stack(rows)
    num = 2 * (w * s['tp']).sum(1) + smooth
    den = (w * (s['sp'] + s['sg'])).sum(1) + smooth
    return 1 - num / den


def _ss(s, r=0.05, smooth=1e-5):
    sens = s['sens'] / (s['sg'] + smooth)
    spec = s['spec'] / (s['neg'] + smooth)
    return r * sens + (1 - r) * spec


@pytest.fixture
def seg_ref():
    """Reference statistics and per-(image, class) loss formulas (one-hot, brute force)."""
    return SimpleNamespace(sums=_sums, dice=_dice, iou=_iou, tversky=_tversky, gdl=_gdl,
                           ss=_ss, probs_and_onehot=_probs_and_onehot)
