# Logit-adjusted cross-entropy (Menon et al., ICLR 2021);
# APTOS 2019 (5 DR grades).
# Inherits the cross-entropy baseline ../ce/resnet50_ce_1xb64-100e_aptos2019.py
# (same model, data and schedule); only the loss and hooks change.
# Train: python tools/train.py configs/classification/logit_adjustment/resnet50_logit-adj_1xb64-100e_aptos2019.py
_base_ = ['../ce/resnet50_ce_1xb64-100e_aptos2019.py']
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
