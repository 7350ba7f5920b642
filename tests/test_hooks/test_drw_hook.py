"""DRWHook: class-balanced weights exactly from ``start`` on, correct after resume."""
import glob
import os

import numpy as np
import pytest

from mmloss_plugin.hooks import DRWHook

BETA = 0.9
# set by the make_runner fixture so that mmengine can load its checkpoints under torch >= 2.6
pytestmark = pytest.mark.filterwarnings('ignore:Environment variable TORCH_FORCE_NO_WEIGHTS')
CONFIGURED = [1.0, 2.0, 3.0]
COUNTS_HOOK = {'type': 'ClassCountsHook'}


def _model(toys, **loss):
    return toys.Model(dict(type='WeightedCrossEntropyLoss', class_weight=CONFIGURED, **loss))


def _assert_schedule(seen, first_on, expected_on):
    """Iterations before ``first_on`` used the configured weight, the rest DRW's."""
    for i, w in enumerate(seen):
        want = CONFIGURED if i < first_on else expected_on
        np.testing.assert_allclose(w.numpy(), want, rtol=1e-6, err_msg=f'iteration {i}')


def test_epoch_based_switch_exactly_at_start(make_runner, toys):
    model = _model(toys)
    runner = make_runner(model=model, train_cfg={'by_epoch': True, 'max_epochs': 3},
                         custom_hooks=[COUNTS_HOOK, {'type': 'DRWHook', 'start': 1, 'beta': BETA}])
    runner.train()
    assert len(model.seen) == 9  # 12 samples / batch 4 = 3 iterations per epoch
    _assert_schedule(model.seen, 3, toys.cb_weights(toys.counts, BETA))
    assert np.isclose(toys.cb_weights(toys.counts, BETA).sum(), 3)


@pytest.mark.parametrize('normalize', [None, 'batch', 'classes'])
def test_normalize_sets_the_weighted_mean(make_runner, toys, normalize):
    model = _model(toys)
    hook = {'type': 'DRWHook', 'start': 1, 'beta': BETA}
    if normalize:
        hook['normalize'] = normalize
    runner = make_runner(model=model, train_cfg={'by_epoch': True, 'max_epochs': 2},
                         custom_hooks=[COUNTS_HOOK, hook])
    runner.train()
    # 'batch': the weighted mean of F.cross_entropy(weight=...); default 'classes': the
    # mean over the batch size
    assert model.weighted_mean == [False] * 3 + [normalize == 'batch'] * 3
    _assert_schedule(model.seen, 3, toys.cb_weights(toys.counts, BETA))


@pytest.mark.parametrize('class_weight', ['inverse', 'sqrt_inverse', [0.5, 1.0, 4.0]])
def test_class_weight_strategy_or_fixed_list(make_runner, toys, class_weight):
    model = _model(toys)
    runner = make_runner(model=model, train_cfg={'by_epoch': True, 'max_epochs': 2},
                         custom_hooks=[COUNTS_HOOK, {'type': 'DRWHook', 'start': 1,
                                                     'class_weight': class_weight}])
    runner.train()
    n = np.asarray(toys.counts, dtype=float)
    if class_weight == 'inverse':
        want = (1 / n) * 3 / (1 / n).sum()
    elif class_weight == 'sqrt_inverse':
        want = n ** -0.5 * 3 / (n ** -0.5).sum()
    else:
        want = class_weight
    _assert_schedule(model.seen, 3, want)


def test_fixed_class_weight_needs_no_counts(make_runner, toys):
    model = toys.Model(dict(type='WeightedCrossEntropyLoss'))
    runner = make_runner(model=model, train_cfg={'by_epoch': True, 'max_epochs': 1},
                         custom_hooks=[{'type': 'DRWHook', 'start': 0,
                                        'class_weight': [0.5, 1.0, 4.0]}])
    runner.train()
    for w in model.seen:
        np.testing.assert_allclose(w.numpy(), [0.5, 1.0, 4.0], rtol=1e-6)


def test_fixed_class_weight_of_wrong_length_names_the_loss(make_runner, toys):
    runner = make_runner(model=_model(toys), train_cfg={'by_epoch': True, 'max_epochs': 1},
                         custom_hooks=[COUNTS_HOOK, {'type': 'DRWHook', 'start': 0,
                                                     'class_weight': [1.0, 2.0]}])
    with pytest.raises(ValueError, match='class_weight has 2 weights.*3 classes'):
        runner.train()


def test_iteration_based_switch_exactly_at_start(make_runner, toys):
    model = _model(toys)
    runner = make_runner(model=model, train_cfg={'by_epoch': False, 'max_iters': 7},
                         by_epoch=False, checkpoint_interval=100,
                         custom_hooks=[COUNTS_HOOK, {'type': 'DRWHook', 'start': 4,
                                                     'by_epoch': False, 'beta': BETA}])
    runner.train()
    assert len(model.seen) == 7
    _assert_schedule(model.seen, 4, toys.cb_weights(toys.counts, BETA))


def test_start_zero_and_hook_order_in_config(make_runner, toys):
    # DRWHook listed first: priorities still run ClassCountsHook before it.
    model = _model(toys)
    runner = make_runner(model=model, train_cfg={'by_epoch': True, 'max_epochs': 1},
                         custom_hooks=[{'type': 'DRWHook', 'start': 0}, COUNTS_HOOK])
    runner.train()
    _assert_schedule(model.seen, 0, toys.cb_weights(toys.counts, 0.9999))


def test_epoch_resume_past_start_is_on_from_first_iteration(make_runner, toys, tmp_path):
    # first run without DRW, checkpoint after epoch 2
    run1 = make_runner(model=_model(toys), train_cfg={'by_epoch': True, 'max_epochs': 2},
                       custom_hooks=[COUNTS_HOOK], work_dir=tmp_path / 'w')
    run1.train()
    assert os.path.isfile(tmp_path / 'w' / 'epoch_2.pth')
    model = _model(toys)
    run2 = make_runner(model=model, train_cfg={'by_epoch': True, 'max_epochs': 3},
                       custom_hooks=[COUNTS_HOOK, {'type': 'DRWHook', 'start': 1, 'beta': BETA}],
                       work_dir=tmp_path / 'w', resume=True)
    run2.train()
    assert len(model.seen) == 3  # only epoch 2 ran
    _assert_schedule(model.seen, 0, toys.cb_weights(toys.counts, BETA))


def test_iteration_resume_past_start_is_on_from_first_iteration(make_runner, toys, tmp_path):
    kw = {'by_epoch': False, 'checkpoint_interval': 4, 'work_dir': tmp_path / 'w'}
    run1 = make_runner(model=_model(toys), train_cfg={'by_epoch': False, 'max_iters': 4},
                       custom_hooks=[COUNTS_HOOK], **kw)
    run1.train()
    model = _model(toys)
    run2 = make_runner(model=model, train_cfg={'by_epoch': False, 'max_iters': 7}, resume=True,
                       custom_hooks=[COUNTS_HOOK, {'type': 'DRWHook', 'start': 2,
                                                   'by_epoch': False, 'beta': BETA}],
                       **kw)
    run2.train()
    assert len(model.seen) == 3  # iterations 4, 5, 6
    _assert_schedule(model.seen, 0, toys.cb_weights(toys.counts, BETA))


def test_load_from_checkpoint_with_drw_weights_before_start_is_off(make_runner, toys,
                                                                    tmp_path):
    run1 = make_runner(model=_model(toys), train_cfg={'by_epoch': True, 'max_epochs': 1},
                       custom_hooks=[COUNTS_HOOK, {'type': 'DRWHook', 'start': 0, 'beta': BETA}],
                       work_dir=tmp_path / 'a')
    run1.train()
    ckpt = str(tmp_path / 'a' / 'epoch_1.pth')
    import torch
    assert torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict'][
        'loss_module.drw_weight'] is not None
    model = _model(toys)
    run2 = make_runner(model=model, train_cfg={'by_epoch': True, 'max_epochs': 2},
                       custom_hooks=[COUNTS_HOOK, {'type': 'DRWHook', 'start': 1, 'beta': BETA}],
                       work_dir=tmp_path / 'b', load_from=ckpt)
    run2.train()
    # fresh run (epoch 0) from a DRW checkpoint: configured weights first, DRW from epoch 1
    _assert_schedule(model.seen, 3, toys.cb_weights(toys.counts, BETA))


def test_missing_counts_raise_clear_error(make_runner, toys):
    runner = make_runner(model=_model(toys), train_cfg={'by_epoch': True, 'max_epochs': 1},
                         custom_hooks=[{'type': 'DRWHook', 'start': 0}])
    with pytest.raises(RuntimeError, match='ClassCountsHook.*cls_num_list'):
        runner.train()


def test_counts_from_loss_config_are_enough(make_runner, toys):
    model = _model(toys, cls_num_list=[2, 2, 6])
    runner = make_runner(model=model, train_cfg={'by_epoch': True, 'max_epochs': 1},
                         custom_hooks=[{'type': 'DRWHook', 'start': 0, 'beta': BETA}])
    runner.train()
    _assert_schedule(model.seen, 0, toys.cb_weights([2, 2, 6], BETA))


def test_epoch_mode_with_iteration_loop_is_rejected(make_runner, toys):
    runner = make_runner(model=_model(toys), train_cfg={'by_epoch': False, 'max_iters': 2},
                         by_epoch=False, custom_hooks=[COUNTS_HOOK, {'type': 'DRWHook',
                                                                         'start': 1}])
    with pytest.raises(ValueError, match='by_epoch=False'):
        runner.train()


def test_logs_once_when_switching_on(make_runner, toys, tmp_path):
    runner = make_runner(model=_model(toys), train_cfg={'by_epoch': True, 'max_epochs': 3},
                         custom_hooks=[COUNTS_HOOK, {'type': 'DRWHook', 'start': 1}],
                         log_level='INFO', work_dir=tmp_path / 'log')
    runner.train()
    logs = glob.glob(str(tmp_path / 'log' / '*' / '*.log'))
    assert logs
    with open(logs[0]) as f:
        text = f.read()
    assert text.count('deferred re-weighting on from epoch 1') == 1
    assert 'ClassCountsHook' in text and '[8, 3, 1]' in text


@pytest.mark.parametrize('kwargs', [{'start': -1}, {'start': 1.5}, {'start': True},
                                    {'start': 1, 'beta': 1.0}, {'start': 1, 'beta': -0.1},
                                    {'start': 1, 'normalize': 'samples'},
                                    {'start': 1, 'class_weight': 'balanced'},
                                    {'start': 1, 'class_weight': None},
                                    {'start': 1, 'class_weight': [1.0, -1.0]},
                                    {'start': 1, 'class_weight': [[1.0]]}])
def test_invalid_arguments(kwargs):
    with pytest.raises((ValueError, TypeError)):
        DRWHook(**kwargs)
