# Kvasir-SEG polyp segmentation: binary (background, polyp).
# Prepare with: python tools/dataset_converters/kvasir_seg.py SRC -o data/kvasir_seg
# (seeded 80/10/10 split; layout: data_root/img_dir/{train,val,test}/*.jpg,
# data_root/ann_dir/.../*.png with 0/1; JPEG masks thresholded at 128).
dataset_type = 'BaseSegDataset'
data_root = 'data/kvasir_seg'
metainfo = dict(classes=('background', 'polyp'), palette=[[0, 0, 0], [255, 255, 255]])
img_scale = (256, 256)
crop_size = img_scale  # for the model's SegDataPreProcessor(size=crop_size)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
# Annotations are loaded after Resize: metrics are computed at the original resolution.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.jpg',
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
