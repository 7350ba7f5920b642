# mmseg's UNet-S5-D16 + FCN head with plain BatchNorm instead of SyncBN, so that the same
# config trains on one GPU, on CPU and under DDP (tools/train.py also converts SyncBN on CPU).
# Leaf configs set num_classes, the losses, data_preprocessor.size and test_cfg.
_base_ = ['mmseg::_base_/models/fcn_unet_s5-d16.py']

norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=dict(norm_cfg=norm_cfg),
    auxiliary_head=dict(norm_cfg=norm_cfg),
)
