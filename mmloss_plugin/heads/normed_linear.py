"""NormedLinearClsHead: mmpretrain classification head with a cosine classifier.

Imported only when mmpretrain is installed (see ``mmloss_plugin/heads/__init__.py``).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models.heads import ClsHead

from ..losses.model_checks import check_model_losses
from ..losses.utils import check_positive
from ..registry import register_cls_model
from .cosine import NormedLinear

__all__ = ['NormedLinearClsHead']


@register_cls_model
class NormedLinearClsHead(ClsHead):
    r"""Cosine classifier head: ``logits = scale * normalize(f) @ normalize(W).T``.

    ``W`` is a (num_classes, in_channels) parameter without bias, so with ``scale=1`` the
    logits are cosine similarities in [-1, 1] — the normalised last layer LDAM was designed
    for (Cao et al., NeurIPS 2019).

    Which scale for which loss:

    * ``LDAMLoss`` / ``LMFLoss`` (default ``s=30``): keep ``scale=1``. The head then calls
      ``mark_cosine_logits()`` on its loss (and every submodule that has it), and the loss
      applies its own ``s`` to the margin-adjusted cosines, ``s * (cos - Δ_y)``, as in the
      paper. (With ``scale != 1`` the loss sees already scaled logits and treats them as raw,
      so the margins would act on ``scale * cos``.)
    * Losses without a scale of their own (``WeightedCrossEntropyLoss``,
      ``SoftmaxFocalLoss``, ``LogitAdjustedLoss``, mmpretrain's ``CrossEntropyLoss``): set
      ``scale`` to a temperature, typically 16-30; with ``scale=1`` softmax over cosines
      can never become confident and these losses barely train.

    Predictions (``predict``) apply softmax to ``predict_scale * logits``. The default
    ``'auto'`` uses the ``effective_s`` of a cosine-marked loss when ``scale == 1`` (so the
    scores match the training temperature) and 1 otherwise.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Feature dimension (pooled backbone output, e.g. 512 for ResNet-18
            with ``GlobalAveragePooling``).
        scale (float): Multiplier of the cosines. Default 1.0.
        predict_scale (float | str): Temperature of the predicted scores, or ``'auto'``.
        loss (dict | nn.Module): Loss config. Default
            ``dict(type='CrossEntropyLoss', loss_weight=1.0)``.
        topk (int | tuple[int]): Top-k accuracy when ``cal_acc``. Default ``(1,)``.
        init_cfg (dict, optional): mmengine init config. ``None`` (default): random
            directions with rows of norm ~1 (std ``1/sqrt(in_channels)``); do not use tiny
            initial weights with ``s=30`` losses (see :class:`NormedLinear`).
        **kwargs: Further ``ClsHead`` arguments (``cal_acc``).

    Example:
        >>> head = dict(type='NormedLinearClsHead', num_classes=7, in_channels=512,
        ...             loss=dict(type='LDAMLoss', max_m=0.5, s=30), topk=(1,))
    """

    def __init__(self, num_classes: int, in_channels: int, scale: float = 1.0,
                 predict_scale: Union[str, float] = 'auto',
                 loss: Union[dict, nn.Module] = {'type': 'CrossEntropyLoss',  # noqa: B006
                                                 'loss_weight': 1.0},
                 topk: Union[int, Tuple[int, ...]] = (1,), init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(loss=loss, topk=topk, init_cfg=init_cfg, **kwargs)
        for name, value in (('num_classes', num_classes), ('in_channels', in_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.scale = check_positive(scale, 'scale')
        if predict_scale != 'auto':
            predict_scale = check_positive(predict_scale, 'predict_scale')
        self.predict_scale = predict_scale
        self.fc = NormedLinear(in_channels, num_classes, self.scale)
        self.cosine_losses: List[nn.Module] = []
        if self.scale == 1.0:
            for module in self.loss_module.modules():
                if callable(getattr(module, 'mark_cosine_logits', None)):
                    module.mark_cosine_logits()
                    self.cosine_losses.append(module)
        # Per-class lengths of the loss vs num_classes: fail when the head is built.
        check_model_losses(self)

    def pre_logits(self, feats: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        """The last-stage feature (mmpretrain passes a tuple of stage features)."""
        if isinstance(feats, torch.Tensor):
            return feats
        return feats[-1]

    def forward(self, feats: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        """(N, num_classes) logits in ``[-scale, scale]``."""
        return self.fc(self.pre_logits(feats))

    def resolved_predict_scale(self) -> float:
        """The temperature ``predict`` multiplies the logits by."""
        if self.predict_scale != 'auto':
            return float(self.predict_scale)
        scales = [float(getattr(m, 'effective_s', 1.0)) for m in self.cosine_losses]
        return max(scales) if scales else 1.0

    def predict(self, feats, data_samples=None):
        """Softmax scores of ``resolved_predict_scale() * logits`` and the arg-max label."""
        cls_score = self(feats) * self.resolved_predict_scale()
        return self._get_predictions(cls_score, data_samples)
