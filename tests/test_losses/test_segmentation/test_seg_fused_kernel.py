"""The opt-in ``fused_kernel`` (torch.compile) paths of the region losses and of the weighted
cross-entropy equal the eager ones."""
import contextlib

import pytest
import torch

from mmloss_plugin.losses import SensitivitySpecificityLoss, SoftDiceLoss, WeightedCrossEntropyLoss
from mmloss_plugin.losses.segmentation import fused_stats
from mmloss_plugin.losses.utils import warn_once


def _inductor_error():
    try:
        torch.compile(lambda t: t * 2.0 + 1.0, fullgraph=True)(torch.ones(4))
    except Exception as e:  # no C++ compiler, unsupported platform or torch build
        return f'{type(e).__name__}: {e}'
    return None


@pytest.fixture
def fresh(monkeypatch):
    """Fused-path state as in a new process (no recorded failure, warnings not yet seen)."""
    monkeypatch.setattr(fused_stats, 'compile_error', None)
    seen = warn_once.__defaults__[0]
    for key in ('fused_kernel', 'fused_kernel.classes', 'fused_kernel.recompiles'):
        seen.discard(key)


def _inputs(c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c, 5, 6, dtype=torch.float64, generator=g)
    y = torch.randint(0, c, (2, 5, 6), generator=g)
    y[0, 0] = 255
    w = torch.rand(2, 5, 6, dtype=torch.float64, generator=g)
    return x, y, w


def _value_and_grad(loss, x, y, w):
    x = x.clone().requires_grad_()
    value = loss(x, y, weight=w)
    value.backward()
    return value.detach(), x.grad


def test_option_is_validated_and_shown():
    with pytest.raises(TypeError, match='fused_kernel must be True or False'):
        SoftDiceLoss(fused_kernel='yes')
    assert 'fused_kernel=True' in repr(SoftDiceLoss(fused_kernel=True))
    assert 'fused_kernel' not in repr(SoftDiceLoss())


def test_fused_equals_eager_value_and_gradient(fresh):
    reason = _inductor_error()
    if reason is not None:
        pytest.skip(f'torch.compile (inductor) can not compile here: {reason}')
    x, y, w = _inputs()
    eager = _value_and_grad(SoftDiceLoss(), x, y, w)
    fused = _value_and_grad(SoftDiceLoss(fused_kernel=True), x, y, w)
    assert fused_stats.compile_error is None
    torch.testing.assert_close(fused[0], eager[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused[1], eager[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('loss_cls', [SoftDiceLoss, WeightedCrossEntropyLoss])
def test_kernels_read_label_maps_in_label_dtype(fresh, monkeypatch, loss_cls):
    """Label maps are converted once, before the kernels, to fused_stats.LABEL_DTYPE (float32:
    inductor's integer loads vectorise poorly on AVX2), and the values still equal eager."""
    reason = _inductor_error()
    if reason is not None:
        pytest.skip(f'torch.compile (inductor) can not compile here: {reason}')
    seen, run = [], fused_stats._run

    def recording_run(which, *args):
        seen.append((which, args[1].dtype, args[1].shape))
        return run(which, *args)
    monkeypatch.setattr(fused_stats, '_run', recording_run)
    x, y, _ = _inputs(c=4)
    eager = _value_and_grad(loss_cls(ignore_index=255), x, y, None)
    fused = _value_and_grad(loss_cls(ignore_index=255, fused_kernel=True), x, y, None)
    assert fused_stats.LABEL_DTYPE is torch.float32
    assert len(seen) == 2, seen  # forward and backward kernel, both on the converted map
    assert all(dtype is torch.float32 and tuple(shape) == (2, 30) for _, dtype, shape in seen)
    torch.testing.assert_close(fused[0], eager[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused[1], eager[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('case', ['second_moments', 'sigmoid_binary'])
def test_fused_equals_eager_other_paths(fresh, case):
    # second moments (sum p^2 terms) and a dense one-channel target take other kernel branches
    reason = _inductor_error()
    if reason is not None:
        pytest.skip(f'torch.compile (inductor) can not compile here: {reason}')
    x, y, w = _inputs()
    if case == 'sigmoid_binary':
        x, y = x[:, :1], (y == 1).long().masked_fill(y == 255, 255)
        make = lambda **kw: SoftDiceLoss(use_sigmoid=True, **kw)  # noqa: E731
    else:
        make = SensitivitySpecificityLoss
    eager = _value_and_grad(make(), x, y, w)
    fused = _value_and_grad(make(fused_kernel=True), x, y, w)
    assert fused_stats.compile_error is None
    torch.testing.assert_close(fused[0], eager[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused[1], eager[1], rtol=1e-10, atol=1e-12)


def test_compile_failure_falls_back_with_one_warning(fresh, monkeypatch):
    def broken():
        raise RuntimeError('no compiler')
    monkeypatch.setattr(fused_stats, '_compiled', broken)
    x, y, w = _inputs()
    loss = SensitivitySpecificityLoss(fused_kernel=True)
    with pytest.warns(UserWarning, match='falling back to the eager implementation'):
        fused = _value_and_grad(loss, x, y, w)
    assert isinstance(fused_stats.compile_error, RuntimeError)
    eager = _value_and_grad(SensitivitySpecificityLoss(), x, y, w)
    torch.testing.assert_close(fused, eager, rtol=0, atol=0)


def test_many_classes_use_the_eager_path(fresh, monkeypatch):
    monkeypatch.setattr(fused_stats, '_compiled', lambda: pytest.fail('must not compile'))
    x, y, w = _inputs(c=fused_stats.MAX_FUSED_CLASSES + 1)
    with pytest.warns(UserWarning, match='classes use the eager implementation'):
        fused = _value_and_grad(SoftDiceLoss(fused_kernel=True), x, y, w)
    torch.testing.assert_close(fused, _value_and_grad(SoftDiceLoss(), x, y, w), rtol=0, atol=0)


def test_recompile_limit_keeps_the_kernels_for_known_configurations(fresh, monkeypatch):
    class FailOnRecompileLimitHit(Exception):  # noqa: N818 (the name torch uses)
        pass

    def limit_hit(*args):
        raise FailOnRecompileLimitHit('limit')
    monkeypatch.setattr(fused_stats, '_compiled', lambda: (limit_hit, limit_hit))
    x, y, w = _inputs()
    with pytest.warns(UserWarning, match='new ones use the eager implementation'):
        fused = _value_and_grad(SoftDiceLoss(fused_kernel=True), x, y, w)
    assert fused_stats.compile_error is None  # not disabled for good
    torch.testing.assert_close(fused, _value_and_grad(SoftDiceLoss(), x, y, w), rtol=0, atol=0)


# ------------------------------------------------------------- weighted cross-entropy
def _ce_value_and_grad(loss, x, y, **kw):
    x = x.clone().requires_grad_()
    value = loss(x, y, **kw)
    value.sum().backward()
    return value.detach(), x.grad


def test_wce_option_is_validated():
    with pytest.raises(TypeError, match='fused_kernel must be True or False'):
        WeightedCrossEntropyLoss(fused_kernel=1)


@pytest.mark.parametrize('case', ['2d_class_weight', '3d_avg_factor', 'sum', 'all_ignored'])
def test_wce_fused_equals_eager(fresh, case):
    reason = _inductor_error()
    if reason is not None:
        pytest.skip(f'torch.compile (inductor) can not compile here: {reason}')
    x, y, _ = _inputs(c=4)
    opts, call = {'class_weight': [0.5, 1.0, 2.0, 4.0]}, {'ignore_index': 255}
    if case == '3d_avg_factor':
        g = torch.Generator().manual_seed(1)
        x = torch.randn(2, 4, 3, 4, 5, dtype=torch.float64, generator=g)
        y = torch.randint(0, 4, (2, 3, 4, 5), generator=g)
        y[1, 0] = 255
        call['avg_factor'] = 17.0
    elif case == 'sum':
        opts['reduction'] = 'sum'
    elif case == 'all_ignored':
        y = torch.full_like(y, 255)
    eager = _ce_value_and_grad(WeightedCrossEntropyLoss(**opts), x, y, **call)
    fused = _ce_value_and_grad(WeightedCrossEntropyLoss(fused_kernel=True, **opts), x, y, **call)
    assert fused_stats.compile_error is None
    torch.testing.assert_close(fused[0], eager[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused[1], eager[1], rtol=1e-10, atol=1e-12)
    if case == 'all_ignored':
        assert float(fused[0]) == 0.0 and not fused[1].any()


@pytest.mark.parametrize('case', ['pixel_weight', 'reduction_none'])
def test_wce_fused_leaves_other_inputs_to_the_eager_path(fresh, monkeypatch, case):
    # per-pixel weights and element-wise losses are not what the kernels compute
    monkeypatch.setattr(fused_stats, '_compiled', lambda: pytest.fail('must not compile'))
    x, y, w = _inputs(c=4)
    kw = {'weight': w} if case == 'pixel_weight' else {'reduction_override': 'none'}
    kw['ignore_index'] = 255
    fused = _ce_value_and_grad(WeightedCrossEntropyLoss(fused_kernel=True), x, y, **kw)
    eager = _ce_value_and_grad(WeightedCrossEntropyLoss(), x, y, **kw)
    torch.testing.assert_close(fused, eager, rtol=0, atol=0)


def test_wce_compile_failure_falls_back_with_one_warning(fresh, monkeypatch):
    def broken():
        raise RuntimeError('no compiler')
    monkeypatch.setattr(fused_stats, '_compiled', broken)
    x, y, _ = _inputs(c=4)
    with pytest.warns(UserWarning, match='falling back to the eager implementation'):
        fused = _ce_value_and_grad(WeightedCrossEntropyLoss(fused_kernel=True), x, y,
                                   ignore_index=255)
    assert isinstance(fused_stats.compile_error, RuntimeError)
    eager = _ce_value_and_grad(WeightedCrossEntropyLoss(), x, y, ignore_index=255)
    torch.testing.assert_close(fused, eager, rtol=1e-12, atol=1e-12)


# ------------------------------------------------- NaN/Inf check folded into the kernels
def _spy_finite_checks(monkeypatch):
    """Record ``(name, total given)`` for every finite check of a prediction."""
    from mmloss_plugin.losses import utils
    from mmloss_plugin.losses.classification import cross_entropy
    from mmloss_plugin.losses.segmentation import stats
    calls, real = [], utils.check_finite

    def spy(x, name='pred', total=None):
        calls.append((name, total is not None))
        return real(x, name, total)
    for module in (utils, stats, cross_entropy):
        monkeypatch.setattr(module, 'check_finite', spy)
    return calls


FUSED_LOSSES = {
    'SoftDiceLoss': lambda: SoftDiceLoss(fused_kernel=True),
    'SoftDiceLoss-sigmoid': lambda: SoftDiceLoss(use_sigmoid=True, fused_kernel=True),
    'SensitivitySpecificityLoss': lambda: SensitivitySpecificityLoss(fused_kernel=True),
    'WeightedCrossEntropyLoss': lambda: WeightedCrossEntropyLoss(fused_kernel=True),
}


@pytest.mark.parametrize('bad', ['nan', 'inf', '-inf'])
@pytest.mark.parametrize('name', list(FUSED_LOSSES))
def test_fused_kernels_check_pred_for_nan_and_inf(fresh, monkeypatch, name, bad):
    # a -inf logit gives a finite softmax (probability 0) and +-inf a finite sigmoid: the
    # kernels' outputs alone would not show them, the logit sum they return does
    reason = _inductor_error()
    if reason is not None:
        pytest.skip(f'torch.compile (inductor) can not compile here: {reason}')
    x, y, _ = _inputs()
    calls = _spy_finite_checks(monkeypatch)
    FUSED_LOSSES[name]()(x, y, ignore_index=255)  # a finite prediction passes
    assert fused_stats.compile_error is None
    loss_name = name.split('-')[0]
    # one check, on the sum the forward kernel returned: no pass of its own over the logits
    assert calls == [(f'{loss_name}: pred', True)]
    x[1, 2, 3, 4] = float(bad)
    counts = (1, 0) if bad == 'nan' else (0, 1)
    with pytest.raises(ValueError, match=rf'{loss_name}: pred contains {counts[0]} NaN and '
                                         rf'{counts[1]} Inf'):
        FUSED_LOSSES[name]()(x, y, ignore_index=255)


@pytest.mark.parametrize('path', ['many_classes', 'compile_failure', 'wce_pixel_weight'])
def test_eager_fallbacks_of_fused_losses_still_check_pred(fresh, monkeypatch, path):
    def broken():
        raise RuntimeError('no compiler')
    monkeypatch.setattr(fused_stats, '_compiled', broken)
    c = fused_stats.MAX_FUSED_CLASSES + 1 if path == 'many_classes' else 3
    x, y, w = _inputs(c=c)
    x[0, 1, 2, 3] = float('-inf')
    loss = WeightedCrossEntropyLoss(fused_kernel=True) if path == 'wce_pixel_weight' \
        else SoftDiceLoss(fused_kernel=True)
    kw = {'weight': w} if path == 'wce_pixel_weight' else {}
    # the eager region path warns why it runs; per-pixel weights never reach the kernels
    warns = contextlib.nullcontext() if kw else pytest.warns(UserWarning)
    with warns, pytest.raises(ValueError, match=r'Loss: pred contains 0 NaN and 1 Inf'):
        loss(x, y, ignore_index=255, **kw)


def test_compound_of_fused_losses_checks_pred_once(fresh, monkeypatch):
    from mmloss_plugin.losses import CompoundLoss
    monkeypatch.setattr(fused_stats, '_compiled', lambda: pytest.fail('must not compile'))
    calls = _spy_finite_checks(monkeypatch)
    x, y, _ = _inputs(c=fused_stats.MAX_FUSED_CLASSES + 1)  # eager path: no compilation
    loss = CompoundLoss(losses=[dict(type='SoftDiceLoss', fused_kernel=True),
                                dict(type='WeightedCrossEntropyLoss', fused_kernel=True)])
    with pytest.warns(UserWarning, match='classes use the eager implementation'):
        loss(x, y, ignore_index=255)
    assert calls == [('CompoundLoss: pred', False)]  # the terms trust the compound's check


@pytest.fixture
def dynamo_config():
    """``torch._dynamo.config``, its recompile limit restored afterwards by assignment.

    Not through ``monkeypatch``: pytest 9.2's undo deletes the entry (it is not in the module's
    ``__dict__``), and torch then hides it from every later compilation in the session."""
    import torch._dynamo
    config = torch._dynamo.config
    previous = config.recompile_limit
    yield config
    config.recompile_limit = previous


def _failing_kernel_call(monkeypatch, seen):
    def kernel(*args):
        seen.append(getattr(torch._dynamo.config, 'recompile_limit', None))
        raise RuntimeError('no compiler')
    monkeypatch.setattr(fused_stats, '_compiled', lambda: (kernel,))
    x, y, _ = _inputs()
    with pytest.warns(UserWarning, match='falling back'):
        return fused_stats.fused_region_sums(x.flatten(2), y.flatten(1).clamp(0, 2), None,
                                             False, False)


def test_kernel_calls_restore_the_recompile_limit(fresh, monkeypatch, dynamo_config):
    seen = []
    dynamo_config.recompile_limit = 3
    assert _failing_kernel_call(monkeypatch, seen) is None
    assert seen == [fused_stats.RECOMPILE_LIMIT]  # raised while the kernel ran
    assert dynamo_config.recompile_limit == 3  # and restored, also after an error


def test_the_raised_limit_context_restores_the_limit(dynamo_config):
    dynamo_config.recompile_limit = 3
    with fused_stats.recompile_limit_raised():
        assert dynamo_config.recompile_limit == fused_stats.RECOMPILE_LIMIT
    assert dynamo_config.recompile_limit == 3
    with pytest.raises(KeyError), fused_stats.recompile_limit_raised():
        raise KeyError('inside')
    assert dynamo_config.recompile_limit == 3


def test_a_hidden_recompile_limit_falls_back_instead_of_raising(fresh, monkeypatch,
                                                                 dynamo_config):
    delattr(dynamo_config, 'recompile_limit')  # what pytest 9.2's monkeypatch undo leaves
    seen = []
    assert _failing_kernel_call(monkeypatch, seen) is None
    assert seen == [None]  # the kernel ran without the limit being touched
