"""Shared fixtures of the classification-loss tests: plain-Python reference math."""
import math
from types import SimpleNamespace

import pytest

from mmloss_plugin.losses import utils


def _log_softmax(row):
    m = max(row)
    lse = m + math.log(sum(math.exp(v - m) for v in row))
    return [v - lse for v in row]


def _ldam_margins(counts, max_m):
    inv = [max(n, 1) ** -0.25 for n in counts]
    return [max_m * v / max(inv) for v in inv]


@pytest.fixture
def ref():
    """Reference formulas on Python floats (independent of the package)."""
    return SimpleNamespace(log_softmax=_log_softmax, ldam_margins=_ldam_margins)


@pytest.fixture
def fresh_warnings():
    """Forget which one-time warnings were already emitted, so a test can observe them."""
    seen = utils.warn_once.__defaults__[0]
    saved = set(seen)
    seen.clear()
    yield
    seen.clear()
    seen.update(saved)
