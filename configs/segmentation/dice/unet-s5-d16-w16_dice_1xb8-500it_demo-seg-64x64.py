# Soft Dice loss (Milletari et al., 3DV 2016), synthetic demo.
# Inherits the cross-entropy baseline ../ce/unet-s5-d16-w16_ce_1xb8-500it_demo-seg-64x64.py
# (same model, data and schedule); only the losses change.
# Per image and class, over the foreground classes (include_background=False).
# Train: python tools/train.py configs/segmentation/dice/unet-s5-d16-w16_dice_1xb8-500it_demo-seg-64x64.py
_base_ = ['../ce/unet-s5-d16-w16_ce_1xb8-500it_demo-seg-64x64.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

# include_background=False: with the background in, the small lesion class was not learned
# in most seeds (see this folder's README.md).
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='SoftDiceLoss', include_background=False, loss_name='loss_dice',
             loss_weight=1.0),
    ]),
    auxiliary_head=dict(loss_decode=[
        dict(type='SoftDiceLoss', include_background=False, loss_name='loss_dice',
             loss_weight=_base_.aux_weight),
    ]),
)
