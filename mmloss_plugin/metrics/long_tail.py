"""Long-tail classification metrics: balanced accuracy, macro-F1, macro AUC, per-class recall
and many/medium/few-shot accuracy.

Pure numpy functions carry the formulas; :class:`LongTailMetric` is the thin mmengine
``BaseMetric`` that collects ``pred_score``/``gt_label`` from mmpretrain data samples.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.evaluator import BaseMetric

from ..losses.utils import load_class_counts, warn_once
from ..registry import register_cls_metric
from ..utils.dataset_counts import ann_file_class_counts

__all__ = [
    'LongTailMetric', 'confusion_counts', 'per_class_recall', 'balanced_accuracy', 'macro_f1',
    'binary_auc', 'macro_ovr_auc', 'shot_groups',
]


# ------------------------------------------------------------------------ formulas
def confusion_counts(pred: np.ndarray, gt: np.ndarray, num_classes: int
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class true positives, predicted counts and ground-truth counts, each (C,)."""
    pred = np.asarray(pred, dtype=np.int64)
    gt = np.asarray(gt, dtype=np.int64)
    tp = np.bincount(gt[pred == gt], minlength=num_classes).astype(np.float64)
    n_pred = np.bincount(pred, minlength=num_classes).astype(np.float64)
    n_gt = np.bincount(gt, minlength=num_classes).astype(np.float64)
    return tp, n_pred, n_gt


def per_class_recall(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """Recall TP_c / n_c of each class; NaN for classes absent from ``gt``."""
    tp, _, n_gt = confusion_counts(pred, gt, num_classes)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(n_gt > 0, tp / np.maximum(n_gt, 1), np.nan)


def balanced_accuracy(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> float:
    """Mean per-class recall over the classes present in ``gt``."""
    recall = per_class_recall(pred, gt, num_classes)
    present = ~np.isnan(recall)
    return float(recall[present].mean()) if present.any() else float('nan')


def macro_f1(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> float:
    """Mean of F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c) over classes present in ``gt`` or
    ``pred`` (scikit-learn's ``f1_score(average='macro')``)."""
    tp, n_pred, n_gt = confusion_counts(pred, gt, num_classes)
    denom = n_pred + n_gt  # = 2TP + FP + FN
    seen = denom > 0
    if not seen.any():
        return float('nan')
    return float((2 * tp[seen] / denom[seen]).mean())


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given their average rank."""
    order = np.argsort(x, kind='mergesort')
    xs = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    # boundaries of runs of equal values
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + 1 + e) / 2.0
    return ranks


def binary_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve from ranks (Mann-Whitney U), ties counted as 1/2.

    AUC = (sum of the ranks of positives - P(P+1)/2) / (P * N). NaN when either class is
    missing.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float('nan')
    rank_sum = _average_ranks(scores)[positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def macro_ovr_auc(scores: np.ndarray, gt: np.ndarray) -> float:
    """Macro one-vs-rest AUC of (N, C) ``scores``; classes absent from ``gt`` (or equal to
    every sample) are skipped."""
    scores = np.asarray(scores, dtype=np.float64)
    gt = np.asarray(gt)
    aucs = [binary_auc(scores[:, c], gt == c) for c in range(scores.shape[1])]
    aucs = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float('nan')


def shot_groups(counts: np.ndarray, thresholds: Tuple[float, float] = (100, 20)
                ) -> Dict[str, np.ndarray]:
    """Boolean class masks: many (n > t_many), medium (t_few <= n <= t_many), few (n < t_few)."""
    many_thr, few_thr = thresholds
    counts = np.asarray(counts, dtype=np.float64)
    return {'many': counts > many_thr,
            'medium': (counts >= few_thr) & (counts <= many_thr),
            'few': counts < few_thr}


def _safe_name(name: Any) -> str:
    return re.sub(r'[^0-9A-Za-z_.-]+', '_', str(name)).strip('_') or 'class'


# --------------------------------------------------------------------------- metric
@register_cls_metric
class LongTailMetric(BaseMetric):
    """Class-imbalance metrics for single-label classification (mmpretrain data samples).

    Reported keys (values in percent, like mmpretrain's metrics; prefix ``longtail/``):

    * ``accuracy``: top-1 accuracy over samples;
    * ``balanced_accuracy``: mean per-class recall over the classes present in the ground
      truth;
    * ``macro_f1``: mean per-class F1 over the classes present in ground truth or
      predictions;
    * ``macro_auc``: mean one-vs-rest ROC AUC of ``pred_score`` (rank based, ties count
      1/2) over classes present in the ground truth (needs ``pred_score``);
    * ``recall_<class>`` for each class when ``classwise`` (class names from the dataset's
      ``classes`` with characters other than letters, digits, ``_.-`` replaced by ``_``, or
      the class index); NaN for a class absent from the evaluation set, so the keys are
      stable for ``save_best='longtail/recall_<class>'``;
    * ``many_shot_acc`` / ``medium_shot_acc`` / ``few_shot_acc``: mean recall of the classes
      with more than ``shot_thresholds[0]`` training samples, between the thresholds
      (inclusive) and fewer than ``shot_thresholds[1]``; NaN for an empty group. Needs the
      training counts: ``cls_num_list`` (list or ``.txt``/``.json`` path), else
      ``train_ann_file`` (an mmpretrain ``CustomDataset`` annotation file), else the counts
      pushed by :class:`~mmloss_plugin.hooks.ClassCountsHook`. Without counts these keys
      are omitted (with a one-time warning).

    Args:
        shot_thresholds (tuple[float, float]): ``(many, few)`` thresholds. Default (100, 20).
        cls_num_list (list | str, optional): Per-class training counts.
        train_ann_file (str, optional): Annotation file of the training set (lines
            ``<path> <label>``) to count classes from.
        classwise (bool): Report ``recall_<class>`` keys. Default True.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Default ``'cpu'``.
        prefix (str, optional): Key prefix. Default ``'longtail'``.

    Example:
        >>> val_evaluator = [dict(type='Accuracy', topk=(1,)),
        ...                  dict(type='LongTailMetric')]
        >>> default_hooks = dict(checkpoint=dict(type='CheckpointHook',
        ...                      save_best='longtail/balanced_accuracy', rule='greater'))
    """

    default_prefix: Optional[str] = 'longtail'

    def __init__(self, shot_thresholds: Sequence[float] = (100, 20),
                 cls_num_list: Union[None, str, Sequence[float]] = None,
                 train_ann_file: Optional[str] = None, classwise: bool = True,
                 collect_device: str = 'cpu', prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if (not isinstance(shot_thresholds, (tuple, list)) or len(shot_thresholds) != 2
                or not all(isinstance(t, (int, float)) and not isinstance(t, bool)
                           for t in shot_thresholds)
                or shot_thresholds[0] < shot_thresholds[1]):
            raise ValueError('shot_thresholds must be (many, few) numbers with many >= few, '
                             f'e.g. (100, 20), got {shot_thresholds!r}')
        self.shot_thresholds = (float(shot_thresholds[0]), float(shot_thresholds[1]))
        self.classwise = bool(classwise)
        self._pad_counts = False
        self.class_counts: Optional[np.ndarray] = load_class_counts(cls_num_list)
        if self.class_counts is None and train_ann_file is not None:
            self.class_counts = ann_file_class_counts(train_ann_file)
            self._pad_counts = True  # classes absent at the end of the file count 0

    def set_class_counts(self, counts: Union[str, Sequence[float], np.ndarray]) -> None:
        """Set the training counts (called by ClassCountsHook)."""
        self.class_counts = load_class_counts(counts)
        self._pad_counts = False

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            gt = np.asarray(_to_numpy(sample['gt_label'])).ravel()
            if gt.size != 1:
                raise ValueError('LongTailMetric supports single-label samples only, got '
                                 f'gt_label with {gt.size} entries')
            result: Dict[str, Any] = {'gt_label': int(gt[0])}
            if 'pred_score' in sample:
                result['pred_score'] = np.asarray(_to_numpy(sample['pred_score']),
                                                  dtype=np.float32).ravel()
            else:
                result['pred_label'] = int(np.asarray(_to_numpy(sample['pred_label'])).ravel()[0])
            self.results.append(result)

    def _num_classes(self, results: List[dict]) -> int:
        classes = (self.dataset_meta or {}).get('classes')
        if classes is not None:
            return len(classes)
        if 'pred_score' in results[0]:
            return len(results[0]['pred_score'])
        return int(max(max(r['gt_label'], r['pred_label']) for r in results)) + 1

    def _counts(self, num_classes: int) -> Optional[np.ndarray]:
        counts = self.class_counts
        if counts is None:
            return None
        if self._pad_counts and len(counts) < num_classes:
            counts = np.pad(counts, (0, num_classes - len(counts)))
        if len(counts) != num_classes:
            raise ValueError(f'LongTailMetric: class counts have {len(counts)} entries but the '
                             f'evaluation has {num_classes} classes')
        return counts

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if not results:
            return {}
        num_classes = self._num_classes(results)
        gt = np.array([r['gt_label'] for r in results], dtype=np.int64)
        has_scores = all('pred_score' in r for r in results)
        if has_scores:
            scores = np.stack([r['pred_score'] for r in results])
            pred = scores.argmax(1)
        else:
            warn_once('LongTailMetric-no-score', 'LongTailMetric: data samples carry no '
                      'pred_score; macro_auc is omitted')
            scores = None
            pred = np.array([r.get('pred_label', -1) for r in results], dtype=np.int64)
        if gt.min() < 0 or gt.max() >= num_classes or pred.min() < 0 \
                or pred.max() >= num_classes:
            raise ValueError(f'LongTailMetric: labels/predictions outside [0, {num_classes})')

        recall = per_class_recall(pred, gt, num_classes)
        metrics = {
            'accuracy': float((pred == gt).mean()),
            'balanced_accuracy': balanced_accuracy(pred, gt, num_classes),
            'macro_f1': macro_f1(pred, gt, num_classes),
        }
        if scores is not None:
            metrics['macro_auc'] = macro_ovr_auc(scores, gt)
        counts = self._counts(num_classes)
        if counts is None:
            warn_once('LongTailMetric-no-counts', 'LongTailMetric: no training class counts '
                      '(set cls_num_list or train_ann_file, or add ClassCountsHook to '
                      'custom_hooks); many/medium/few-shot accuracies are omitted')
        else:
            for group, mask in shot_groups(counts, self.shot_thresholds).items():
                vals = recall[mask & ~np.isnan(recall)]
                metrics[f'{group}_shot_acc'] = float(vals.mean()) if vals.size else float('nan')
        if self.classwise:
            names = (self.dataset_meta or {}).get('classes') or list(range(num_classes))
            for c, name in enumerate(names):
                metrics[f'recall_{_safe_name(name)}'] = float(recall[c])
        return {k: v * 100.0 for k, v in metrics.items()}


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, 'detach'):
        return x.detach().cpu().numpy()
    return np.asarray(x)
