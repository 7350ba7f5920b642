# mmseg's 40k-iteration schedule (SGD lr 0.01, poly decay, validation and checkpoint every
# 4k iterations; used by mmseg's UNet DRIVE configs), keeping only the last two checkpoints.
_base_ = ['mmseg::_base_/schedules/schedule_40k.py']

default_hooks = dict(checkpoint=dict(max_keep_ckpts=2))
