"""Bad loss configs fail when the model is built, with a message naming the key.

* Arguments a loss can check alone (strategy names, ranges, lengths of its own per-class
  lists, ``loss_name``, ``ignore_index`` against its own classes) fail in the loss
  constructor, i.e. inside ``MODELS.build`` of the loss or of the head that builds it.
* What only the head knows (its ``num_classes``, mmseg's head-level ``ignore_index``) is
  checked by ``check_model_losses`` once the model is built; ``tools/train.py`` runs it right
  after building the runner, before any data is loaded.
* ``tools/train.py`` reports all of these as one ``error: ...`` line, without a traceback.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.registry import HOOKS, MODELS

import mmloss_plugin  # noqa: F401
from mmloss_plugin.losses.model_checks import check_model_losses

REPO = Path(__file__).resolve().parents[2]
CE_FAMILY = ('WeightedCrossEntropyLoss', 'SoftmaxFocalLoss', 'LDAMLoss', 'LMFLoss',
             'LogitAdjustedLoss')
ALL_LOSSES = CE_FAMILY + ('SoftDiceLoss', 'IoULoss', 'FocalTverskyLoss', 'GeneralizedDiceLoss',
                          'SensitivitySpecificityLoss', 'LogLoss', 'CompoundLoss')
MINIMAL = {'CompoundLoss': dict(losses=[dict(type='SoftDiceLoss')])}


def build(**cfg):
    return MODELS.build(cfg)


# ------------------------------------------------------------------ loss constructors
@pytest.mark.parametrize('name', CE_FAMILY)
def test_unknown_class_weight_strategy(name):
    with pytest.raises(ValueError, match=r"class_weight.*'balanced'"):
        build(type=name, class_weight='balanced', cls_num_list=[3, 2, 1])


@pytest.mark.parametrize('cfg,key', [
    (dict(type='SoftmaxFocalLoss', gamma=-1.0), 'gamma'),
    (dict(type='LMFLoss', gamma=-0.5), 'gamma'),
    (dict(type='FocalTverskyLoss', gamma=-1.0), 'gamma'),
    (dict(type='FocalTverskyLoss', gamma=0.0), 'gamma'),
    (dict(type='LMFLoss', alpha=-1.0), 'alpha'),
    (dict(type='LMFLoss', beta=-0.1), 'beta'),
    (dict(type='LMFLoss', alpha=0.0, beta=0.0), 'alpha and beta'),
    (dict(type='FocalTverskyLoss', alpha=-0.3), 'alpha'),
    (dict(type='FocalTverskyLoss', beta=-0.7), 'beta'),
    (dict(type='SensitivitySpecificityLoss', r=1.5), 'r'),
    (dict(type='WeightedCrossEntropyLoss', class_weight='effective_number', cb_beta=1.0),
     'cb_beta'),
    (dict(type='LDAMLoss', max_m=-0.5), 'max_m'),
    (dict(type='LDAMLoss', s=0.0), 's'),
    (dict(type='LDAMLoss', logit_type='cos'), 'logit_type'),
    (dict(type='LogitAdjustedLoss', tau=-1.0), 'tau'),
    (dict(type='GeneralizedDiceLoss', weight_type='cube'), 'weight_type'),
    (dict(type='SoftDiceLoss', smooth=-1.0), 'smooth'),
    (dict(type='SoftDiceLoss', reduction='avg'), 'reduction'),
    (dict(type='CompoundLoss', losses=[dict(type='SoftDiceLoss')], weights=[-1.0]),
     r'weights\[0\]'),
    (dict(type='CompoundLoss', losses=[dict(type='SoftDiceLoss')], weights=[1.0, 2.0]),
     'weights'),
])
def test_out_of_range_arguments(cfg, key):
    with pytest.raises(ValueError, match=key):
        build(**cfg)


def test_drw_hook_beta_out_of_range():
    with pytest.raises(ValueError, match='beta'):
        HOOKS.build(dict(type='DRWHook', start=2, beta=1.0))
    with pytest.raises(ValueError, match='start'):
        HOOKS.build(dict(type='DRWHook', start=-1))


@pytest.mark.parametrize('name', ('WeightedCrossEntropyLoss', 'LDAMLoss', 'LMFLoss',
                                  'LogitAdjustedLoss', 'SoftmaxFocalLoss'))
def test_cls_num_list_invalid(name, tmp_path):
    with pytest.raises(ValueError, match=r'cls_num_list has 3 classes but class_weight has 2'):
        build(type=name, cls_num_list=[5, 3, 1], class_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match='cls_num_list must hold finite non-negative'):
        build(type=name, cls_num_list=[5, -1, 2])
    with pytest.raises(ValueError, match='cls_num_list must hold finite non-negative'):
        build(type=name, cls_num_list=[5, float('nan'), 2])
    with pytest.raises(FileNotFoundError, match='cls_num_list'):
        build(type=name, cls_num_list=str(tmp_path / 'missing.txt'))


@pytest.mark.parametrize('name', ALL_LOSSES)
def test_loss_name_without_loss(name):
    with pytest.raises(ValueError, match='loss_name'):
        build(type=name, loss_name='dice', **MINIMAL.get(name, {}))


@pytest.mark.parametrize('cfg', [
    dict(type='WeightedCrossEntropyLoss', class_weight=[1.0, 2.0, 3.0], ignore_index=1),
    dict(type='LDAMLoss', cls_num_list=[3, 2, 1], ignore_index=0),
    dict(type='LogitAdjustedLoss', cls_num_list=[3, 2, 1], ignore_index=2),
    dict(type='SoftDiceLoss', class_weight=[1.0, 2.0, 3.0], ignore_index=2),
    dict(type='LogLoss', class_weight=[1.0, 2.0], ignore_index=1),
])
def test_ignore_index_real_class_at_build(cfg):
    with pytest.raises(ValueError, match=rf"ignore_index={cfg['ignore_index']} is a real class"):
        build(**cfg)


def test_ignore_index_checked_when_counts_arrive():
    """Counts set later (ClassCountsHook) make the number of classes known: checked then."""
    loss = build(type='LDAMLoss', ignore_index=2)
    with pytest.raises(ValueError, match='ignore_index=2 is a real class'):
        loss.set_class_counts([3, 2, 1])
    assert loss.cls_num is None  # nothing half-set
    loss.set_class_counts([3, 2])  # classes 0 and 1: ignore_index=2 is not a class
    assert loss.cls_num.tolist() == [3.0, 2.0]
    with pytest.raises(TypeError, match='ignore_index'):
        build(type='SoftmaxFocalLoss', ignore_index='255')


# ------------------------------------------------------------------ heads (registries)
def test_head_builds_loss_errors_at_build():
    pytest.importorskip('mmpretrain')
    from mmpretrain.registry import MODELS as CLS_MODELS
    with pytest.raises(ValueError, match='gamma must be >= 0'):
        CLS_MODELS.build(dict(type='LinearClsHead', num_classes=3, in_channels=8,
                              loss=dict(type='SoftmaxFocalLoss', gamma=-2.0)))


@pytest.mark.parametrize('head_type', ['LinearClsHead', 'NormedLinearClsHead'])
def test_cls_num_list_length_against_head(head_type):
    pytest.importorskip('mmpretrain')
    from mmpretrain.registry import MODELS as CLS_MODELS
    bad = dict(type=head_type, num_classes=4, in_channels=8,
               loss=dict(type='LDAMLoss', cls_num_list=[5, 3, 1]))
    match = r'cls_num_list has 3 entries but .*num_classes=4'
    if head_type == 'NormedLinearClsHead':
        # The plugin head checks its loss itself: building it fails.
        with pytest.raises(ValueError, match=match):
            CLS_MODELS.build(bad)
    else:
        # mmpretrain's own head does not; tools/train.py runs check_model_losses after build.
        with pytest.raises(ValueError, match=match):
            check_model_losses(CLS_MODELS.build(bad))
    ok = CLS_MODELS.build(dict(type=head_type, num_classes=3, in_channels=8,
                               loss=dict(type='LDAMLoss', cls_num_list=[5, 3, 1])))
    assert check_model_losses(ok) == 1


def _seg_head(**kwargs):
    pytest.importorskip('mmseg')
    from mmseg.registry import MODELS as SEG_MODELS
    cfg = dict(type='FCNHead', in_channels=4, channels=4, num_convs=1, num_classes=3)
    cfg.update(kwargs)
    return SEG_MODELS.build(cfg)


def test_seg_loss_name_without_loss_at_head_build():
    with pytest.raises(ValueError, match='loss_name'):
        _seg_head(loss_decode=[dict(type='SoftDiceLoss', loss_name='dice')])


def test_seg_head_ignore_index_real_class():
    head = _seg_head(ignore_index=1, loss_decode=[
        dict(type='CompoundLoss', losses=[dict(type='SoftDiceLoss'),
                                          dict(type='WeightedCrossEntropyLoss')])])
    with pytest.raises(ValueError, match=r'ignore_index=1 is a real class'):
        check_model_losses(head)
    # the default 255 and a class_weight of the right length pass
    head = _seg_head(loss_decode=[dict(type='SoftDiceLoss', class_weight=[1.0, 2.0, 3.0])])
    assert check_model_losses(head) == 1
    head = _seg_head(loss_decode=[dict(type='SoftDiceLoss', class_weight=[1.0, 2.0])])
    with pytest.raises(ValueError, match=r'class_weight has 2 entries'):
        check_model_losses(head)


def test_seg_binary_head_accepts_both_lengths():
    """One-channel binary heads: LogLoss weights [bg, fg]; sigmoid region losses 1 weight."""
    head = _seg_head(num_classes=2, out_channels=1, threshold=0.5, loss_decode=[
        dict(type='LogLoss', class_weight=[1.0, 3.0]),
        dict(type='SoftDiceLoss', use_sigmoid=True, class_weight=[1.0], loss_name='loss_d')])
    assert check_model_losses(head) == 2


# ------------------------------------------------------------------ tools/train.py
def _train(config: Path, *options: str):
    import os
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
    return subprocess.Popen([sys.executable, str(REPO / 'tools' / 'train.py'), str(config),
                             '--work-dir', 'work', '--cfg-options', *options],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)


def _config(pattern: str) -> Path:
    found = sorted(REPO.glob(pattern))
    if not found:
        pytest.skip(f'no bundled config matches {pattern}')
    return found[0]


@pytest.mark.timeout(120)
def test_train_tool_one_line_errors(tmp_path, monkeypatch):
    """Bundled demo configs made invalid with --cfg-options: one line, no traceback."""
    pytest.importorskip('mmpretrain')
    pytest.importorskip('mmseg')
    monkeypatch.chdir(tmp_path)
    focal = _config('configs/classification/focal/*demo-cls.py')
    ldam = _config('configs/classification/ldam_drw/*demo-cls.py')
    dice = _config('configs/segmentation/dice/*demo-seg*.py')
    cases = [
        (_train(focal, 'model.head.loss.gamma=-1.0'), 'gamma must be >= 0'),
        (_train(ldam, 'model.head.loss.cls_num_list=[30,10,5]'),
         'LDAMLoss: cls_num_list has 3 entries but NormedLinearClsHead has num_classes=7'),
        (_train(dice, 'model.decode_head.loss_decode.0.loss_name=dice'), 'loss_name'),
        (_train(dice, 'model.decode_head.ignore_index=1'),
         'decode_head.ignore_index=1 is a real class'),
    ]
    for proc, expected in cases:
        out, _ = proc.communicate(timeout=110)
        assert proc.returncode != 0, out[-3000:]
        assert 'Traceback' not in out, out[-3000:]
        last = out.strip().splitlines()[-1]
        assert last.startswith('error: ') and expected in last, out[-3000:]
