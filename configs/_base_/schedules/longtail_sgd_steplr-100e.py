# Fine-tuning schedule of the long-tail classification recipes (ISIC 2018, APTOS 2019): SGD
# with momentum, 5-epoch linear warm-up, LR x0.1 at epochs 80 and 90 (the LDAM-DRW recipe,
# 160/180 of 200 epochs, scaled to 100). The DRW configs start re-weighting at the first drop
# (they read `lr_milestones`). lr=0.01 is for batch 64; with several GPUs use
# --auto-scale-lr (base batch 64) or scale it yourself.
max_epochs = 100
lr_milestones = [80, 90]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=lr_milestones, gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
