"""ClassCountsHook: counts from the training set reach every plugin loss before iteration 0."""
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.dataset import BaseDataset, ClassBalancedDataset, ConcatDataset, RepeatDataset
from PIL import Image

from mmloss_plugin.hooks import ClassCountsHook
from mmloss_plugin.metrics import LongTailMetric
from mmloss_plugin.utils.dataset_counts import (
    ann_file_class_counts,
    dataset_class_counts,
    iter_base_datasets,
)


def _inverse_weights(counts):
    w = 1.0 / np.maximum(np.asarray(counts, dtype=float), 1)
    return w / w.sum() * len(w)


def _fake_runner(model, dataset):
    return SimpleNamespace(model=model, train_dataloader=SimpleNamespace(dataset=dataset),
                           _val_loop=None, _test_loop=None)


def test_counts_set_before_first_iteration(make_runner, toys):
    model = toys.Model({'type': 'WeightedCrossEntropyLoss', 'class_weight': 'inverse'})
    runner = make_runner(model=model, custom_hooks=[{'type': 'ClassCountsHook'}],
                         train_cfg={'by_epoch': True, 'max_epochs': 1})
    runner.train()
    assert model.loss_module.cls_num.tolist() == toys.counts
    # The class weight derived from the counts was in force at iteration 0 already.
    assert len(model.seen) == 3
    expected = _inverse_weights(toys.counts)
    for w in model.seen:
        np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)


def test_counts_without_get_gt_labels(make_runner, toys):
    model = toys.Model()
    runner = make_runner(model=model, dataset=toys.InfoDataset(toys.labels),
                         custom_hooks=[{'type': 'ClassCountsHook'}],
                         train_cfg={'by_epoch': True, 'max_epochs': 1})
    runner.train()
    assert model.loss_module.cls_num.tolist() == toys.counts


@pytest.mark.parametrize('wrapper', ['repeat', 'concat', 'class_balanced', 'subset'])
def test_dataset_wrappers_unwrapped(toys, wrapper):
    base = toys.ClsDataset(toys.labels)
    if wrapper == 'repeat':
        ds, expected = RepeatDataset(base, times=3), toys.counts
    elif wrapper == 'concat':
        ds = ConcatDataset([base, toys.InfoDataset([2, 2, 1])])
        expected = [8.0, 4.0, 3.0]
    elif wrapper == 'class_balanced':
        # oversampling repeats the rare classes; the original distribution is counted
        ds, expected = ClassBalancedDataset(base, oversample_thr=0.5), toys.counts
        assert len(ds) > len(base)
    else:
        ds = torch.utils.data.Subset(base, [0, 4, 5, 6, 6])
        expected = [1.0, 2.0, 2.0]
    model = toys.Model()
    ClassCountsHook().before_train(_fake_runner(model, ds))
    assert model.loss_module.cls_num.tolist() == expected


def test_wrapped_dataset_in_runner(make_runner, toys):
    model = toys.Model()
    ds = {'type': 'ConcatDataset', 'datasets': [
        {'type': 'RepeatDataset', 'times': 2,
             'dataset': {'type': 'MMLossToyClsDataset', 'labels': toys.labels}},
        {'type': 'MMLossToyClsDataset', 'labels': [2, 2, 2]}]}
    runner = make_runner(model=model, dataset=ds, custom_hooks=[{'type': 'ClassCountsHook'}],
                         train_cfg={'by_epoch': True, 'max_epochs': 1})
    runner.train()
    assert model.loss_module.cls_num.tolist() == [8.0, 3.0, 4.0]


def test_missing_last_class_gives_zero_count(toys):
    model = toys.Model()
    ClassCountsHook().before_train(_fake_runner(model, toys.ClsDataset([0, 1, 1, 0])))
    # num_classes from metainfo['classes'] (3): the absent class gets 0, not a shorter list
    assert model.loss_module.cls_num.tolist() == [2.0, 2.0, 0.0]


def test_explicit_counts_and_overwrite(toys):
    model = toys.Model()
    ClassCountsHook(counts=[5, 6, 7]).before_train(_fake_runner(model, None))
    assert model.loss_module.cls_num.tolist() == [5.0, 6.0, 7.0]

    # counts given in the loss config are kept unless overwrite=True
    model = toys.Model({'type': 'WeightedCrossEntropyLoss', 'cls_num_list': [1, 1, 1]})
    ClassCountsHook().before_train(_fake_runner(model, toys.ClsDataset(toys.labels)))
    assert model.loss_module.cls_num.tolist() == [1.0, 1.0, 1.0]
    ClassCountsHook(overwrite=True).before_train(
        _fake_runner(model, toys.ClsDataset(toys.labels)))
    assert model.loss_module.cls_num.tolist() == toys.counts


def test_every_loss_found_including_nested_and_ddp(toys, tmp_path):
    import torch.distributed as dist
    import torch.nn as nn
    from mmengine.model import MMDistributedDataParallel

    from mmloss_plugin.losses import WeightedCrossEntropyLoss
    model = toys.Model()
    model.aux = nn.ModuleList([nn.Sequential(WeightedCrossEntropyLoss())])
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/pg', rank=0, world_size=1)
    try:
        wrapped = MMDistributedDataParallel(module=model, device_ids=None)
        ClassCountsHook().before_train(_fake_runner(wrapped, toys.ClsDataset(toys.labels)))
    finally:
        dist.destroy_process_group()
    assert model.loss_module.cls_num.tolist() == toys.counts
    assert model.aux[0][0].cls_num.tolist() == toys.counts


def test_length_mismatch_and_bad_dataset_errors(toys):
    model = toys.Model({'type': 'WeightedCrossEntropyLoss', 'class_weight': [1.0, 2.0]})
    with pytest.raises(ValueError, match='ClassCountsHook.*loss_module'):
        ClassCountsHook().before_train(_fake_runner(model, toys.ClsDataset(toys.labels)))
    with pytest.raises(RuntimeError, match='ClassCountsHook could not count'):
        ClassCountsHook().before_train(_fake_runner(toys.Model(), object()))
    with pytest.raises(ValueError, match='mode'):
        ClassCountsHook(mode='voxel')


# ----------------------------------------------------------------- segmentation pixels
class ToySegDataset(BaseDataset):
    METAINFO = {'classes': ('bg', 'x', 'y')}

    def __init__(self, infos, **kwargs):
        self._infos = infos
        super().__init__(ann_file='', serialize_data=False, **kwargs)

    def load_data_list(self):
        return [dict(info) for info in self._infos]


def _write_map(path, arr):
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path)
    return str(path)


def test_pixel_counts_reduce_zero_label_and_label_map(tmp_path, toys):
    a = np.array([[0, 0, 1], [2, 2, 255], [1, 1, 1]])
    b = np.array([[1, 2], [3, 0]])
    pa, pb = _write_map(tmp_path / 'a.png', a), _write_map(tmp_path / 'b.png', b)
    # a: plain (255 ignored): class0=2, class1=4, class2=2
    # b: reduce_zero_label (0 -> 255, v -> v-1): [[0, 1], [2, 255]], then label_map {2: 0}
    #    -> [[0, 1], [0, 255]]: class0=2, class1=1
    infos = [{'seg_map_path': pa, 'reduce_zero_label': False, 'label_map': None},
             {'seg_map_path': pb, 'reduce_zero_label': True, 'label_map': {2: 0}}]
    ds = ToySegDataset(infos)
    assert dataset_class_counts(ds, 'auto').tolist() == [4.0, 5.0, 2.0]
    assert dataset_class_counts(ds, 'pixel').tolist() == [4.0, 5.0, 2.0]

    model = toys.Model()
    ClassCountsHook().before_train(_fake_runner(model, RepeatDataset(ds, times=2)))
    assert model.loss_module.cls_num.tolist() == [4.0, 5.0, 2.0]


def test_pixel_counts_with_mmseg_dataset(tmp_path):
    pytest.importorskip('mmseg')
    from mmseg.datasets import BaseSegDataset

    class ThreeClass(BaseSegDataset):
        METAINFO = {'classes': ('bg', 'cell', 'nucleus'), 'palette': [[0, 0, 0]] * 3}

    os.makedirs(tmp_path / 'img')
    os.makedirs(tmp_path / 'ann')
    maps = [np.array([[0, 1, 2], [2, 2, 0]]), np.array([[1, 1], [0, 2]])]
    for i, m in enumerate(maps):
        Image.fromarray(np.zeros(m.shape + (3,), np.uint8)).save(tmp_path / f'img/{i}.png')
        _write_map(tmp_path / f'ann/{i}.png', m)
    kw = {'data_root': str(tmp_path), 'data_prefix': {'img_path': 'img', 'seg_map_path': 'ann'},
              'img_suffix': '.png', 'seg_map_suffix': '.png', 'pipeline': []}
    ds = ThreeClass(**kw)
    assert dataset_class_counts(ds).tolist() == [3.0, 3.0, 4.0]
    # mmseg's label_map: keeping ('bg', 'nucleus') maps cell -> 255 (ignored), nucleus -> 1
    sub = ThreeClass(metainfo={'classes': ('bg', 'nucleus')}, **kw)
    assert dataset_class_counts(sub).tolist() == [3.0, 4.0]
    # reduce_zero_label: 0 ignored, 1 -> 0, 2 -> 1 (then 3 classes wanted: last one empty)
    rz = ThreeClass(reduce_zero_label=True, **kw)
    assert dataset_class_counts(rz).tolist() == [3.0, 4.0, 0.0]


def test_ann_file_counts(tmp_path):
    ann = tmp_path / 'train.txt'
    ann.write_text('a/1.png 0\nb/2 with space.png 2\n\nc/3.png 2\n')
    assert ann_file_class_counts(str(ann)).tolist() == [1.0, 0.0, 2.0]
    assert ann_file_class_counts(str(ann), num_classes=4).tolist() == [1.0, 0.0, 2.0, 0.0]
    ann.write_text('a/1.png zero\n')
    with pytest.raises(ValueError, match='line 1'):
        ann_file_class_counts(str(ann))


def test_iter_base_datasets_of_concat(toys):
    base = toys.ClsDataset(toys.labels)
    ds = ConcatDataset([base, toys.ClsDataset([1])])
    assert [len(d) for d, _ in iter_base_datasets(ds)] == [12, 1]


# --------------------------------------------------------------------- metric push
def test_counts_pushed_to_long_tail_metric(make_runner, toys):
    model = toys.Model()
    runner = make_runner(
        model=model, custom_hooks=[{'type': 'ClassCountsHook'}],
        train_cfg={'by_epoch': True, 'max_epochs': 1, 'val_interval': 1},
        val_dataloader={'dataset': toys.ClsDataset(toys.labels), 'batch_size': 4, 'num_workers': 0,
                            'sampler': {'type': 'DefaultSampler', 'shuffle': False}},
        val_cfg={}, val_evaluator={'type': 'LongTailMetric', 'shot_thresholds': (5, 2)})
    runner.train()
    metric = runner.val_evaluator.metrics[0]
    assert isinstance(metric, LongTailMetric)
    assert metric.class_counts.tolist() == toys.counts
    results = runner.val_loop.run()
    for key in ('many', 'medium', 'few'):
        assert f'longtail/{key}_shot_acc' in results


# ---------------------------------------------------------------- two-process gloo
def _dist_worker(rank, pg_file, out_file, toys, rank0_countable):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{pg_file}', rank=rank, world_size=2)
    try:
        model = toys.Model()
        # only rank 0 reads the dataset: rank 1's could not even be counted
        countable = rank == 0 and rank0_countable
        dataset = toys.ClsDataset(toys.labels) if countable else object()
        try:
            ClassCountsHook().before_train(_fake_runner(model, dataset))
            result = model.loss_module.cls_num.tolist()
        except RuntimeError as e:
            result = f'error: {e}'
        with open(out_file, 'w') as f:
            f.write(repr(result))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize('rank0_countable', [True, False])
def test_counts_broadcast_from_rank0(toys, tmp_path, rank0_countable):
    import multiprocessing as mp
    ctx = mp.get_context('fork')
    procs = [ctx.Process(target=_dist_worker,
                         args=(r, tmp_path / 'pg', tmp_path / f'out{r}', toys, rank0_countable))
             for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    results = [(tmp_path / f'out{r}').read_text() for r in range(2)]
    if rank0_countable:
        assert results == [repr(toys.counts)] * 2
    else:
        # rank 0 fails to count: every rank raises the same clear error instead of hanging
        assert all(r.startswith("'error: ClassCountsHook could not count") for r in results)


def test_subset_of_wrappers_counts_the_selected_samples(toys):
    a, b = toys.ClsDataset(toys.labels), toys.ClsDataset([2, 2, 1])
    # concat indices 12..14 are b's samples; 6 is a's only class-2 sample
    ds = torch.utils.data.Subset(ConcatDataset([a, b]), [6, 12, 13, 14, 0])
    assert dataset_class_counts(ds).tolist() == [1.0, 1.0, 3.0]
    # RepeatDataset index 12 + 4 = 16 is sample 4 (class 1) of the 12-sample dataset
    ds = torch.utils.data.Subset(RepeatDataset(a, times=2), [16, 18])
    assert dataset_class_counts(ds).tolist() == [0.0, 1.0, 1.0]
