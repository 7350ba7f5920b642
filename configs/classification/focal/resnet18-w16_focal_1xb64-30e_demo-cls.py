# Softmax focal loss (Lin et al., ICCV 2017);
# synthetic long-tailed demo set (7 classes, 64x64).
# Inherits the cross-entropy baseline ../ce/resnet18-w16_ce_1xb64-30e_demo-cls.py
# (same model, data and schedule); only the loss and hooks change (focal + deferred
# re-weighting).
# Train: python tools/train.py configs/classification/focal/resnet18-w16_focal_1xb64-30e_demo-cls.py
_base_ = ['../ce/resnet18-w16_ce_1xb64-30e_demo-cls.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

model = dict(
    head=dict(
        # _delete_ drops the base CrossEntropyLoss keys instead of merging them in
        # gamma=1, not the paper's 2: with 2 the recipe tied cross-entropy on a replicate of
        # the demo set; 1 scored +1.0 on both replicates and +0.1 on the reported set
        # (docs/benchmarks.md, "Focal recipe"). The ISIC / APTOS configs keep gamma=2.
        loss=dict(_delete_=True, type='SoftmaxFocalLoss', gamma=1.0, loss_weight=1.0),
    ))
custom_hooks = [
    # training counts -> class-balanced weights for the deferred re-weighting below
    dict(type='ClassCountsHook'),
    # focal alone does not help the rare classes here (balanced accuracy at the CE level);
    # re-weighting from the first LR drop (as in LDAM-DRW) does
    dict(type='DRWHook', start=_base_.lr_milestones[0], beta=0.9999),
]
