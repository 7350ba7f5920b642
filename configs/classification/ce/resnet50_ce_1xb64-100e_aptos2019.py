# Baseline: ImageNet-pretrained ResNet-50 + softmax cross-entropy on
# APTOS 2019 diabetic-retinopathy grading (5 classes, imbalance ratio ~9).
# The other classification methods inherit this file and change only the head/loss/hooks.
#
# Train: python tools/train.py configs/classification/ce/resnet50_ce_1xb64-100e_aptos2019.py
# Runs on a GPU when one is visible, else on CPU (slow at 224x224); more loader workers:
# --cfg-options train_dataloader.num_workers=8 val_dataloader.num_workers=8; --amp for mixed
# precision; tools/dist_train.sh CONFIG N for N GPUs (batch 64 per GPU, add --auto-scale-lr).
# Backbone: OpenMMLab ImageNet-1k weights; local copy:
# --cfg-options model.backbone.init_cfg.checkpoint=/path/resnet50.pth; from scratch:
# --cfg-options model.backbone.init_cfg=None
_base_ = [
    '../../_base_/models/resnet50_in1k-pretrained.py',
    '../../_base_/datasets/aptos2019.py',
    '../../_base_/schedules/longtail_sgd_steplr-100e.py',
    '../../_base_/default_runtime_cls.py',
]
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

model = dict(
    head=dict(
        num_classes=5,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
