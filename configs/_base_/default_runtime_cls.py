# mmpretrain's default runtime with settings for the plugin's long-tail recipes: a fixed seed
# (methods are compared on equal footing; change with --cfg-options randomness.seed=N),
# denser logging and a bounded number of kept checkpoints.
# env_cfg.dist_cfg.backend stays 'nccl': tools/train.py switches it to gloo without a GPU.
_base_ = ['mmpretrain::_base_/default_runtime.py']

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=10, max_keep_ckpts=2),
)
randomness = dict(seed=0, deterministic=False)
