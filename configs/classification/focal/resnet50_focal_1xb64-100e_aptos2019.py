# Softmax focal loss (Lin et al., ICCV 2017);
# APTOS 2019 (5 DR grades).
# Inherits the cross-entropy baseline ../ce/resnet50_ce_1xb64-100e_aptos2019.py
# (same model, data and schedule); only the loss change.
# Train: python tools/train.py configs/classification/focal/resnet50_focal_1xb64-100e_aptos2019.py
_base_ = ['../ce/resnet50_ce_1xb64-100e_aptos2019.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

model = dict(
    head=dict(
        # _delete_ drops the base CrossEntropyLoss keys instead of merging them in
        loss=dict(_delete_=True, type='SoftmaxFocalLoss', gamma=2.0, loss_weight=1.0),
    ))
