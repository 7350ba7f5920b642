# Synthetic sparse-foreground demo set: thin vessel-like curves (class 1) and small round
# lesions (class 2) on a textured background, 64x64, foreground < 5 % of the pixels.
# Generate with: python tools/make_demo_data.py --only seg   (seconds, no download)
# Binary variant (vessel and lesion merged into class 1): set
# seg_map_path='ann_dir_binary/<split>' and metainfo classes ('background', 'foreground').
dataset_type = 'BaseSegDataset'
data_root = 'data/demo_seg'
metainfo = dict(
    classes=('background', 'vessel', 'lesion'),
    palette=[[0, 0, 0], [255, 64, 64], [64, 255, 64]])
img_scale = (64, 64)
crop_size = img_scale  # for the model's SegDataPreProcessor(size=crop_size)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]

# num_workers=0: decoding 64x64 PNGs is cheaper than worker processes on a small CPU.
# All images have the same size, so validation/testing can batch them (8 per batch).
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.png',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.png',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline),
)
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.png',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        data_prefix=dict(img_path='img_dir/test', seg_map_path='ann_dir/test'),
        pipeline=test_pipeline),
)

val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mDice', 'mIoU']),
    dict(type='SegPerClassMetric'),
]
test_evaluator = val_evaluator
