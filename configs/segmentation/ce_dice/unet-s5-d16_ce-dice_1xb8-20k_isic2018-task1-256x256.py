# Cross-entropy + soft Dice (1:1), ISIC 2018 Task 1.
# Inherits the cross-entropy baseline ../ce/unet-s5-d16_ce_1xb8-20k_isic2018-task1-256x256.py
# (same model, data and schedule); only the losses change.
# Sum of the two losses (nnU-Net style, equal weights; mmseg's own DRIVE
# recipe uses CE 1 + Dice 3). Dice per image over the foreground classes.
# Train: python tools/train.py configs/segmentation/ce_dice/unet-s5-d16_ce-dice_1xb8-20k_isic2018-task1-256x256.py
_base_ = ['../ce/unet-s5-d16_ce_1xb8-20k_isic2018-task1-256x256.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', loss_name='loss_ce', loss_weight=1.0),
        dict(type='SoftDiceLoss', include_background=False, loss_name='loss_dice',
             loss_weight=1.0),
    ]),
    auxiliary_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', loss_name='loss_ce', loss_weight=_base_.aux_weight),
        dict(type='SoftDiceLoss', include_background=False, loss_name='loss_dice',
             loss_weight=_base_.aux_weight),
    ]),
)
