# ResNet-50 classifier (mmpretrain's base) initialised from OpenMMLab's ImageNet-1k checkpoint.
# The checkpoint is downloaded on first use (~100 MB, cached under ~/.cache/torch).
# - Offline / local copy: --cfg-options model.backbone.init_cfg.checkpoint=/path/resnet50.pth
# - Train from scratch:   --cfg-options model.backbone.init_cfg=None
# Leaf configs set head.num_classes (and usually the head type and loss).
_base_ = ['mmpretrain::_base_/models/resnet50.py']

pretrained_checkpoint = ('https://download.openmmlab.com/mmclassification/v0/resnet/'
                         'resnet50_8xb32_in1k_20210831-ea4938fc.pth')
model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_checkpoint, prefix='backbone')),
    # top-5 accuracy is meaningless (or fails) with 5-7 classes
    head=dict(topk=(1,)),
)
