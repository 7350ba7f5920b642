"""Bad-input matrix: every registered loss x every bad-input case, with the documented outcome.

Outcome codes (the same as in the table of docs/reliability.md, which is checked against
:func:`expected` here):

* ``ok``: a finite value with a finite, non-zero gradient;
* ``0``: exactly 0 with an all-zero gradient;
* ``E-...``: ``ValueError`` whose message matches :data:`ERRORS`;
* ``—``: not applicable (the loss takes no class counts).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from mmengine.registry import MODELS

import mmloss_plugin  # noqa: F401

DOC = Path(__file__).resolve().parents[2] / 'docs' / 'reliability.md'
C = 3
COUNTS = [10, 3, 0]  # class 2 has no training samples

LOSSES = {
    'WeightedCrossEntropyLoss': dict(class_weight='inverse', cls_num_list=COUNTS),
    'SoftmaxFocalLoss': dict(gamma=2.0, class_weight='effective_number', cls_num_list=COUNTS),
    'LDAMLoss': dict(cls_num_list=COUNTS),
    'LMFLoss': dict(cls_num_list=COUNTS),
    'LogitAdjustedLoss': dict(cls_num_list=COUNTS),
    'SoftDiceLoss': dict(),
    'IoULoss': dict(),
    'FocalTverskyLoss': dict(),
    'GeneralizedDiceLoss': dict(),
    'SensitivitySpecificityLoss': dict(),
    'LogLoss': dict(),
    'CompoundLoss': dict(losses=[dict(type='SoftDiceLoss'),
                                 dict(type='WeightedCrossEntropyLoss')]),
}
SEG = ('SoftDiceLoss', 'IoULoss', 'FocalTverskyLoss', 'GeneralizedDiceLoss',
       'SensitivitySpecificityLoss', 'CompoundLoss', 'LogLoss')
COUNTED = ('WeightedCrossEntropyLoss', 'SoftmaxFocalLoss', 'LDAMLoss', 'LMFLoss',
           'LogitAdjustedLoss')

#: case -> column header of the documentation table
CASES = {
    'label_too_large': 'label ≥ C',
    'label_negative': 'label < 0',
    'nan_pred': 'NaN in pred',
    'inf_pred': 'Inf in pred',
    'empty_foreground': 'empty masks (all label 0)',
    'all_ignored': 'all ignored',
    'zero_count_class': 'zero-count class',
    'empty_batch': 'empty batch (N=0)',
    'target_shape': 'target shape ≠ pred',
    'pred_1d': '1-D pred',
    'extra_channel': 'pred has C+1 classes',
    'float_label': 'non-integer float labels',
    'ignore_real_class': 'ignore_index = a class',
}

#: error code -> regex of the message, given the case's numbers
ERRORS = {
    'E-label': r'target contains class index {bad}, expected values in \[0, {hi}\]',
    'E-nonfinite': r'{loss}: pred contains {nan} NaN and {inf} Inf value',
    'E-empty': r'{loss}: pred is empty',
    'E-shape': r'target shape \(1,.*\) does not match pred shape',
    'E-pred': r'pred must (have|be a tensor of) shape \(N, C, \*spatial\)|'
              r'LogLoss expects one-channel logits',
    'E-classes': r'{loss}: cls_num_list has 3 entries but the prediction has 4 classes',
    'E-float': r'non-integer floats|must hold values in \[0, 1\]',
    'E-ignore': r'ignore_index=1 is a real class index',
}


def expected(loss: str, case: str) -> str:
    """The documented outcome of ``case`` for ``loss``."""
    return {
        'label_too_large': 'E-label', 'label_negative': 'E-label',
        'nan_pred': 'E-nonfinite', 'inf_pred': 'E-nonfinite',
        'empty_foreground': 'ok', 'all_ignored': '0',
        'zero_count_class': 'ok' if loss in COUNTED else '—',
        'empty_batch': 'E-empty', 'target_shape': 'E-shape', 'pred_1d': 'E-pred',
        'extra_channel': ('E-classes' if loss in COUNTED
                          else 'E-pred' if loss == 'LogLoss' else 'ok'),
        'float_label': 'E-float', 'ignore_real_class': 'E-ignore',
    }[case]


def make_inputs(loss: str, case: str):
    """(pred, target, forward kwargs, number of label classes) for one case."""
    binary = loss == 'LogLoss'  # one-channel sigmoid output, labels 0/1
    n_labels = 2 if binary else C
    channels = 1 if binary else C
    pred_shape = (2, channels, 4, 5) if loss in SEG else (6, channels)
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(pred_shape, generator=g)
    target = torch.randint(0, n_labels, (pred_shape[0],) + pred_shape[2:], generator=g)
    target.view(-1)[:n_labels] = torch.arange(n_labels)  # every class present
    kwargs = {'ignore_index': 255}  # what mmseg's decode head passes
    flat = target.view(-1)
    if case == 'label_too_large':
        flat[3] = n_labels
    elif case == 'label_negative':
        flat[3] = -1
    elif case == 'nan_pred':
        pred.view(-1)[2] = float('nan')
    elif case == 'inf_pred':
        pred.view(-1)[2] = float('inf')
    elif case == 'empty_foreground':
        target.zero_()
    elif case == 'all_ignored':
        target.fill_(255)
    elif case == 'zero_count_class':
        flat[:3] = 2  # the class with count 0
    elif case == 'empty_batch':
        pred, target = pred[:0], target[:0]
    elif case == 'target_shape':
        target = target[:1]
    elif case == 'pred_1d':
        pred = pred.reshape(-1)
    elif case == 'extra_channel':
        pred = torch.randn((pred_shape[0], channels + 1) + pred_shape[2:], generator=g)
    elif case == 'float_label':
        target = target.float() + 0.5
    elif case == 'ignore_real_class':
        kwargs = {'ignore_index': 1}
    return pred.requires_grad_(), target, kwargs, n_labels


MATRIX = [(loss, case) for loss in LOSSES for case in CASES]


@pytest.mark.parametrize('loss,case', MATRIX, ids=[f'{a}-{b}' for a, b in MATRIX])
def test_bad_input(loss, case):
    outcome = expected(loss, case)
    if outcome == '—':
        pytest.skip('not applicable')
    module = MODELS.build(dict(type=loss, **LOSSES[loss]))
    pred, target, kwargs, n_labels = make_inputs(loss, case)
    if outcome.startswith('E-'):
        pattern = ERRORS[outcome].format(
            bad=n_labels if case == 'label_too_large' else -1, hi=n_labels - 1, loss=loss,
            nan=int(case == 'nan_pred'), inf=int(case == 'inf_pred'))
        with pytest.raises(ValueError, match=pattern):
            module(pred, target, **kwargs)
        return
    value = module(pred, target, **kwargs)
    assert value.dim() == 0 and torch.isfinite(value), value
    value.backward()
    grad = pred.grad
    assert grad is not None and torch.isfinite(grad).all()
    if outcome == '0':
        assert value.item() == 0.0
        assert torch.count_nonzero(grad) == 0
    else:
        assert grad.abs().sum() > 0


def test_all_registered_losses_in_matrix():
    from mmloss_plugin.losses.utils import BaseLoss
    from mmloss_plugin.registry import REGISTERED
    registered = {n for n in REGISTERED['models']
                  if isinstance(MODELS.module_dict.get(n), type)
                  and issubclass(MODELS.module_dict[n], BaseLoss)}
    assert registered == set(LOSSES)


def _doc_table():
    text = DOC.read_text(encoding='utf-8')
    block = text.split('<!-- bad-inputs-table:start -->')[1]
    block = block.split('<!-- bad-inputs-table:end -->')[0]
    rows = [[c.strip() for c in line.strip().strip('|').split('|')]
            for line in block.strip().splitlines() if line.strip().startswith('|')]
    return rows[0], rows[2:]


def test_doc_table_matches_matrix():
    """docs/reliability.md lists exactly the outcomes this file tests."""
    header, rows = _doc_table()
    assert header[1:] == list(CASES.values())
    assert [r[0].strip('`') for r in rows] == list(LOSSES)
    for row in rows:
        loss = row[0].strip('`')
        cells = [re.sub(r'[`*]', '', c) for c in row[1:]]
        assert cells == [expected(loss, case) for case in CASES], loss


# ------------------------------------------------------------ the shared pred check
def test_nan_pred_passed_by_keyword():
    loss = MODELS.build(dict(type='SoftmaxFocalLoss'))
    pred = torch.tensor([[0.0, float('nan')], [1.0, 2.0]])
    with pytest.raises(ValueError, match='SoftmaxFocalLoss: pred contains 1 NaN'):
        loss(cls_score=pred, label=torch.tensor([0, 1]))


@pytest.mark.parametrize('dtype,value', [(torch.float32, 3e38), (torch.bfloat16, 3e38)])
def test_huge_finite_pred_is_not_mistaken_for_inf(dtype, value):
    """The fast check is a sum; a sum that overflows falls back to the exact test."""
    from mmloss_plugin.losses.utils import check_finite
    pred = torch.full((8, 3), value, dtype=dtype)
    assert not torch.isfinite(pred.sum())  # a sum alone would be fooled
    check_finite(pred)  # no error
    pred[1, 2] = float('-inf')
    with pytest.raises(ValueError, match=r'pred contains 0 NaN and 1 Inf'):
        check_finite(pred)


def test_float16_pred_sum_accumulates_in_float32():
    from mmloss_plugin.losses.utils import check_finite
    pred = torch.full((64, 64), 100.0, dtype=torch.float16)  # sum 409600 > fp16 max
    check_finite(pred)
    pred[3, 3] = float('nan')
    with pytest.raises(ValueError, match=r'pred contains 1 NaN and 0 Inf'):
        check_finite(pred)


def test_pred_check_survives_pickle_and_deepcopy():
    import copy
    import pickle
    loss = MODELS.build(dict(type='LDAMLoss', cls_num_list=[3, 2, 1]))
    for clone in (copy.deepcopy(loss), pickle.loads(pickle.dumps(loss))):
        with pytest.raises(ValueError, match='pred contains'):
            clone(torch.full((2, 3), float('nan')), torch.tensor([0, 1]))
        torch.testing.assert_close(clone.cls_num, loss.cls_num)
