# Baseline on the synthetic sparse-foreground demo set (background / vessel / lesion, 64x64,
# foreground < 5 % of the pixels; generate it with `python tools/make_demo_data.py --only seg`):
# slim UNet-S5-D16 (base_channels 16) + cross-entropy. Trains on CPU in a few minutes; the
# other demo configs inherit this file (schedule and data) and change only the losses.
#
# Train: python tools/train.py configs/segmentation/ce/unet-s5-d16-w16_ce_1xb8-500it_demo-seg-64x64.py
# (uses a GPU automatically when one is visible).

# ---- knobs shared by every demo segmentation config (edit here: --cfg-options only
# ---- changes the expanded keys below, e.g. train_cfg.max_iters, not these names) ----
max_iters = 500
val_interval = 250
base_lr = 0.05
batch_size = 8
aux_weight = 0.4  # auxiliary-head loss weight relative to the decode head

_base_ = [
    '../../_base_/models/unet-s5-d16-w16_bn_demo.py',
    '../../_base_/datasets/demo_seg.py',
    '../../_base_/default_runtime_seg.py',
]
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

num_classes = 3
data_preprocessor = dict(size=(64, 64))
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(
        num_classes=num_classes,
        loss_decode=[dict(type='CrossEntropyLoss', loss_name='loss_ce', loss_weight=1.0)]),
    auxiliary_head=dict(
        num_classes=num_classes,
        loss_decode=[dict(type='CrossEntropyLoss', loss_name='loss_ce', loss_weight=aux_weight)]),
    test_cfg=dict(_delete_=True, mode='whole'))

train_dataloader = dict(batch_size=batch_size)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, weight_decay=5e-4),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=25, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
