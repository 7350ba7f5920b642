# Focal Tversky loss (Abraham & Khan, ISBI 2019), synthetic demo.
# Inherits the cross-entropy baseline ../ce/unet-s5-d16-w16_ce_1xb8-500it_demo-seg-64x64.py
# (same model, data and schedule); only the losses change.
# alpha weights false positives, beta false negatives (0.3/0.7 favours
# recall of thin/small structures); gamma is the exponent (0.75 = the
# paper's gamma 4/3).
# Train: python tools/train.py configs/segmentation/focal_tversky/unet-s5-d16-w16_focal-tversky_1xb8-500it_demo-seg-64x64.py
_base_ = ['../ce/unet-s5-d16-w16_ce_1xb8-500it_demo-seg-64x64.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

# include_background=False: with the background in, the small lesion class was not learned
# in most seeds (see this folder's README.md).
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
