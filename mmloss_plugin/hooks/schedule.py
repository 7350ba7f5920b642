"""Shared base of the hooks that switch something on from an epoch or iteration ``start``."""
from __future__ import annotations

from typing import Any

from mmengine.hooks import Hook

from ..losses.utils import check_non_negative_int

__all__ = ['StartScheduledHook']


class StartScheduledHook(Hook):
    """A hook active from the 0-based epoch (``by_epoch=True``) or iteration ``start`` on.

    Subclasses implement :meth:`_apply`, called in ``before_train`` (by the subclass, after its
    own checks) and before every epoch (``by_epoch``) or iteration (otherwise); the decision
    depends only on the loop position, so a resumed run picks it up from its first iteration.
    """

    def _init_schedule(self, start: int, by_epoch: bool) -> None:
        name = type(self).__name__
        self.start = check_non_negative_int(start, f'{name}: start',
                                            ' (0-based epoch or iteration index)')
        if not isinstance(by_epoch, bool):
            raise TypeError(f'{name}: by_epoch must be a bool, got {by_epoch!r}')
        self.by_epoch = by_epoch

    @property
    def _unit(self) -> str:
        return 'epoch' if self.by_epoch else 'iteration'

    def _position(self, runner: Any) -> int:
        return runner.epoch if self.by_epoch else runner.iter

    def _check_loop(self, runner: Any) -> None:
        """Refuse ``by_epoch=True`` under an iteration-based loop (the epoch never advances)."""
        from mmengine.runner import IterBasedTrainLoop
        if self.by_epoch and isinstance(runner.train_loop, IterBasedTrainLoop):
            raise ValueError(f'{type(self).__name__}(by_epoch=True) cannot work with an '
                             'iteration-based train loop (the epoch never advances): set '
                             'by_epoch=False and give start as an iteration')

    def _apply(self, runner: Any) -> None:
        raise NotImplementedError

    def before_train_epoch(self, runner: Any) -> None:
        if self.by_epoch:
            self._apply(runner)

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        if not self.by_epoch:
            self._apply(runner)
