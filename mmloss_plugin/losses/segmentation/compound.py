r"""Compound loss: a weighted sum of losses under a single ``loss_decode`` entry.

.. math::

    \mathcal{L} = \lambda \sum_i w_i\, \mathcal{L}_i(\text{pred}, \text{target})

with :math:`\lambda` = ``loss_weight`` and each :math:`\mathcal{L}_i` built from its config
through the MMEngine ``MODELS`` registry (plugin losses and the toolbox's own, e.g. mmseg's
``CrossEntropyLoss``), keeping its own ``loss_weight``. Compounds such as Dice + CE are the
most robust choice across medical segmentation tasks (Ma et al., "Loss odyssey in medical
image segmentation", MedIA 2021). mmseg's ``loss_decode=[...]`` list does the same but logs
each term; this module logs one key.
"""
from __future__ import annotations

import contextlib
from typing import Any, List, Optional, Sequence, Union

import torch
import torch.nn as nn

from ...registry import register_loss
from ..utils import BaseLoss, check_non_negative, pred_checked

__all__ = ['build_loss', 'CompoundLoss']


def build_loss(cfg: Union[dict, nn.Module]) -> nn.Module:
    """Build a loss from a config dict through MMEngine's ``MODELS``.

    Inside a runner the current default scope (e.g. ``'mmseg'``) picks the toolbox registry.
    Without one, types registered in the root registry (every plugin loss) are built there,
    and other names (e.g. ``'CrossEntropyLoss'``) in mmseg's registry when it is installed.
    """
    if isinstance(cfg, nn.Module):
        return cfg
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'each entry of losses must be a config dict with a "type" key or a '
                        f'built nn.Module, got {cfg!r}')
    from mmengine.registry import MODELS, DefaultScope
    registry = MODELS
    loss_type = cfg['type']
    if DefaultScope.get_current_instance() is None and isinstance(loss_type, str) \
            and loss_type not in MODELS.module_dict:
        with contextlib.suppress(ImportError):
            from mmseg.registry import MODELS as registry  # noqa: N811
    return registry.build(dict(cfg))


@register_loss
class CompoundLoss(BaseLoss):
    """Weighted sum of losses, forwarding ``weight``, ``ignore_index`` and ``avg_factor``.

    Args:
        losses (list[dict | nn.Module]): Loss configs, e.g.
            ``[dict(type='SoftDiceLoss'), dict(type='CrossEntropyLoss')]``.
        weights (list[float], optional): One non-negative weight per loss. Default all 1.
        loss_weight (float): Multiplier of the sum. Default 1.0.
        loss_name (str): Default ``'loss_compound'``.
    """

    def __init__(self, losses: Sequence[Union[dict, nn.Module]],
                 weights: Optional[Sequence[float]] = None, loss_weight: float = 1.0,
                 loss_name: str = 'loss_compound') -> None:
        super().__init__(reduction='mean', loss_weight=loss_weight, loss_name=loss_name)
        if isinstance(losses, (dict, nn.Module)) or not isinstance(losses, (list, tuple)) \
                or len(losses) == 0:
            raise TypeError(f'losses must be a non-empty list of loss configs, got {losses!r}')
        self.losses = nn.ModuleList([build_loss(cfg) for cfg in losses])
        if weights is None:
            weights = [1.0] * len(self.losses)
        if not isinstance(weights, (list, tuple)) or len(weights) != len(self.losses):
            raise ValueError(f'weights must be a list with one weight per loss '
                             f'({len(self.losses)}), got {weights!r}')
        self.weights: List[float] = [check_non_negative(w, f'weights[{i}]')
                                     for i, w in enumerate(weights)]

    def extra_repr(self) -> str:
        return f'weights={self.weights}, loss_weight={self.loss_weight}, ' \
               f'loss_name={self.loss_name!r}'

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                weight: Optional[torch.Tensor] = None, avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None, ignore_index: Optional[int] = None,
                **kwargs: Any) -> torch.Tensor:
        """Sum the weighted sub-losses.

        Args:
            pred (Tensor): Logits, e.g. (N, C, \\*spatial).
            target (Tensor): Targets, e.g. (N, \\*spatial) labels.
            weight (Tensor, optional): Forwarded to every sub-loss.
            avg_factor (float, optional): Forwarded when given.
            reduction_override (str, optional): Forwarded when given; the sub-losses must then
                return tensors of the same shape.
            ignore_index (int, optional): Forwarded when given (mmseg's decode head passes it).

        Returns:
            Tensor: The weighted sum.
        """
        extra = dict(kwargs)
        for key, value in (('avg_factor', avg_factor), ('reduction_override', reduction_override),
                           ('ignore_index', ignore_index)):
            if value is not None:
                extra[key] = value
        total = None
        for w, loss_fn in zip(self.weights, self.losses):
            with pred_checked(pred):  # this module's pre-hook has checked it: once is enough
                value = loss_fn(pred, target, weight=weight, **extra)
            if not torch.is_tensor(value):
                raise TypeError(f'CompoundLoss: {type(loss_fn).__name__} returned '
                                f'{type(value).__name__}, expected a tensor')
            value = w * value
            if total is not None and value.shape != total.shape:
                raise ValueError(f'CompoundLoss: {type(loss_fn).__name__} returned shape '
                                 f'{tuple(value.shape)}, others {tuple(total.shape)}; use '
                                 'scalar (reduced) losses')
            total = value if total is None else total + value
        return self.loss_weight * total
