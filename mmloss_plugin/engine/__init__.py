"""Training-runtime pieces: the CPU bfloat16 optimizer wrapper and the config preparation
shared by ``tools/train.py`` and ``tools/test.py`` (see :mod:`.runtime`)."""
from .optim_wrapper import CPUBf16OptimWrapper

__all__ = ['CPUBf16OptimWrapper']
