"""End to end: an mmseg UNet (from ``mmseg::_base_/models/fcn_unet_s5-d16.py``) trains two
iterations on tiny generated 64x64 images with each plugin segmentation loss, alone and in a
``loss_decode`` list with mmseg's CrossEntropyLoss, through ``Runner``."""
import uuid

import numpy as np
import pytest
import torch

pytest.importorskip('mmseg.models')
from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from PIL import Image  # noqa: E402

import mmloss_plugin  # noqa: E402,F401

CE = dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)

# (case id, loss config, binary one-channel head)
CASES = [
    ('dice', dict(type='SoftDiceLoss'), False),
    ('dice_sigmoid', dict(type='SoftDiceLoss', use_sigmoid=True), True),
    ('iou', dict(type='IoULoss', include_background=False), False),
    ('focal_tversky', dict(type='FocalTverskyLoss', alpha=0.3, beta=0.7, gamma=0.75), False),
    ('generalized_dice', dict(type='GeneralizedDiceLoss', batch=True), False),
    ('sensitivity_specificity', dict(type='SensitivitySpecificityLoss', r=0.05), False),
    ('log', dict(type='LogLoss', class_weight=[1.0, 3.0]), True),
    ('compound', dict(type='CompoundLoss', losses=[CE, dict(type='SoftDiceLoss')],
                      weights=[1.0, 3.0]), False),
    ('softmax_focal', dict(type='SoftmaxFocalLoss', gamma=2.0, class_weight=[0.5, 2.0]), False),
    ('weighted_ce', dict(type='WeightedCrossEntropyLoss', class_weight=[0.5, 2.0]), False),
]


@pytest.fixture(scope='module')
def seg_data(tmp_path_factory):
    """Four 64x64 RGB images with a bright disc labelled 1, and a few ignored (255) pixels."""
    root = tmp_path_factory.mktemp('seg_data')
    (root / 'img').mkdir()
    (root / 'ann').mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    for i in range(4):
        cy, cx, r = rng.integers(16, 48), rng.integers(16, 48), rng.integers(5, 14)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
        img = rng.integers(0, 80, (64, 64, 3), dtype=np.uint8)
        img[disc] += 150
        ann = disc.astype(np.uint8)
        ann[:2, :] = 255
        Image.fromarray(img).save(root / 'img' / f'{i}.png')
        Image.fromarray(ann).save(root / 'ann' / f'{i}.png')
    return root


def _config(tmp_path, data_root, loss_decode, binary):
    base = tmp_path / 'base.py'
    base.write_text("_base_ = ['mmseg::_base_/models/fcn_unet_s5-d16.py']\n")
    cfg = Config.fromfile(str(base))
    norm_cfg = dict(type='BN', requires_grad=True)
    model = cfg.model
    model.data_preprocessor.size = (64, 64)
    model.backbone.update(base_channels=4, norm_cfg=norm_cfg)
    model.decode_head.update(in_channels=4, channels=4, norm_cfg=norm_cfg)
    # item assignment replaces the base's CE config (update() would merge the dicts)
    model.decode_head['loss_decode'] = loss_decode
    if binary:
        model.decode_head.update(num_classes=2, out_channels=1, threshold=0.5)
    model.auxiliary_head = None
    model.test_cfg = dict(mode='whole')
    dataset = dict(
        type='BaseSegDataset', data_root=str(data_root),
        data_prefix=dict(img_path='img', seg_map_path='ann'), img_suffix='.png',
        seg_map_suffix='.png', metainfo=dict(classes=('background', 'lesion'),
                                             palette=[[0, 0, 0], [255, 255, 255]]),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')])
    return dict(
        model=model.to_dict(), work_dir=str(tmp_path),
        train_dataloader=dict(batch_size=2, num_workers=0, dataset=dataset,
                              sampler=dict(type='InfiniteSampler', shuffle=False)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', interval=100)),
        default_scope='mmseg', experiment_name=f'seg_e2e_{uuid.uuid4().hex[:8]}',
        env_cfg=dict(dist_cfg=dict(backend='gloo')), log_level='WARNING')


@pytest.mark.parametrize('with_ce', [False, True], ids=['alone', 'with_ce'])
@pytest.mark.parametrize('case,loss_cfg,binary', CASES, ids=[c[0] for c in CASES])
def test_unet_trains_with_loss(seg_data, tmp_path, case, loss_cfg, binary, with_ce):
    if with_ce and binary:
        ce = dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)
        loss_decode = [loss_cfg, ce]
    else:
        loss_decode = [loss_cfg, CE] if with_ce else loss_cfg
    torch.manual_seed(0)
    runner = Runner(**_config(tmp_path, seg_data, loss_decode, binary))
    runner.train()
    head = runner.model.decode_head
    losses = head.loss_decode if isinstance(head.loss_decode, torch.nn.ModuleList) \
        else [head.loss_decode]
    assert type(losses[0]).__name__ == loss_cfg['type']
    name = losses[0].loss_name
    values = runner.message_hub.get_scalar(f'train/decode.{name}').data[0]
    assert len(values) == 2 and np.all(np.isfinite(values)), values
    total = runner.message_hub.get_scalar('train/loss').data[0]
    assert np.all(np.isfinite(total))
    if with_ce:
        ce_values = runner.message_hub.get_scalar('train/decode.loss_ce').data[0]
        assert np.all(np.isfinite(ce_values))
        assert np.all(np.asarray(total) >= np.asarray(ce_values) - 1e-6)
