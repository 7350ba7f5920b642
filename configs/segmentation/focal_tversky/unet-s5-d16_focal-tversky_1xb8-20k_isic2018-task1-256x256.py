# Focal Tversky loss (Abraham & Khan, ISBI 2019), ISIC 2018 Task 1.
# Inherits the cross-entropy baseline ../ce/unet-s5-d16_ce_1xb8-20k_isic2018-task1-256x256.py
# (same model, data and schedule); only the losses change.
# alpha weights false positives, beta false negatives (0.3/0.7 favours
# recall of thin/small structures); gamma is the exponent (0.75 = the
# paper's gamma 4/3).
# Train: python tools/train.py configs/segmentation/focal_tversky/unet-s5-d16_focal-tversky_1xb8-20k_isic2018-task1-256x256.py
_base_ = ['../ce/unet-s5-d16_ce_1xb8-20k_isic2018-task1-256x256.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

model = dict(
    decode_head=dict(loss_decode=[
        dict(type='FocalTverskyLoss', alpha=0.3, beta=0.7, gamma=0.75, include_background=False,
             loss_name='loss_focal_tversky', loss_weight=1.0),
    ]),
    auxiliary_head=dict(loss_decode=[
        dict(type='FocalTverskyLoss', alpha=0.3, beta=0.7, gamma=0.75, include_background=False,
             loss_name='loss_focal_tversky', loss_weight=_base_.aux_weight),
    ]),
)
