# ISIC 2018 Task 3 / HAM10000 skin-lesion diagnosis: 7 classes, imbalance ratio ~58.
# Prepare with: python tools/dataset_converters/isic2018_task3.py SRC -o data/isic2018_task3
# (layout: data_root/{train,val,test}/*.jpg, data_root/meta/{train,val,test}.txt).
# Note: when overriding data_root in a child config, also override the ann-file path of
# LongTailMetric (train_ann_file) below, or set it to None and add ClassCountsHook.
dataset_type = 'CustomDataset'
data_root = 'data/isic2018_task3'
classes = ('MEL', 'NV', 'BCC', 'AKIEC', 'BKL', 'DF', 'VASC')
metainfo = dict(classes=classes)
img_size = 224

data_preprocessor = dict(
    num_classes=len(classes),
    # ImageNet statistics (for ImageNet-pretrained backbones)
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='ColorJitter', brightness=0.2, contrast=0.2, saturation=0.2),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
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

# Many / medium / few shot: > 1000 (NV, MEL, BKL), 200-1000 (BCC, AKIEC), < 200 (DF, VASC).
val_evaluator = [
    dict(type='Accuracy', topk=(1,)),
    dict(type='LongTailMetric', shot_thresholds=(1000, 200),
         train_ann_file=data_root + '/meta/train.txt'),
]
test_evaluator = val_evaluator
