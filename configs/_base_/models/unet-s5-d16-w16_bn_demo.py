# Slim UNet-S5-D16 (base_channels 16 instead of 64) with BatchNorm, for the 64x64 synthetic
# demo set on CPU. The decode head reads the last decoder stage (base_channels channels), the
# auxiliary head the one before (2 * base_channels).
_base_ = ['./unet-s5-d16_bn.py']

model = dict(
    backbone=dict(base_channels=16),
    decode_head=dict(in_channels=16, channels=16),
    auxiliary_head=dict(in_channels=32, channels=16),
)
