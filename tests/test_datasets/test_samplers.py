"""DeferredClassBalancedSampler: natural order before ``start``, class-balanced after."""
from __future__ import annotations

import numpy as np
import pytest

from mmloss_plugin.datasets import DeferredClassBalancedSampler
from mmloss_plugin.datasets.samplers import sample_labels


class LabelledDataset:
    """Minimal mmengine-style dataset: ``len`` and ``get_cat_ids``."""

    def __init__(self, labels):
        self.labels = list(labels)

    def __len__(self):
        return len(self.labels)

    def get_cat_ids(self, idx):
        return [self.labels[idx]]


# 900 / 90 / 10 images: imbalance ratio 90
LONG_TAIL = [0] * 900 + [1] * 90 + [2] * 10


def _sampler(labels=LONG_TAIL, **kwargs):
    kwargs.setdefault('seed', 0)
    return DeferredClassBalancedSampler(LabelledDataset(labels), **kwargs)


def _class_freq(sampler, labels=LONG_TAIL):
    drawn = np.asarray(labels)[list(sampler)]
    return np.bincount(drawn, minlength=3) / len(drawn)


def test_before_start_every_sample_once():
    s = _sampler(start=2)
    for epoch in (0, 1):
        s.set_epoch(epoch)
        assert sorted(s) == list(range(len(LONG_TAIL)))


def test_from_start_classes_are_balanced():
    s = _sampler(start=2)
    s.set_epoch(2)
    indices = list(s)
    assert len(indices) == len(s) == len(LONG_TAIL)
    freq = _class_freq(s)
    # each class ~1/3 (1000 draws: std ~0.015), the natural distribution would be .9/.09/.01
    np.testing.assert_allclose(freq, 1 / 3, atol=0.06)
    # the rare class's 10 images are all drawn, with replacement
    rare = [i for i in indices if LONG_TAIL[i] == 2]
    assert set(rare) == set(range(990, 1000))


def test_start_zero_balances_from_the_first_epoch():
    np.testing.assert_allclose(_class_freq(_sampler(start=0)), 1 / 3, atol=0.06)


def test_deterministic_per_seed_and_epoch():
    a, b = _sampler(start=0), _sampler(start=0)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)
    assert list(a) != list(_sampler(start=0, seed=1))


def test_ranks_split_one_global_sequence(monkeypatch):
    import mmengine.dataset.sampler as mm_sampler
    full = _sampler(start=0)
    parts = []
    for rank in (0, 1):
        monkeypatch.setattr(mm_sampler, 'get_dist_info', lambda rank=rank: (rank, 2))
        s = _sampler(start=0)
        assert len(s) == len(LONG_TAIL) // 2
        parts.append(list(s))
    assert [i for pair in zip(*parts) for i in pair] == list(full)


def test_empty_classes_are_skipped():
    # class 1 has no image: the balanced draw covers classes 0 and 2 only
    labels = [0] * 50 + [2] * 5
    freq = np.bincount(np.asarray(labels)[list(_sampler(labels, start=0))], minlength=3)
    assert freq[1] == 0
    np.testing.assert_allclose(freq[[0, 2]] / len(labels), 0.5, atol=0.15)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match='start must be an int >= 0'):
        _sampler(start=-1)
    with pytest.raises(ValueError, match='start must be an int >= 0'):
        _sampler(start=1.5)
    with pytest.raises(TypeError, match='get_cat_ids.*gt_label'):
        sample_labels([1, 2, 3])

    class MultiLabel(LabelledDataset):
        def get_cat_ids(self, idx):
            return [0, 1]

    with pytest.raises(ValueError, match='exactly one label per sample'):
        list(DeferredClassBalancedSampler(MultiLabel([0, 1]), start=0, seed=0))
    with pytest.raises(ValueError, match='dataset is empty'):
        list(_sampler([], start=0))


def test_builds_from_the_mmpretrain_registry():
    pytest.importorskip('mmpretrain')
    from mmpretrain.registry import DATA_SAMPLERS
    s = DATA_SAMPLERS.build(dict(type='DeferredClassBalancedSampler', start=3),
                            default_args=dict(dataset=LabelledDataset(LONG_TAIL), seed=0))
    assert isinstance(s, DeferredClassBalancedSampler) and s.start == 3


def _train_label_recorder(tmp_path, custom_hooks=()):
    """Train a label-recording model 3 epochs of 10 batches (100 samples, counts 90/9/1)
    with the sampler from epoch 1 in a real mmengine Runner; return the class counts seen
    per epoch."""
    import torch
    import torch.nn as nn
    from mmengine.dataset import BaseDataset
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    labels = [0] * 90 + [1] * 9 + [2]

    class Data(BaseDataset):
        METAINFO = {'classes': ('a', 'b', 'c')}

        def load_data_list(self):
            return [{'inputs': torch.zeros(2), 'gt_label': lab} for lab in labels]

    class LabelRecorder(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 3)
            self.seen = []

        def forward(self, inputs, gt_label=None, mode='tensor', **kwargs):
            logits = self.fc(torch.stack(inputs))
            self.seen.append(list(gt_label))
            return {'loss': logits.sum() * 0}

    model = LabelRecorder()
    Runner(model=model, work_dir=str(tmp_path),
           train_dataloader={'dataset': Data(ann_file='', serialize_data=False),
                             'batch_size': 10, 'num_workers': 0,
                             'sampler': {'type': 'DeferredClassBalancedSampler', 'start': 1}},
           optim_wrapper={'optimizer': {'type': 'SGD', 'lr': 0.01}},
           train_cfg={'by_epoch': True, 'max_epochs': 3}, custom_hooks=list(custom_hooks),
           default_hooks={'checkpoint': None, 'logger': {'type': 'LoggerHook', 'interval': 1000}},
           default_scope='mmengine', env_cfg={'dist_cfg': {'backend': 'gloo'}},
           randomness={'seed': 0}, log_level='WARNING').train()
    assert len(model.seen) == 30
    return [np.bincount(np.concatenate(model.seen[e * 10:(e + 1) * 10]), minlength=3)
            for e in range(3)]


def test_runner_switches_at_start_epoch(tmp_path):
    """In a real mmengine Runner the default DistSamplerSeedHook sets the epoch: epoch 0
    sees the natural distribution, epochs 1-2 the balanced one."""
    per_epoch = _train_label_recorder(tmp_path)
    np.testing.assert_array_equal(per_epoch[0], [90, 9, 1])
    for counts in per_epoch[1:]:
        assert counts.sum() == 100 and counts.min() >= 20, counts


def test_drw_hook_with_the_sampler_warns(tmp_path):
    with pytest.warns(UserWarning, match='re-balances twice'):
        _train_label_recorder(tmp_path, [{'type': 'DRWHook', 'start': 5}])
