# Logit-adjusted cross-entropy (Menon et al., ICLR 2021);
# synthetic long-tailed demo set (7 classes, 64x64).
# Inherits the cross-entropy baseline ../ce/resnet18-w16_ce_1xb64-30e_demo-cls.py
# (same model, data and schedule); only the loss and hooks change.
# Train: python tools/train.py configs/classification/logit_adjustment/resnet18-w16_logit-adj_1xb64-30e_demo-cls.py
_base_ = ['../ce/resnet18-w16_ce_1xb64-30e_demo-cls.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

model = dict(
    head=dict(
        # softmax(logits + tau * log prior); plain linear head, predictions use raw logits
        loss=dict(_delete_=True, type='LogitAdjustedLoss', tau=1.0, loss_weight=1.0),
    ))
custom_hooks = [
    # per-class training counts -> class prior, read from the training set
    dict(type='ClassCountsHook'),
]
