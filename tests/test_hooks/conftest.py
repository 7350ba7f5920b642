"""Toy model, datasets and a Runner factory for the hook tests (real mmengine Runner)."""
import uuid
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.dataset import BaseDataset
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, MODELS

import mmloss_plugin  # noqa: F401  (registers the hooks and losses)


class ToyClsDataset(BaseDataset):
    """Classification dataset with ``get_gt_labels`` (like mmpretrain's BaseDataset)."""

    METAINFO = {'classes': ('a', 'b', 'c')}

    def __init__(self, labels, **kwargs):
        self._labels = list(labels)
        super().__init__(ann_file='', serialize_data=False, **kwargs)

    def load_data_list(self):
        g = torch.Generator().manual_seed(0)
        return [{'inputs': torch.randn(4, generator=g), 'gt_label': int(lab)}
                for lab in self._labels]

    def get_gt_labels(self):
        return np.array([self.get_data_info(i)['gt_label'] for i in range(len(self))])

    def get_cat_ids(self, idx):
        return [self.get_data_info(idx)['gt_label']]


# registered so that nested wrappers can be built from configs (mmengine wrappers accept
# only BaseDataset instances or configs)
DATASETS.register_module(name='MMLossToyClsDataset', module=ToyClsDataset, force=True)


class ToyInfoDataset(ToyClsDataset):
    """Same samples but no ``get_gt_labels``: counted from ``get_data_info(i)['gt_label']``."""

    get_gt_labels = None


class ToyModel(BaseModel):
    """Linear classifier whose loss is built from a config; records, for every training
    iteration, the class weight the loss applied and whether its mean was weighted."""

    def __init__(self, loss=None):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.loss_module = MODELS.build(loss or {'type': 'WeightedCrossEntropyLoss'})
        self.seen = []
        self.weighted_mean = []

    def forward(self, inputs, gt_label=None, mode='tensor', **kwargs):
        logits = self.fc(torch.stack(inputs))
        if mode == 'loss':
            w = self.loss_module.effective_class_weight()
            self.seen.append(None if w is None else w.detach().clone())
            self.weighted_mean.append(self.loss_module.drw_weighted_mean)
            target = torch.as_tensor(gt_label, dtype=torch.long)
            return {'loss': self.loss_module(logits, target)}
        if mode == 'predict':
            scores = logits.softmax(1).detach()
            return [{'pred_score': s, 'gt_label': torch.tensor([int(lab)])}
                    for s, lab in zip(scores, gt_label)]
        return logits


LABELS = [0, 0, 0, 0, 1, 1, 2, 0, 0, 1, 0, 0]  # counts (8, 3, 1)
COUNTS = [8.0, 3.0, 1.0]


def effective_number_weights(counts, beta):
    """Class-balanced weights (1-b)/(1-b^n), normalised to sum C — written out here
    independently of the package."""
    counts = np.maximum(np.asarray(counts, dtype=np.float64), 1)
    w = np.array([(1 - beta) / (1 - beta ** n) for n in counts])
    return w / w.sum() * len(w)


@pytest.fixture
def toys():
    """The toy classes and constants above (test files cannot import conftest)."""
    return SimpleNamespace(ClsDataset=ToyClsDataset, InfoDataset=ToyInfoDataset, Model=ToyModel,
                           labels=LABELS, counts=COUNTS, cb_weights=effective_number_weights)


@pytest.fixture
def make_runner(tmp_path, monkeypatch):
    from mmengine.runner import Runner

    # mmengine 0.10.7 checkpoints need torch.load(weights_only=False) under torch >= 2.6;
    # tools/train.py does the same (mmloss_plugin.engine.runtime.allow_full_checkpoint_loading)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')

    def make(model=None, dataset=None, custom_hooks=(), train_cfg=None, work_dir=None,
             resume=False, load_from=None, checkpoint_interval=1, by_epoch=True,
             log_level='WARNING', optim_wrapper=None, **kwargs):
        dataset = dataset if dataset is not None else ToyClsDataset(LABELS)
        return Runner(
            model=model if model is not None else ToyModel(),
            work_dir=str(work_dir or tmp_path),
            train_dataloader={'dataset': dataset, 'batch_size': 4, 'num_workers': 0,
                                  'sampler': {'type': 'DefaultSampler', 'shuffle': False}},
            optim_wrapper=optim_wrapper or {'optimizer': {'type': 'SGD', 'lr': 0.01}},
            train_cfg=train_cfg or {'by_epoch': True, 'max_epochs': 3},
            custom_hooks=list(custom_hooks),
            default_hooks={'checkpoint': {'type': 'CheckpointHook', 'by_epoch': by_epoch,
                                               'interval': checkpoint_interval},
                               'logger': {'type': 'LoggerHook', 'interval': 1000}},
            resume=resume, load_from=load_from,
            experiment_name=f'hooktest_{uuid.uuid4().hex[:8]}',
            default_scope='mmengine', env_cfg={'dist_cfg': {'backend': 'gloo'}},
            log_level=log_level, **kwargs)

    return make
