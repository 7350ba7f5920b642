"""Build-time checks of the plugin losses against the heads that own them.

A loss config alone does not know the head's number of classes, and mmseg's decode head
passes its own ``ignore_index`` to the loss at every forward. :func:`check_model_losses`
compares both once the whole model is built, so a wrong-length ``cls_num_list`` /
``class_weight`` or an ``ignore_index`` that is a real class fails before any data is loaded,
with a message naming the key. ``tools/train.py`` calls it right after building the runner;
``NormedLinearClsHead`` and other code that builds a model can call it too.
"""
from __future__ import annotations

from typing import List, Tuple

import torch.nn as nn

from .utils import BaseLoss

__all__ = ['find_loss_heads', 'check_model_losses']


def _num_classes(module: nn.Module):
    value = getattr(module, 'num_classes', None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def find_loss_heads(model: nn.Module) -> List[Tuple[str, BaseLoss, str, nn.Module]]:
    """``(loss name, loss, head name, head)`` for every plugin loss below a head.

    The head of a loss is its nearest ancestor module with an int ``num_classes`` (mmpretrain
    classification heads, mmseg decode and auxiliary heads, the model itself). Losses inside
    a :class:`~mmloss_plugin.losses.CompoundLoss` belong to the compound's head. Model
    wrappers (DDP) are unwrapped.
    """
    from mmengine.model import is_model_wrapper
    if is_model_wrapper(model):
        model = model.module
    modules = dict(model.named_modules())
    found = []
    for name, loss in modules.items():
        if not isinstance(loss, BaseLoss):
            continue
        parts = name.split('.') if name else []
        for i in range(len(parts), -1, -1):
            head_name = '.'.join(parts[:i])
            ancestor = modules[head_name]
            if not isinstance(ancestor, BaseLoss) and _num_classes(ancestor) is not None:
                found.append((name, loss, head_name or type(model).__name__, ancestor))
                break
    return found


def check_model_losses(model: nn.Module) -> int:
    """Check every plugin loss against its head (see :meth:`BaseLoss.check_head`).

    * per-class tensors (``cls_num_list``, a ``class_weight`` list) must have
      ``head.num_classes`` entries (or ``head.out_channels`` for mmseg's one-channel binary
      heads);
    * mmseg decode heads pass ``head.ignore_index`` to the loss: it must not be a real class;
      for other heads the loss's own ``ignore_index`` is checked.

    Args:
        model (nn.Module): A built model (possibly DDP-wrapped).

    Returns:
        int: The number of losses checked.

    Raises:
        ValueError: naming the loss, the head and the key.
    """
    found = find_loss_heads(model)
    for name, loss, head_name, head in found:
        out_channels = getattr(head, 'out_channels', None)
        if not isinstance(out_channels, int) or isinstance(out_channels, bool):
            out_channels = None
        ignore = head.ignore_index if hasattr(head, 'ignore_index') else 'own'
        try:
            loss.check_head(_num_classes(head), out_channels, ignore, head=head_name)
        except ValueError as e:
            raise ValueError(f'{name}: {e}') from None
    return len(found)
