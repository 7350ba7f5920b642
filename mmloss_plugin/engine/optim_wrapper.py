"""Mixed-precision optimizer wrapper for CPU training.

mmengine's ``AmpOptimWrapper`` refuses to run without an accelerator
(``AssertionError: ``AmpOptimizerWrapper`` is only available training on gpu, npu, mlu or
musa``). :class:`CPUBf16OptimWrapper` provides the CPU counterpart: the forward pass (data
preprocessing, model, losses) runs under ``torch.autocast('cpu', dtype=torch.bfloat16)``.
bfloat16 has float32's exponent range, so no loss scaling is needed and the backward pass and
the optimizer step are those of the plain :class:`~mmengine.optim.OptimWrapper`.

``tools/train.py --amp`` selects it automatically when no accelerator is available; it can also
be set directly in a config::

    optim_wrapper = dict(type='CPUBf16OptimWrapper', optimizer=dict(type='SGD', lr=0.01))
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

_DTYPES = {'bfloat16': torch.bfloat16}


@OPTIM_WRAPPERS.register_module()
class CPUBf16OptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose ``optim_context`` runs the forward pass in CPU bfloat16 autocast.

    Registered in mmengine's root ``OPTIM_WRAPPERS``, so ``type='CPUBf16OptimWrapper'``
    resolves under ``default_scope='mmpretrain'`` and ``'mmseg'`` alike.

    Args:
        dtype (str | torch.dtype): Autocast dtype; only ``'bfloat16'`` is supported (CPU
            autocast in float16 is slow and needs loss scaling). Default ``'bfloat16'``.
        **kwargs: Arguments of :class:`~mmengine.optim.OptimWrapper` (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', **kwargs) -> None:
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ValueError(f'CPUBf16OptimWrapper: dtype must be "bfloat16", got {dtype!r}')
            dtype = _DTYPES[dtype]
        if dtype is not torch.bfloat16:
            raise ValueError(f'CPUBf16OptimWrapper: dtype must be torch.bfloat16, got {dtype!r}')
        super().__init__(**kwargs)
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Gradient-accumulation context of ``OptimWrapper`` plus CPU bfloat16 autocast.

        Args:
            model (nn.Module): The model being trained.
        """
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            yield
