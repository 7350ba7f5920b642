# LMF loss (Sadi et al., arXiv 2212.12741): focal + LDAM on a cosine classifier;
# synthetic long-tailed demo set (7 classes, 64x64).
# Inherits the cross-entropy baseline ../ce/resnet18-w16_ce_1xb64-30e_demo-cls.py
# (same model, data and schedule); only the head, loss and hooks change.
# Train: python tools/train.py configs/classification/lmf/resnet18-w16_lmf_1xb64-30e_demo-cls.py
_base_ = ['../ce/resnet18-w16_ce_1xb64-30e_demo-cls.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

model = dict(
    head=dict(
        # cosine classifier: keep scale=1, LMFLoss applies its own s to the margin logits
        type='NormedLinearClsHead',
        # alpha * focal(gamma) + beta * LDAM(max_m, s)
        loss=dict(_delete_=True, type='LMFLoss', alpha=1.0, beta=1.0, gamma=2.0, max_m=0.5,
                  s=30.0, loss_weight=1.0),
    ))
custom_hooks = [
    # per-class training counts -> LDAM margins, read from the training set
    dict(type='ClassCountsHook'),
    # deferred re-weighting from the first LR drop (as in LDAM-DRW): without it LMF does not
    # beat cross-entropy here (the rarest class stays at ~20 % recall)
    dict(type='DRWHook', start=_base_.lr_milestones[0], beta=0.9999),
]
