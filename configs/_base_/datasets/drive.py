# DRIVE retinal vessel segmentation (background, vessel; vessels ~9 % of the pixels),
# mmseg's own dataset settings with CPU-friendly loaders and the plugin's per-class metric.
# Prepare with mmseg's converter (shipped in the mmseg wheel):
#   python .venv/lib/python3.11/site-packages/mmseg/.mim/tools/dataset_converters/drive.py \
#       training.zip test.zip -o data/DRIVE
# Layout: data/DRIVE/images/{training,validation}/*.png,
#         data/DRIVE/annotations/{training,validation}/*_manual1.png (0/1).
# Train: RepeatDataset(times=40000) + InfiniteSampler, 64x64 random crops; test at 584x565.
_base_ = ['mmseg::_base_/datasets/drive.py']

train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=1, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mDice', 'mIoU']),
    dict(type='SegPerClassMetric'),
]
test_evaluator = val_evaluator
