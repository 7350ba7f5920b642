# LDAM-DRW (Cao et al., NeurIPS 2019): label-distribution-aware margins on a
# cosine classifier + deferred re-weighting;
# synthetic long-tailed demo set (7 classes, 64x64).
# Inherits the cross-entropy baseline ../ce/resnet18-w16_ce_1xb64-30e_demo-cls.py
# (same model, data and schedule); only the head, loss and hooks change.
# Train: python tools/train.py configs/classification/ldam_drw/resnet18-w16_ldam-drw_1xb64-30e_demo-cls.py
_base_ = ['../ce/resnet18-w16_ce_1xb64-30e_demo-cls.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

# Deferred re-weighting starts at the first LR drop, as in the paper (epoch 160 of 200).
drw_start = _base_.lr_milestones[0]

model = dict(
    head=dict(
        # cosine classifier: keep scale=1, LDAMLoss applies its own s to the margin logits
        type='NormedLinearClsHead',
        loss=dict(_delete_=True, type='LDAMLoss', max_m=0.5, s=30.0, loss_weight=1.0),
    ))
custom_hooks = [
    # per-class training counts -> LDAM margins (and DRW weights), read from the train set
    dict(type='ClassCountsHook'),
    # class-balanced weights (effective number, beta=0.9999) from epoch `drw_start` on
    dict(type='DRWHook', start=drw_start, beta=0.9999),
]
