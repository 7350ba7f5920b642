# Softmax focal loss (Lin et al., ICCV 2017);
# APTOS 2019 (5 DR grades).
# Inherits the cross-entropy baseline ../ce/resnet50_ce_1xb64-100e_aptos2019.py
# (same model, data and schedule); only the loss and hooks change (focal + deferred
# re-weighting, the recipe that beat cross-entropy on the demo set: docs/benchmarks.md).
# Train: python tools/train.py configs/classification/focal/resnet50_focal_1xb64-100e_aptos2019.py
_base_ = ['../ce/resnet50_ce_1xb64-100e_aptos2019.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

model = dict(
    head=dict(
        # _delete_ drops the base CrossEntropyLoss keys instead of merging them in
        loss=dict(_delete_=True, type='SoftmaxFocalLoss', gamma=2.0, loss_weight=1.0),
    ))
custom_hooks = [
    # training counts -> class-balanced weights for the deferred re-weighting below
    dict(type='ClassCountsHook'),
    # focal alone did not help the rare classes on the demo set (balanced accuracy at the CE
    # level); re-weighting from the first LR drop (as in LDAM-DRW) did
    dict(type='DRWHook', start=_base_.lr_milestones[0], beta=0.9999),
]
