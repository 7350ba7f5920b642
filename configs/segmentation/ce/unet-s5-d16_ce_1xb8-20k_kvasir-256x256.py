# Baseline: UNet-S5-D16 + FCN head (mmseg) with cross-entropy on
# Kvasir-SEG polyps (2 classes; images resized to 256x256).
# The other segmentation methods inherit this file and change only the losses.
#
# Train: python tools/train.py configs/segmentation/ce/unet-s5-d16_ce_1xb8-20k_kvasir-256x256.py
# Runs on a GPU when one is visible, else on CPU (slow); BatchNorm instead of SyncBN, so one
# GPU, CPU and tools/dist_train.sh CONFIG N all work (batch 8 per GPU). More loader workers:
# --cfg-options train_dataloader.num_workers=8; --amp for mixed precision.
_base_ = [
    '../../_base_/models/unet-s5-d16_bn.py',
    '../../_base_/datasets/kvasir_seg.py',
    '../../_base_/default_runtime_seg.py',
    '../../_base_/schedules/seg_sgd_poly-20k.py',
]
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)

num_classes = 2
crop_size = (256, 256)
aux_weight = 0.4  # auxiliary-head loss weight relative to the decode head
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(
        num_classes=num_classes,
        loss_decode=[dict(type='CrossEntropyLoss', loss_name='loss_ce', loss_weight=1.0)]),
    auxiliary_head=dict(
        num_classes=num_classes,
        loss_decode=[dict(type='CrossEntropyLoss', loss_name='loss_ce', loss_weight=aux_weight)]),
    test_cfg=dict(_delete_=True, mode='whole'))
