# Synapse multi-organ CT (9 classes: background + 8 organs), mmseg's own dataset settings
# with CPU-friendly loaders and the plugin's per-class metric.
# Prepare with mmseg's converter (shipped in the mmseg wheel):
#   python .venv/lib/python3.11/site-packages/mmseg/.mim/tools/dataset_converters/synapse.py \
#       --dataset-path RawData --save-path data/synapse
# Layout: data/synapse/img_dir/{train,val}/*.jpg, data/synapse/ann_dir/{train,val}/*.png.
# 224x224, RandomRotFlip; the val split doubles as the test split (as in mmseg).
_base_ = ['mmseg::_base_/datasets/synapse.py']

train_dataloader = dict(batch_size=6, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=1, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mDice', 'mIoU']),
    dict(type='SegPerClassMetric'),
]
test_evaluator = val_evaluator
