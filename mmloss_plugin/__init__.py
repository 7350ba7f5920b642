"""mmloss-plugin: class-imbalance losses, hooks, heads and metrics for OpenMMLab 2.x.

``import mmloss_plugin`` (or ``custom_imports=dict(imports=['mmloss_plugin'])`` in a config)
registers every module into the registries of the installed toolboxes.
"""
__version__ = '0.1.0'

from . import datasets, engine, heads, hooks, losses, metrics  # noqa: E402,F401
from .registry import REGISTERED, installed_toolboxes  # noqa: E402,F401
