r"""SAMHook: sharpness-aware minimisation for the training step.

SAM (Foret et al., "Sharpness-Aware Minimization for Efficiently Improving Generalization",
ICLR 2021, arXiv 2010.01412) minimises the worst loss in a ball of radius :math:`\rho`
around the weights, :math:`\min_w \max_{\lVert \epsilon \rVert_2 \le \rho} L(w + \epsilon)`,
with the first-order solution of the inner problem

.. math::

    \hat\epsilon(w) = \rho \, \frac{\nabla L(w)}{\lVert \nabla L(w) \rVert_2}, \qquad
    w \leftarrow w - \eta \, \nabla L(w) \big|_{w + \hat\epsilon(w)}.

Each step therefore costs two forward and backward passes on the same batch: one for the
ascent direction, one for the gradient at the perturbed weights, which the optimizer then
applies to the unperturbed weights. Rangwani et al. ("Escaping Saddle Points for Effective
Generalization on Class-Imbalanced Data", NeurIPS 2022, arXiv 2212.13827) found that
re-weighted and margin losses (DRW, LDAM-DRW) converge to saddle points of the minority
classes' loss and that SAM with a large :math:`\rho` (0.5-0.8 on CIFAR-LT with LDAM-DRW)
escapes them.

mmengine's ``OptimWrapper`` sees only the loss, not the model or the batch, so SAM is a hook:
it replaces the model's ``train_step`` for the duration of ``runner.train()`` (and restores
it afterwards). Gradient clipping (``optim_wrapper.clip_grad``) applies to the gradient at
the perturbed weights. BatchNorm running statistics are updated by the first pass only.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from torch.nn.modules.batchnorm import _BatchNorm

from ..losses.utils import check_positive, warn_once
from ..registry import register_hook
from .schedule import StartScheduledHook

__all__ = ['SAMHook', 'sam_perturbation']


def sam_perturbation(params: List[torch.Tensor], rho: float) -> Optional[List[torch.Tensor]]:
    r"""The SAM ascent step :math:`\rho\, g / \lVert g \rVert_2` for each parameter's gradient.

    Args:
        params (list[Tensor]): Parameters with ``.grad`` set (all of them share one global
            norm, over every gradient together).
        rho (float): Radius of the neighbourhood, > 0.

    Returns:
        list[Tensor] | None: One perturbation per parameter (same shapes), or ``None`` when the
        gradient norm is zero or not finite (an overflowed fp16 step), where no ascent step
        is defined.
    """
    grads = [p.grad.detach().float() for p in params]
    if not grads:
        return None
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    norm = float(norm)
    if not (norm > 0 and norm < float('inf')):
        return None
    scale = rho / norm
    return [(g * scale).to(p.dtype) for g, p in zip(grads, params)]


@register_hook
class SAMHook(StartScheduledHook):
    r"""Train with sharpness-aware minimisation (SAM) from ``start`` on.

    Before ``start`` (0-based epoch, or iteration with ``by_epoch=False``) the model's own
    ``train_step`` runs unchanged; from ``start`` on every step makes the two passes of SAM
    (see the module docstring), so it costs about twice as much. ``start`` equal to the
    ``DRWHook``'s start applies SAM to the re-weighted phase only.

    Works with ``OptimWrapper`` and its subclasses (``AmpOptimWrapper``: the ascent direction
    is scale-invariant, and a step whose gradient overflowed is left to the loss scaler
    without a perturbation; ``CPUBf16OptimWrapper``) and with mmengine's DDP wrapper (both
    passes synchronise gradients, so every rank perturbs identically). Not supported:
    gradient accumulation (``accumulative_counts > 1``) and several optimizers
    (``OptimWrapperDict``).

    Args:
        rho (float): Radius :math:`\rho` of the neighbourhood (L2 norm over all parameters),
            > 0. Foret et al. use 0.05 on CIFAR; Rangwani et al. 0.5-0.8 with LDAM-DRW on
            CIFAR-LT. Default 0.05.
        start (int): 0-based epoch (``by_epoch=True``) or iteration from which SAM is used.
            Default 0 (the whole run).
        by_epoch (bool): Count ``start`` in epochs or iterations (iteration-based loops such
            as mmseg's need ``False``). Default ``True``.

    Example:
        >>> custom_hooks = [dict(type='ClassCountsHook'),
        ...                 dict(type='DRWHook', start=160),
        ...                 dict(type='SAMHook', rho=0.5)]
    """

    priority = 'NORMAL'

    def __init__(self, rho: float = 0.05, start: int = 0, by_epoch: bool = True) -> None:
        self.rho = check_positive(rho, 'SAMHook: rho')
        self._init_schedule(start, by_epoch)
        self._active = False
        self._model: Optional[nn.Module] = None
        self._announced = False

    # ------------------------------------------------------------------ hook points
    def before_train(self, runner: Any) -> None:
        self._check_loop(runner)
        wrapper = runner.optim_wrapper
        if not isinstance(wrapper, OptimWrapper):
            raise TypeError('SAMHook needs a single optimizer (an OptimWrapper), got '
                            f'{type(wrapper).__name__}; several optimizers are not supported')
        if getattr(wrapper, '_accumulative_counts', 1) != 1:
            raise ValueError('SAMHook does not support gradient accumulation: set '
                             'optim_wrapper.accumulative_counts=1 (got '
                             f'{wrapper._accumulative_counts})')
        model = runner.model
        if 'train_step' in vars(model):
            raise RuntimeError('SAMHook: the model\'s train_step is already replaced (two '
                               'SAMHooks in custom_hooks?)')
        self._model = model
        model.train_step = self._make_train_step(model, model.train_step)
        self._apply(runner)

    def after_train(self, runner: Any) -> None:
        if self._model is not None and 'train_step' in vars(self._model):
            del self._model.train_step  # back to the class's train_step
        self._model = None

    # ------------------------------------------------------------------ internals
    def _apply(self, runner: Any) -> None:
        position = self._position(runner)
        self._active = position >= self.start
        if self._active and not self._announced:
            unit = self._unit
            print_log(f'SAMHook: sharpness-aware minimisation (rho={self.rho}) from {unit} '
                      f'{self.start} (now {unit} {position}); each step makes two forward and '
                      'backward passes', logger='current')
            self._announced = True

    def _make_train_step(self, model: nn.Module, plain_step: Callable) -> Callable:
        core = model.module if is_model_wrapper(model) else model

        def train_step(data: Any, optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
            if not self._active:
                return plain_step(data, optim_wrapper)
            with optim_wrapper.optim_context(model):
                data = core.data_preprocessor(data, True)
                losses = model._run_forward(data, mode='loss')
            parsed, log_vars = core.parse_losses(losses)
            optim_wrapper.backward(parsed)
            params = [p for group in optim_wrapper.param_groups for p in group['params']
                      if p.grad is not None]
            perturbation = sam_perturbation(params, self.rho)
            if perturbation is None:
                warn_once('SAMHook-no-ascent', 'SAMHook: a step\'s gradient norm was zero or '
                          'not finite; that step was taken without the SAM perturbation')
            else:
                self._second_pass(model, core, data, optim_wrapper, params, perturbation,
                                  log_vars)
            optim_wrapper.step()
            optim_wrapper.zero_grad()
            return log_vars

        return train_step

    def _second_pass(self, model: nn.Module, core: nn.Module, data: Any,
                     optim_wrapper: OptimWrapper, params: List[torch.Tensor],
                     perturbation: List[torch.Tensor], log_vars: Dict) -> None:
        """Gradient at the perturbed weights, into ``.grad``; weights and BN stats restored."""
        bn_state = _save_bn_stats(core)
        with torch.no_grad():
            torch._foreach_add_(params, perturbation)
        try:
            optim_wrapper.zero_grad()
            with optim_wrapper.optim_context(model):
                losses = model._run_forward(data, mode='loss')
            parsed, _ = core.parse_losses(losses)
            optim_wrapper.backward(parsed)
            log_vars['loss_sam'] = parsed.detach()
        finally:
            with torch.no_grad():
                torch._foreach_sub_(params, perturbation)
            _restore_bn_stats(bn_state)


def _save_bn_stats(model: nn.Module) -> List[Tuple[_BatchNorm, Dict[str, torch.Tensor]]]:
    """Copies of every BatchNorm layer's running statistics (restored after the SAM pass)."""
    state = []
    for m in model.modules():
        if isinstance(m, _BatchNorm) and m.track_running_stats and m.training:
            state.append((m, {k: getattr(m, k).clone() for k in
                              ('running_mean', 'running_var', 'num_batches_tracked')
                              if getattr(m, k, None) is not None}))
    return state


def _restore_bn_stats(state: List[Tuple[_BatchNorm, Dict[str, torch.Tensor]]]) -> None:
    with torch.no_grad():
        for m, buffers in state:
            for k, v in buffers.items():
                getattr(m, k).copy_(v)
