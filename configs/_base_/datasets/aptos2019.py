# APTOS 2019 diabetic-retinopathy grading: 5 classes (grades 0-4), imbalance ratio ~9.
# Prepare with: python tools/dataset_converters/aptos2019.py SRC -o data/aptos2019
# (stratified train/val/test split of train.csv; layout data_root/images/*.png,
# data_root/meta/{train,val,test}.txt).
# Note: when overriding data_root in a child config, also override LongTailMetric's
# train_ann_file below, or set it to None and add ClassCountsHook.
dataset_type = 'CustomDataset'
data_root = 'data/aptos2019'
classes = ('NoDR', 'Mild', 'Moderate', 'Severe', 'Proliferative')
metainfo = dict(classes=classes)
img_size = 224

data_preprocessor = dict(
    num_classes=len(classes),
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.7, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='ColorJitter', brightness=0.2, contrast=0.2),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=img_size, edge='short'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
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
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
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
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/test.txt',
        data_prefix='',
        metainfo=metainfo,
        pipeline=test_pipeline),
)

# Many / medium / few shot (70 % training split): > 500 (NoDR, Moderate),
# 200-500 (Mild, Proliferative), < 200 (Severe).
val_evaluator = [
    dict(type='Accuracy', topk=(1,)),
    dict(type='LongTailMetric', shot_thresholds=(500, 200),
         train_ann_file=data_root + '/meta/train.txt'),
]
test_evaluator = val_evaluator
