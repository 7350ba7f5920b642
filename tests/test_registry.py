"""Registration of every exported plugin name into mmpretrain's and mmseg's registries.

The checks run in fresh subprocesses because registries are process-global and the import
order matters: a plugin name that collides with a library module only shows up when the
library's lazy imports (``mmseg.models`` etc.) run *after* ``import mmloss_plugin``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip('mmpretrain')
pytest.importorskip('mmseg')

REPO = Path(__file__).resolve().parents[1]
TOOLBOXES = ('mmpretrain', 'mmseg')
KINDS = ('models', 'hooks', 'metrics', 'data_samplers')

#: The public API (README): name -> toolboxes whose registry must hold it.
BOTH = TOOLBOXES
PUBLIC = {
    # classification losses
    'SoftmaxFocalLoss': BOTH, 'LDAMLoss': BOTH, 'LMFLoss': BOTH, 'LogitAdjustedLoss': BOTH,
    'WeightedCrossEntropyLoss': BOTH,
    # segmentation losses
    'SoftDiceLoss': BOTH, 'IoULoss': BOTH, 'FocalTverskyLoss': BOTH,
    'GeneralizedDiceLoss': BOTH, 'SensitivitySpecificityLoss': BOTH, 'LogLoss': BOTH,
    'CompoundLoss': BOTH,
    # hooks, heads, metrics
    'ClassCountsHook': BOTH, 'DRWHook': BOTH,
    'NormedLinearClsHead': ('mmpretrain',),
    'LongTailMetric': ('mmpretrain',), 'SegPerClassMetric': ('mmseg',),
    # data samplers
    'DeferredClassBalancedSampler': ('mmpretrain',),
}

# Imports every module of both libraries, then reports on each plugin name.
PROBE = textwrap.dedent('''
    import importlib, json, sys
    ORDER = sys.argv[1]
    TOOLBOXES = ('mmpretrain', 'mmseg')
    KINDS = ('models', 'hooks', 'metrics', 'data_samplers')

    def force_library_imports():
        import mmpretrain.models, mmseg.models  # noqa: F401  the import-order trap
        from mmpretrain.utils import register_all_modules as reg_pretrain
        from mmseg.utils import register_all_modules as reg_seg
        reg_pretrain(init_default_scope=False)
        reg_seg(init_default_scope=False)

    if ORDER == 'plugin_first':
        import mmloss_plugin
        force_library_imports()
    else:
        force_library_imports()
        import mmloss_plugin

    import mmengine.registry as root
    from mmengine.registry import DefaultScope

    def ident(cls):
        return None if cls is None else f'{cls.__module__}.{cls.__qualname__}'

    report = {'registered': mmloss_plugin.REGISTERED, 'names': {}, 'plugin_in_lib': {},
              'library': {}}
    for kind in KINDS:
        regs = {pkg: getattr(importlib.import_module(pkg + '.registry'), kind.upper())
                for pkg in TOOLBOXES}
        regs['mmengine'] = getattr(root, kind.upper())
        for name in mmloss_plugin.REGISTERED[kind]:
            entry = {'in': {pkg: ident(reg.module_dict.get(name)) for pkg, reg in regs.items()},
                     'scoped': {}}
            for scope in TOOLBOXES:
                with DefaultScope.overwrite_default_scope(scope):
                    with regs['mmengine'].switch_scope_and_registry(scope) as reg:
                        entry['scoped'][scope] = ident(reg.get(name))
            report['names'][name] = entry
        # every registry entry whose class comes from the plugin
        for pkg, reg in regs.items():
            report['plugin_in_lib'][f'{pkg}.{kind}'] = sorted(
                n for n, c in reg.module_dict.items()
                if c.__module__.startswith('mmloss_plugin'))
    # library classes that share a "generic" name with plugin concepts stay the library's
    from mmpretrain.registry import MODELS as PRE
    from mmseg.registry import MODELS as SEG
    for name in ('CrossEntropyLoss', 'FocalLoss'):
        report['library'][f'mmpretrain.{name}'] = ident(PRE.get(name))
    for name in ('CrossEntropyLoss', 'FocalLoss', 'DiceLoss', 'TverskyLoss'):
        report['library'][f'mmseg.{name}'] = ident(SEG.get(name))
    print('REPORT' + json.dumps(report))
''')


def _run(code: str, *args: str, timeout: float = 180) -> str:
    proc = subprocess.run([sys.executable, '-c', code, *args], cwd=REPO, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-6000:]
    return proc.stdout


@pytest.fixture(scope='module', params=['plugin_first', 'library_first'])
def report(request) -> dict:
    out = _run(PROBE, request.param)
    line = next(ln for ln in out.splitlines() if ln.startswith('REPORT'))
    return json.loads(line[len('REPORT'):])


def _expected_toolboxes(name: str, kind: str, module: str):
    if name in PUBLIC:
        return PUBLIC[name]
    if kind == 'hooks' or '.losses.' in module:
        return BOTH
    return None  # other heads/metrics: at least one toolbox


def test_registered_is_exported(report):
    import mmloss_plugin
    names = [n for kind in KINDS for n in report['registered'][kind]]
    assert names, 'mmloss_plugin.REGISTERED is empty'
    assert len(names) == len(set(names)), f'registered twice: {names}'
    assert report['registered'] == mmloss_plugin.REGISTERED


def test_public_api_is_registered(report):
    registered = {n for kind in KINDS for n in report['registered'][kind]}
    missing = sorted(set(PUBLIC) - registered)
    assert not missing, f'public names not registered: {missing}'


def test_each_name_in_expected_registries(report):
    for kind in KINDS:
        for name in report['registered'][kind]:
            entry = report['names'][name]
            module = entry['in']['mmengine']
            assert module is not None and module.startswith('mmloss_plugin.'), (
                f'{name} is not in mmengine\'s root {kind} registry as the plugin class: {module}')
            expected = _expected_toolboxes(name, kind, module)
            present = [pkg for pkg in TOOLBOXES if entry['in'][pkg] == module]
            if expected is None:
                assert present, f'{name} is in neither toolbox\'s {kind} registry'
            else:
                assert set(expected) <= set(present), (
                    f'{name}: expected in {expected} {kind} registries, found in {present}')
            for pkg in TOOLBOXES:
                assert entry['in'][pkg] in (None, module), (
                    f'{pkg} {kind} registry maps {name} to {entry["in"][pkg]}, not the plugin')


def test_each_name_resolves_from_both_default_scopes(report):
    for name, entry in report['names'].items():
        for scope in TOOLBOXES:
            assert entry['scoped'][scope] == entry['in']['mmengine'], (
                f'{name} under default_scope={scope!r} resolves to {entry["scoped"][scope]}')


def test_no_library_class_shadowed(report):
    registered = {n for kind in KINDS for n in report['registered'][kind]}
    for where, names in report['plugin_in_lib'].items():
        assert set(names) <= registered, f'{where}: unexpected plugin entries {names}'
    for key, ident in report['library'].items():
        pkg = key.split('.')[0]
        assert ident is not None and ident.startswith(pkg + '.'), f'{key} -> {ident}'


def test_optim_wrapper_registered_once_in_root():
    code = textwrap.dedent('''
        import mmloss_plugin, mmpretrain.engine, mmseg.engine  # noqa
        from mmengine.registry import OPTIM_WRAPPERS, DefaultScope
        from mmpretrain.registry import OPTIM_WRAPPERS as P
        from mmseg.registry import OPTIM_WRAPPERS as S
        cls = OPTIM_WRAPPERS.module_dict['CPUBf16OptimWrapper']
        assert cls.__module__ == 'mmloss_plugin.engine.optim_wrapper', cls
        for scope, reg in (('mmpretrain', P), ('mmseg', S)):
            assert 'CPUBf16OptimWrapper' not in reg.module_dict
            with DefaultScope.overwrite_default_scope(scope):
                with OPTIM_WRAPPERS.switch_scope_and_registry(scope) as r:
                    assert r.get('CPUBf16OptimWrapper') is cls, scope
        print('OK')
    ''')
    assert 'OK' in _run(code)


CUSTOM_IMPORTS_CHECK = textwrap.dedent('''
    import sys, tempfile, os
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    assert 'mmloss_plugin' not in sys.modules
    scope, text = sys.argv[1], sys.argv[2]
    path = os.path.join(tempfile.mkdtemp(), 'cfg.py')
    with open(path, 'w') as f:
        f.write(text)
    cfg = Config.fromfile(path)
    assert 'mmloss_plugin' in sys.modules, 'custom_imports did not import the plugin'
    init_default_scope(cfg.default_scope)
    from mmengine.registry import MODELS
    model = MODELS.build(cfg.model)
    loss = model.head.loss_module if scope == 'mmpretrain' else model.decode_head.loss_decode
    print('LOSS', type(loss).__module__, type(loss).__name__, loss.class_weight.tolist())
''')

CONFIGS = {
    'mmpretrain': '''
_base_ = ['mmpretrain::_base_/models/resnet18.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(head=dict(num_classes=3, topk=(1, ),
             loss=dict(_delete_=True, type='WeightedCrossEntropyLoss',
                       class_weight=[1.0, 2.0, 3.0])))
''',
    'mmseg': '''
_base_ = ['mmseg::_base_/models/fcn_unet_s5-d16.py']
custom_imports = dict(imports=['mmloss_plugin'], allow_failed_imports=False)
default_scope = 'mmseg'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(backbone=dict(base_channels=8, norm_cfg=norm_cfg), auxiliary_head=None,
             decode_head=dict(in_channels=8, channels=8, num_classes=3, norm_cfg=norm_cfg,
                              loss_decode=dict(_delete_=True, type='WeightedCrossEntropyLoss',
                                               class_weight=[1.0, 2.0, 3.0])))
''',
}


@pytest.mark.parametrize('scope', TOOLBOXES)
def test_build_through_custom_imports(scope):
    out = _run(CUSTOM_IMPORTS_CHECK, scope, CONFIGS[scope])
    line = next(ln for ln in out.splitlines() if ln.startswith('LOSS'))
    assert line.split(maxsplit=3) == [
        'LOSS', 'mmloss_plugin.losses.classification.cross_entropy', 'WeightedCrossEntropyLoss',
        '[1.0, 2.0, 3.0]']


@pytest.mark.parametrize('missing, present', [('mmseg', 'mmpretrain'),
                                              ('mmpretrain', 'mmseg')])
def test_import_with_one_toolbox_missing(missing, present):
    """Each toolbox is optional: with one absent the plugin still imports and registers."""
    code = textwrap.dedent(f'''
        import sys
        sys.modules[{missing!r}] = None  # import {missing} -> ImportError
        import mmloss_plugin
        assert mmloss_plugin.installed_toolboxes() == [{present!r}]
        from {present}.registry import MODELS
        assert MODELS.module_dict['WeightedCrossEntropyLoss'].__module__.startswith(
            'mmloss_plugin')
        print('OK')
    ''')
    assert 'OK' in _run(code)
