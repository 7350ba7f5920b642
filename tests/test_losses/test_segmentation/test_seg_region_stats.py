"""region_stats / prepare_seg_targets against a brute-force one-hot reference."""
import itertools

import pytest
import torch

from mmloss_plugin.losses.segmentation.stats import prepare_seg_targets, region_stats

CASES = list(itertools.product(
    [(2, 3, 5, 6), (2, 4, 3, 4, 5)],            # 2D and 3D
    ['softmax', 'sigmoid_index', 'binary', 'multilabel'],
    [False, True],                               # per-pixel weight
    [False, True],                               # batch
))


def _make(shape, mode, seed=0):
    g = torch.Generator().manual_seed(seed)
    n, c = shape[:2]
    spatial = shape[2:]
    if mode == 'binary':
        shape = (n, 1) + spatial
        c = 2
    x = torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)
    if mode == 'multilabel':
        y = torch.randint(0, 2, shape, generator=g)
        y[0, 1, 0] = 255
    else:
        y = torch.randint(0, c, (n,) + spatial, generator=g)
        y[0, 0] = 255
        y[-1, -1, :1] = 255
    return x, y


@pytest.mark.parametrize('shape,mode,use_weight,batch', CASES)
def test_stats_and_gradients_match_one_hot_reference(seg_ref, shape, mode, use_weight, batch):
    x, y = _make(shape, mode)
    sigmoid = mode != 'softmax'
    w = None
    if use_weight:
        w = torch.rand((x.shape[0],) + x.shape[2:], dtype=torch.float64,
                       generator=torch.Generator().manual_seed(1))
    targets = prepare_seg_targets(x, y, 255, sigmoid, w)
    assert (targets.index is not None) == (mode in ('softmax', 'sigmoid_index'))
    st = region_stats(x, targets, sigmoid, batch, second_moments=True)
    ref = seg_ref.sums(x, y, 255, sigmoid, w, batch)
    ours = dict(tp=st.tp, sp=st.pred_sum, sg=st.target_sum)
    rows = 1 if batch else x.shape[0]
    for k, v in ours.items():
        assert v.shape == (rows, x.shape[1]), k
        torch.testing.assert_close(v, ref[k], rtol=1e-10, atol=1e-10)
    # second moments: sum m p^2 g and sum m p^2 (from the reference's direct sums)
    ref_tq = ref['sens'] - ref['sg'] + 2 * ref['tp']  # sum m g p^2 = sum m g (1-p)^2 - ...
    torch.testing.assert_close(st.tp_sq, ref_tq, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(st.pred_sq_sum - st.tp_sq, ref['spec'], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close((st.count - st.target_sum).expand_as(ref['neg']), ref['neg'])
    # gradients of an arbitrary combination of the statistics
    coef = torch.randn(5, *st.tp.shape, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(2))
    ours_l = sum((a * k).sum() for a, k in zip(
        [st.tp, st.pred_sum, st.target_sum, st.tp_sq, st.pred_sq_sum], coef))
    ref_l = sum((a * k).sum() for a, k in zip(
        [ref['tp'], ref['sp'], ref['sg'], ref_tq, ref['spec'] + ref_tq], coef))
    g_ours, = torch.autograd.grad(ours_l, x)
    g_ref, = torch.autograd.grad(ref_l, x)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('sigmoid', [False, True])
def test_fused_index_path_gradcheck(sigmoid):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randint(0, 3, (2, 4, 3), generator=g)
    y[1, 0] = 255
    w = torch.rand(2, 4, 3, dtype=torch.float64, generator=g)
    targets = prepare_seg_targets(x, y, 255, sigmoid, w)

    def f(inp):
        st = region_stats(inp, targets, sigmoid, second_moments=True)
        return st.tp, st.pred_sum, st.tp_sq, st.pred_sq_sum

    assert torch.autograd.gradcheck(f, (x,))


def test_singleton_channel_target_equals_plain_target():
    x = torch.randn(2, 3, 4, 4)
    y = torch.randint(0, 3, (2, 4, 4))
    a = region_stats(x, prepare_seg_targets(x, y, 255))
    b = region_stats(x, prepare_seg_targets(x, y[:, None], 255))
    for u, v in zip(a[:4], b[:4]):
        torch.testing.assert_close(u, v)


def test_no_one_hot_is_built():
    """The index path never calls one_hot nor creates an integer/bool (N, C, *) tensor."""
    from torch.profiler import ProfilerActivity, profile
    n, c, h, w = 2, 6, 16, 16
    x = torch.randn(n, c, h, w, requires_grad=True)
    y = torch.randint(0, c, (n, h, w))
    y[0, 0] = 255
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        st = region_stats(x, prepare_seg_targets(x, y, 255))
        (st.tp.sum() - st.pred_sum.sum()).backward()
    full = ([n, c, h, w], [n, c, h * w])
    for e in prof.events():
        assert e.name != 'aten::one_hot'
        if e.name in ('aten::eq', 'aten::ne', 'aten::scatter', 'aten::scatter_'):
            assert not any(list(s) in full for s in e.input_shapes), (e.name, e.input_shapes)


@pytest.mark.parametrize('pred_shape,target,kwargs,match', [
    ((2, 3, 4, 4), torch.full((2, 4, 4), 3), {}, 'class index 3'),
    ((2, 3, 4, 4), torch.full((2, 4, 4), -1), {}, 'class index -1'),
    ((2, 3, 4, 4), torch.zeros(2, 5, 5, dtype=torch.long), {}, 'does not match'),
    ((2, 1, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), {}, 'use_sigmoid=True'),
    ((2, 1, 4, 4), torch.full((2, 4, 4), 2), {'use_sigmoid': True}, 'class index 2'),
    ((2, 1, 4, 4), torch.full((2, 4, 4), 1.5), {'use_sigmoid': True}, r'\[0, 1\]'),
    ((2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), {'weight': torch.ones(2, 4)},
     'per-pixel weight'),
    ((2, 3), torch.zeros(2, dtype=torch.long), {}, 'spatial'),
])
def test_bad_inputs_raise_clear_errors(pred_shape, target, kwargs, match):
    kwargs = dict(kwargs)
    sig = kwargs.pop('use_sigmoid', False)
    with pytest.raises(ValueError, match=match):
        prepare_seg_targets(torch.zeros(pred_shape), target, 255, sig, kwargs.get('weight'))


def test_ignore_label_outside_range_is_accepted_and_removed():
    x = torch.randn(1, 2, 2, 2)
    y = torch.tensor([[[0, 255], [1, 255]]])
    t = prepare_seg_targets(x, y, 255)
    assert t.valid.tolist() == [[True, False, True, False]]
    st = region_stats(x, t)
    assert st.count.item() == 2
    assert st.target_sum.tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize('ignore_index', [255, -1, 2 ** 30])
def test_binary_integer_labels_convert_before_the_range_check(ignore_index):

    pred = torch.zeros(2, 1, 3, 3)
    target = torch.randint(0, 2, (2, 3, 3))
    target[0, 0, 0] = ignore_index
    t = prepare_seg_targets(pred, target, ignore_index, use_sigmoid=True)
    assert t.dense.dtype == torch.float32
    assert t.valid.reshape(2, 3, 3)[0, 0, 0].item() is False and int(t.valid.sum()) == 17
    expected = target.clone()
    expected[0, 0, 0] = 0
    assert torch.equal(t.dense.reshape(2, 3, 3), expected.float())
    bad = target.clone()
    bad[1, 2, 2] = 2 ** 24 + 1  # not exact in float32: the error names the integer label
    with pytest.raises(ValueError,
                       match=rf'class index {2 ** 24 + 1}, expected values in \[0, 1\]'):
        prepare_seg_targets(pred, bad, ignore_index, use_sigmoid=True)


def test_binary_float_targets_mask_ignored_entries_and_reject_out_of_range():

    pred = torch.zeros(1, 1, 4)
    t = prepare_seg_targets(pred, torch.tensor([[0.0, 0.5, 255.0, 1.0]]), 255, use_sigmoid=True)
    assert torch.equal(t.dense.reshape(-1), torch.tensor([0.0, 0.5, 0.0, 1.0]))
    assert t.valid.reshape(-1).tolist() == [True, True, False, True]
    assert prepare_seg_targets(pred, torch.tensor([[0.0, 1.0, 0.2, 1.0]]), 255,
                               use_sigmoid=True).valid is None
    with pytest.raises(ValueError, match=r'values in \[0, 1\] or ignore_index=255'):
        prepare_seg_targets(pred, torch.tensor([[0.0, 1.5, 255.0, 1.0]]), 255, use_sigmoid=True)
