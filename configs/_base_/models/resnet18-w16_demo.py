# Slim ResNet-18 for the 64x64 synthetic demo set (trains from scratch on CPU in minutes).
# Widths are 1/4 of ResNet-18 (stem 16, stages 16-32-64-128 channels): the pooled feature
# has 8 * base_channels = 128 channels, which head.in_channels must match. Leaf configs
# set head.num_classes (and usually the head type and loss).
_base_ = ['mmpretrain::_base_/models/resnet18.py']

model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    head=dict(in_channels=128, topk=(1,)),
)
