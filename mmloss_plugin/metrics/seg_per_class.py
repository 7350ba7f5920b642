r"""Per-class segmentation metrics accumulated over a dataset: Dice, IoU, recall.

With :math:`I_c` (pixels predicted *and* labelled c), :math:`P_c` (predicted c) and
:math:`L_c` (labelled c) summed over every image of the evaluation set:

.. math::

    \mathrm{Dice}_c = \frac{2 I_c}{P_c + L_c}, \quad
    \mathrm{IoU}_c = \frac{I_c}{P_c + L_c - I_c}, \quad
    \mathrm{Recall}_c = \frac{I_c}{L_c}.

A ratio with a zero denominator is NaN (class neither predicted nor present) and is left out
of the means, as in mmseg's ``IoUMetric``. ``fg_dice`` is the mean Dice over the classes
other than ``background_index`` — for a binary task, the foreground Dice.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from ..registry import register_seg_metric
from .long_tail import _safe_name

__all__ = ['SegPerClassMetric', 'seg_area_stats', 'seg_scores']


def seg_area_stats(pred: torch.Tensor, label: torch.Tensor, num_classes: int,
                   ignore_index: int = 255) -> torch.Tensor:
    """Per-class areas of one image.

    Args:
        pred (Tensor): (H, W) predicted class indices.
        label (Tensor): (H, W) ground-truth class indices.
        num_classes (int): Number of classes C.
        ignore_index (int): Label value excluded (with its predictions).

    Returns:
        Tensor: (3, C) float64 ``[intersection, prediction area, label area]`` on the CPU.
        Predictions outside [0, C) count towards no class.
    """
    if pred.shape != label.shape:
        raise ValueError(f'pred_sem_seg shape {tuple(pred.shape)} does not match gt_sem_seg '
                         f'shape {tuple(label.shape)}')
    pred = pred.reshape(-1).long()
    label = label.reshape(-1).long()
    keep = label != ignore_index
    pred, label = pred[keep], label[keep]
    if label.numel() and (label.min() < 0 or label.max() >= num_classes):
        raise ValueError(f'gt_sem_seg contains class {int(label.max())} outside [0, '
                         f'{num_classes}) and is not ignore_index={ignore_index}')
    valid_pred = (pred >= 0) & (pred < num_classes)
    inter = label[valid_pred & (pred == label)]
    stats = torch.stack([
        torch.bincount(inter, minlength=num_classes),
        torch.bincount(pred[valid_pred], minlength=num_classes),
        torch.bincount(label, minlength=num_classes),
    ])
    return stats.double().cpu()


def seg_scores(stats: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class ``dice``, ``iou`` and ``recall`` (NaN where undefined) from (3, C) totals."""
    inter, area_pred, area_label = (np.asarray(s, dtype=np.float64) for s in stats)
    with np.errstate(invalid='ignore', divide='ignore'):
        dice = np.where(area_pred + area_label > 0, 2 * inter / (area_pred + area_label), np.nan)
        union = area_pred + area_label - inter
        iou = np.where(union > 0, inter / union, np.nan)
        recall = np.where(area_label > 0, inter / area_label, np.nan)
    return {'dice': dice, 'iou': iou, 'recall': recall}


def _nanmean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float('nan')


@register_seg_metric
class SegPerClassMetric(BaseMetric):
    """Per-class Dice / IoU / recall, mean Dice and foreground Dice for mmseg.

    Reads ``pred_sem_seg.data`` and ``gt_sem_seg.data`` from each data sample like mmseg's
    ``IoUMetric``, accumulates per-class intersection, prediction and label areas over the
    whole evaluation set (pixels labelled ``ignore_index`` excluded) and reports, in percent:

    * ``aAcc`` (pixel accuracy), ``mDice``, ``mIoU``, ``mRecall`` (NaN classes skipped);
    * ``fg_dice``: mean Dice of the non-background classes (binary: the foreground Dice);
    * ``dice_<class>``, ``iou_<class>``, ``recall_<class>`` per class (names sanitised like
      :class:`LongTailMetric`'s), NaN where undefined.

    Args:
        ignore_index (int): Label value ignored. Default 255.
        background_index (int, optional): Class left out of ``fg_dice``; ``None`` makes
            ``fg_dice`` equal ``mDice``. Default 0.
        classwise (bool): Report per-class keys. Default True.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Default ``'cpu'``.
        prefix (str, optional): Key prefix. Default ``'seg'``.

    Example:
        >>> val_evaluator = dict(type='SegPerClassMetric')
        >>> default_hooks = dict(checkpoint=dict(type='CheckpointHook',
        ...                      save_best='seg/fg_dice', rule='greater'))
    """

    default_prefix: Optional[str] = 'seg'

    def __init__(self, ignore_index: int = 255, background_index: Optional[int] = 0,
                 classwise: bool = True, collect_device: str = 'cpu',
                 prefix: Optional[str] = None, collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise TypeError(f'ignore_index must be an int, got {ignore_index!r}')
        if background_index is not None and (isinstance(background_index, bool)
                                             or not isinstance(background_index, int)
                                             or background_index < 0):
            raise ValueError(f'background_index must be None or an int >= 0, got '
                             f'{background_index!r}')
        self.ignore_index = ignore_index
        self.background_index = background_index
        self.classwise = bool(classwise)

    def _class_names(self, num_classes: Optional[int] = None) -> List[str]:
        classes = (self.dataset_meta or {}).get('classes')
        if classes is None:
            if num_classes is None:
                raise ValueError('SegPerClassMetric needs dataset_meta["classes"] (set by the '
                                 'evaluator from the dataset metainfo)')
            classes = [str(i) for i in range(num_classes)]
        return [str(c) for c in classes]

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        num_classes = len(self._class_names())
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze()
            label = sample['gt_sem_seg']['data'].squeeze().to(pred)
            self.results.append(
                seg_area_stats(pred, label, num_classes, self.ignore_index).numpy())

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        if not results:
            return {}
        totals = np.sum(np.stack(results), axis=0)
        num_classes = totals.shape[1]
        names = self._class_names(num_classes)
        scores = seg_scores(totals)
        fg = np.ones(num_classes, dtype=bool)
        if self.background_index is not None and self.background_index < num_classes:
            fg[self.background_index] = False
        labelled = totals[2].sum()
        metrics: Dict[str, float] = OrderedDict()
        metrics['aAcc'] = float(totals[0].sum() / labelled) if labelled else float('nan')
        metrics['mDice'] = _nanmean(scores['dice'])
        metrics['mIoU'] = _nanmean(scores['iou'])
        metrics['mRecall'] = _nanmean(scores['recall'])
        metrics['fg_dice'] = _nanmean(scores['dice'][fg])
        if self.classwise:
            for c, name in enumerate(names):
                for key in ('dice', 'iou', 'recall'):
                    metrics[f'{key}_{_safe_name(name)}'] = float(scores[key][c])
        metrics = OrderedDict((k, v * 100.0) for k, v in metrics.items())
        print_log('\n' + self._table(names, scores), logger='current')
        return dict(metrics)

    @staticmethod
    def _table(names: List[str], scores: Dict[str, np.ndarray]) -> str:
        width = max([5] + [len(n) for n in names])
        lines = [f'{"Class":<{width}}  {"Dice":>7}  {"IoU":>7}  {"Recall":>7}']
        for c, name in enumerate(names):
            vals = [scores[k][c] * 100 for k in ('dice', 'iou', 'recall')]
            lines.append(f'{name:<{width}}  ' + '  '.join(f'{v:7.2f}' for v in vals))
        return 'per-class results (SegPerClassMetric):\n' + '\n'.join(lines)
