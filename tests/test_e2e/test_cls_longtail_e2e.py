"""End to end: an mmpretrain ResNet-18 trains on a tiny long-tailed image set with each
plugin classification loss, ClassCountsHook, DRWHook switching on mid-run, and
LongTailMetric evaluation."""
import os
import uuid

import numpy as np
import pytest
import torch

pytest.importorskip('mmpretrain')
from mmengine.hooks import Hook  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from PIL import Image  # noqa: E402

import mmloss_plugin  # noqa: E402,F401

COUNTS = [12, 5, 2]  # long-tailed training set
CLASSES = ('common', 'rare', 'very rare')
BETA = 0.99
LOSS_FILES = ['focal.py', 'ldam.py', 'lmf.py', 'logit_adjustment.py', 'cross_entropy.py']


@pytest.fixture(scope='module')
def image_dir(tmp_path_factory):
    """32x32 PNGs whose colour depends on the class, plus a CustomDataset annotation file."""
    root = tmp_path_factory.mktemp('lt_images')
    rng = np.random.default_rng(0)
    lines = []
    for label, n in enumerate(COUNTS):
        for i in range(n):
            img = rng.integers(0, 60, (32, 32, 3), dtype=np.uint8)
            img[..., label] += 150
            name = f'c{label}_{i}.png'
            Image.fromarray(img).save(root / name)
            lines.append(f'{name} {label}\n')
    (root / 'train.txt').write_text(''.join(lines))
    return root


class DRWProbe(Hook):
    """Records, at each training iteration, the DRW weight of the head's loss."""

    priority = 'LOW'  # after DRWHook

    def __init__(self):
        self.seen = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        loss = runner.model.head.loss_module
        self.seen.append(None if loss.drw_weight is None else loss.drw_weight.clone())


def _cb_weights(counts, beta):
    w = np.array([(1 - beta) / (1 - beta ** n) for n in counts])
    return w / w.sum() * len(w)


CASES = [
    ('WeightedCrossEntropyLoss', {}, {'type': 'NormedLinearClsHead', 'scale': 16.0}),
    ('SoftmaxFocalLoss', {'gamma': 2.0}, {'type': 'LinearClsHead'}),
    ('LDAMLoss', {'max_m': 0.5, 's': 30.0}, {'type': 'NormedLinearClsHead'}),
    ('LMFLoss', {}, {'type': 'NormedLinearClsHead'}),
    ('LogitAdjustedLoss', {'tau': 1.0}, {'type': 'NormedLinearClsHead', 'scale': 16.0}),
]


def _runner(image_dir, tmp_path, head, custom_hooks):
    """A Runner training an mmpretrain ResNet-18 (BN) for 2 epochs of 3 iterations."""
    dataset = {'type': 'CustomDataset', 'data_root': str(image_dir), 'ann_file': 'train.txt',
                   'data_prefix': '', 'metainfo': {'classes': CLASSES},
                   'pipeline': [{'type': 'LoadImageFromFile'}, {'type': 'PackInputs'}]}
    loader = {'batch_size': 8, 'num_workers': 0, 'dataset': dataset,
              'sampler': {'type': 'DefaultSampler', 'shuffle': False},
              'persistent_workers': False}
    return Runner(
        model={
            'type': 'ImageClassifier',
            'data_preprocessor': {'num_classes': 3, 'mean': [127.5] * 3, 'std': [64.0] * 3,
                                   'to_rgb': True},
            'backbone': {'type': 'ResNet', 'depth': 18, 'stem_channels': 8, 'base_channels': 8,
                          'out_indices': (3,)},
            'neck': {'type': 'GlobalAveragePooling'}, 'head': head},
        work_dir=str(tmp_path),
        train_dataloader=loader, val_dataloader=loader,
        train_cfg={'by_epoch': True, 'max_epochs': 2, 'val_interval': 100},
        val_cfg={}, val_evaluator={'type': 'LongTailMetric', 'shot_thresholds': (10, 3)},
        optim_wrapper={'optimizer': {'type': 'SGD', 'lr': 0.05, 'momentum': 0.9}},
        custom_hooks=custom_hooks,
        default_hooks={'logger': {'type': 'LoggerHook', 'interval': 1},
                           'checkpoint': {'type': 'CheckpointHook', 'interval': 100}},
        default_scope='mmpretrain', experiment_name=f'e2e_{uuid.uuid4().hex[:8]}',
        env_cfg={'dist_cfg': {'backend': 'gloo'}}, log_level='WARNING')


@pytest.mark.parametrize('loss_type,loss_kwargs,head', CASES, ids=[c[0] for c in CASES])
def test_train_resnet_with_loss(image_dir, tmp_path, loss_type, loss_kwargs, head):
    missing = [f for f in LOSS_FILES if not os.path.isfile(os.path.join(
        os.path.dirname(mmloss_plugin.__file__), 'losses', 'classification', f))]
    assert not missing, f'classification loss files missing: {missing}'
    torch.manual_seed(0)
    head = dict(head, num_classes=3, in_channels=64, topk=(1,),
                loss=dict(type=loss_type, **loss_kwargs))
    probe = DRWProbe()
    runner = _runner(image_dir, tmp_path, head,
                     [{'type': 'ClassCountsHook'}, {'type': 'DRWHook', 'start': 1, 'beta': BETA},
                      probe])
    runner.train()

    loss = runner.model.head.loss_module
    assert type(loss).__name__ == loss_type
    assert loss.cls_num.tolist() == COUNTS
    if head['type'] == 'NormedLinearClsHead' and head.get('scale', 1.0) == 1.0:
        assert loss.cosine_logits and loss.effective_s == loss_kwargs.get('s', 30.0)

    # 19 images, batch 8 -> 3 iterations per epoch; DRW from epoch 1 = iteration 3 on
    assert len(probe.seen) == 6
    assert all(w is None for w in probe.seen[:3])
    for w in probe.seen[3:]:
        np.testing.assert_allclose(w.numpy(), _cb_weights(COUNTS, BETA), rtol=1e-5)

    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 6 and np.all(np.isfinite(losses))

    metrics = runner.val_loop.run()
    for key in ('accuracy', 'balanced_accuracy', 'macro_f1', 'macro_auc', 'many_shot_acc',
                'medium_shot_acc', 'few_shot_acc', 'recall_very_rare'):
        value = metrics[f'longtail/{key}']
        assert 0.0 <= value <= 100.0, (key, value)


def test_train_resnet_ldam_drw_with_sam(image_dir, tmp_path):
    """LDAM-DRW with SAMHook from the DRW epoch: two passes per step there, BN intact."""
    torch.manual_seed(0)
    head = {'type': 'NormedLinearClsHead', 'num_classes': 3, 'in_channels': 64, 'topk': (1,),
            'loss': {'type': 'LDAMLoss', 'max_m': 0.5, 's': 30.0}}
    runner = _runner(image_dir, tmp_path, head,
                     [{'type': 'ClassCountsHook'}, {'type': 'DRWHook', 'start': 1, 'beta': BETA},
                      {'type': 'SAMHook', 'rho': 0.5, 'start': 1}])
    runner.train()
    hub = runner.message_hub
    assert len(hub.get_scalar('train/loss').data[0]) == 6
    sam = hub.get_scalar('train/loss_sam').data[0]  # logged from epoch 1 (iterations 3-5)
    assert len(sam) == 3 and np.all(np.isfinite(sam))
    bn = runner.model.backbone.bn1
    assert int(bn.num_batches_tracked) == 6  # one update per step, not two
    assert 'train_step' not in vars(runner.model)
    metrics = runner.val_loop.run()
    assert 0.0 <= metrics['longtail/balanced_accuracy'] <= 100.0
