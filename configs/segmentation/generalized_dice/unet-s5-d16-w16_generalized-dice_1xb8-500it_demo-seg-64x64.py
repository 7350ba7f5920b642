# Generalized Dice loss (Sudre et al., DLMIA 2017), synthetic demo.
# Inherits the cross-entropy baseline ../ce/unet-s5-d16-w16_ce_1xb8-500it_demo-seg-64x64.py
# (same model, data and schedule); only the losses change.
# Class weights 1 / (sum of ground truth)^2 per image, so small organs
# / structures count as much as large ones. Multi-class datasets only.
# Train: python tools/train.py configs/segmentation/generalized_dice/unet-s5-d16-w16_generalized-dice_1xb8-500it_demo-seg-64x64.py
_base_ = ['../ce/unet-s5-d16-w16_ce_1xb8-500it_demo-seg-64x64.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

model = dict(
    decode_head=dict(loss_decode=[
        dict(type='GeneralizedDiceLoss', weight_type='square',
             loss_name='loss_generalized_dice', loss_weight=1.0),
    ]),
    auxiliary_head=dict(loss_decode=[
        dict(type='GeneralizedDiceLoss', weight_type='square',
             loss_name='loss_generalized_dice', loss_weight=_base_.aux_weight),
    ]),
)
