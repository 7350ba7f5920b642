# Synthetic long-tailed dermoscopy-like demo set (HAM10000 classes and count profile,
# 64x64 images, ~2,000 training images, balanced val/test with 40 per class).
# Generate with: python tools/make_demo_data.py --only cls   (seconds, no download)
# Note: when overriding data_root in a child config, also override LongTailMetric's
# train_ann_file below, or set it to None and add ClassCountsHook.
dataset_type = 'CustomDataset'
data_root = 'data/demo_cls'
classes = ('MEL', 'NV', 'BCC', 'AKIEC', 'BKL', 'DF', 'VASC')
metainfo = dict(classes=classes)
img_size = 64

data_preprocessor = dict(
    num_classes=len(classes),
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]

# num_workers=0: decoding 64x64 PNGs is cheaper than worker processes on a small CPU.
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='',
        metainfo=metainfo,
        pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='',
        metainfo=metainfo,
        pipeline=test_pipeline),
)
test_dataloader = dict(
    batch_size=128,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/test.txt',
        data_prefix='',
        metainfo=metainfo,
        pipeline=test_pipeline),
)

# Default counts NV 1340, MEL 222, BKL 220, BCC 103, AKIEC 65, VASC 28, DF 23:
# many > 200 (NV, MEL, BKL), medium 40-200 (BCC, AKIEC), few < 40 (VASC, DF).
val_evaluator = [
    dict(type='Accuracy', topk=(1,)),
    dict(type='LongTailMetric', shot_thresholds=(200, 40),
         train_ann_file=data_root + '/meta/train.txt'),
]
test_evaluator = val_evaluator
