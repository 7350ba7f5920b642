"""Shared pieces of the A/B timing tools (``ab_losses.py``, ``profile_fused_overhead.py``;
``profile_fused_kernel.py`` uses :func:`alternate` for its label-dtype variants).

They compare two implementations by alternating their steps in one process: on a CPU whose
speed drifts between processes that is the only comparison that shows a 10-20 % change.
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Dict, List

import torch


def ab_parser(description: str, repeat: int, repeat_help: str) -> argparse.ArgumentParser:
    """Parser with the options both tools share: ``--threads``, ``--repeat``, ``--tiny``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--threads', type=int, default=1, help='CPU threads (0: torch default)')
    parser.add_argument('--repeat', type=int, default=repeat, help=repeat_help)
    parser.add_argument('--tiny', action='store_true',
                        help='spatial sizes divided by 16 (a quick check that it runs)')
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage error for ``--repeat < 1`` or ``--threads < 0``; applies ``--threads``."""
    if args.repeat < 1 or args.threads < 0:
        parser.error('--repeat must be at least 1 and --threads at least 0')
    if args.threads:
        torch.set_num_threads(args.threads)


def tiny_shape(shape: tuple) -> tuple:
    """``shape`` with its spatial sizes divided by 16 (at least 2), for ``--tiny``."""
    return shape[:2] + tuple(max(d // 16, 2) for d in shape[2:])


def alternate(steps: Dict[Any, Callable[[], object]], rounds: int,
              warmup: int = 0) -> Dict[Any, List[float]]:
    """Milliseconds of each step over ``rounds`` rounds, after ``warmup`` untimed rounds.

    Each round runs every step once; the order is reversed every other round, so that a
    step never always follows the same other one.
    """
    keys = list(steps)
    times: Dict[Any, List[float]] = {k: [] for k in keys}
    for i in range(warmup + rounds):
        for key in (keys if i % 2 == 0 else keys[::-1]):
            start = time.perf_counter()
            steps[key]()
            if i >= warmup:
                times[key].append((time.perf_counter() - start) * 1e3)
    return times


def median(values: List[float]) -> float:
    """The (upper) median of ``values``."""
    return sorted(values)[len(values) // 2]
