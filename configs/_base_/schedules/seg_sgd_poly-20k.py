# mmseg's 20k-iteration schedule (SGD lr 0.01, poly decay, validation and checkpoint every
# 2k iterations), keeping only the last two checkpoints.
_base_ = ['mmseg::_base_/schedules/schedule_20k.py']

default_hooks = dict(checkpoint=dict(max_keep_ckpts=2))
