"""Suite-wide fixtures.

mmengine's ``DefaultScope`` is a process-global: a Runner built by one test leaves its scope
(e.g. ``'mmengine'``) current, and later registry builds then look in the wrong registry.
Every test starts and ends with the default scopes it found.
"""
import pytest


@pytest.fixture(autouse=True)
def _restore_default_scope():
    from mmengine.registry import DefaultScope
    before = set(DefaultScope._instance_dict)
    yield
    for name in list(DefaultScope._instance_dict):
        if name not in before:
            del DefaultScope._instance_dict[name]
