"""Register plugin modules into whichever OpenMMLab toolboxes are installed.

Each class is registered into mmengine's root registry (found from any scope by parent
fallback) and into the child registry of every installed toolbox (mmpretrain, mmseg), so
``type='LMFLoss'`` resolves under ``default_scope='mmpretrain'`` as well as ``'mmseg'`` and
inside a model whose ``_scope_`` was set by an external ``_base_``.

Only ``<pkg>.registry`` modules are imported here: they do not trigger the toolboxes' lazy
imports of ``<pkg>.models``, so mmseg/mmpretrain still import their own modules normally.
Plugin names are chosen not to collide with any module that mmpretrain 1.2.0 or mmseg 1.2.2
registers (see ``tests/test_registry.py``).
"""
from __future__ import annotations

import importlib
from typing import Callable, Dict, List, Tuple, Type

TOOLBOXES: Tuple[str, ...] = ('mmpretrain', 'mmseg')

#: kind -> list of registered class names (filled by the decorators below).
REGISTERED: Dict[str, List[str]] = {'models': [], 'hooks': [], 'metrics': [],
                                    'data_samplers': []}


def installed_toolboxes() -> List[str]:
    found = []
    for pkg in TOOLBOXES:
        try:
            importlib.import_module(f'{pkg}.registry')
        except ImportError:
            continue
        found.append(pkg)
    return found


def _registries(kind: str, toolboxes: Tuple[str, ...]):
    import mmengine.registry as root
    regs = [getattr(root, kind.upper())]
    for pkg in toolboxes:
        try:
            mod = importlib.import_module(f'{pkg}.registry')
        except ImportError:
            continue
        regs.append(getattr(mod, kind.upper()))
    return regs


def _make_register(kind: str, toolboxes: Tuple[str, ...] = TOOLBOXES) -> Callable[[Type], Type]:
    def register(cls: Type) -> Type:
        for reg in _registries(kind, toolboxes):
            # module_dict, not get(): get() would trigger the toolbox's lazy import and
            # fall back to the parent registry.
            if reg.module_dict.get(cls.__name__) is cls:
                continue
            reg.register_module(module=cls)
        REGISTERED[kind].append(cls.__name__)
        return cls
    return register


#: Register a loss into every installed toolbox's MODELS (and mmengine's root MODELS).
register_loss = _make_register('models')
#: Register a model component into mmpretrain's MODELS only (classification heads).
register_cls_model = _make_register('models', ('mmpretrain',))
#: Register a hook into HOOKS of every installed toolbox.
register_hook = _make_register('hooks')
#: Register a metric into mmpretrain's METRICS (classification metrics).
register_cls_metric = _make_register('metrics', ('mmpretrain',))
#: Register a data sampler into mmpretrain's DATA_SAMPLERS (image-level class sampling).
register_cls_sampler = _make_register('data_samplers', ('mmpretrain',))
#: Register a metric into mmseg's METRICS (segmentation metrics).
register_seg_metric = _make_register('metrics', ('mmseg',))
