# mmseg's default runtime with a fixed seed (methods are compared on equal footing; change
# with --cfg-options randomness.seed=N). Checkpoint/logging hooks come with the schedules.
# env_cfg.dist_cfg.backend stays 'nccl': tools/train.py switches it to gloo without a GPU.
_base_ = ['mmseg::_base_/default_runtime.py']

randomness = dict(seed=0, deterministic=False)
