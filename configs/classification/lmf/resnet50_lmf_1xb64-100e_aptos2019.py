# LMF loss (Sadi et al., arXiv 2212.12741): focal + LDAM on a cosine classifier;
# APTOS 2019 (5 DR grades).
# Inherits the cross-entropy baseline ../ce/resnet50_ce_1xb64-100e_aptos2019.py
# (same model, data and schedule); only the head, loss and hooks change.
# Train: python tools/train.py configs/classification/lmf/resnet50_lmf_1xb64-100e_aptos2019.py
_base_ = ['../ce/resnet50_ce_1xb64-100e_aptos2019.py']
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
    # deferred re-weighting from the first LR drop (as in LDAM-DRW): without it LMF did not
    # beat cross-entropy on the demo set (docs/benchmarks.md)
    dict(type='DRWHook', start=_base_.lr_milestones[0], beta=0.9999),
]
