"""tools/profile_fused_kernel.py: prints every row with a finite time, rejects bad options."""
import importlib.util
import math
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'profile_fused_kernel_tool', os.path.join(ROOT, 'tools', 'profile_fused_kernel.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_tiny_run_prints_all_rows(tool, capsys):
    tool.main(['--device', 'cpu', '--classes', '3', '--shape', '2', '8', '8', '--numel', '256',
               '--exps', '2', '--repeat', '2'])
    out = capsys.readouterr().out
    times = {m.group(1).strip(): float(m.group(2))
             for m in re.finditer(r'^  (.+?)\s+(-?[\d.]+) ms$', out, re.M)}
    for row in ('compiled, 2 exp per element', 'eager torch.exp (one pass)',
                'eager: forward', 'fused_kernel=True: backward', 'forward kernel alone',
                'backward kernel alone'):
        assert row in times, out
        assert math.isfinite(times[row])
    assert 'SoftDiceLoss step on 2x3x8x8 logits' in out


@pytest.mark.parametrize('argv', [['--shape', '2', '8'], ['--classes', '1'], ['--repeat', '0']])
def test_bad_options_exit_with_usage_error(tool, argv):
    with pytest.raises(SystemExit) as e:
        tool.main(argv)
    assert e.value.code == 2
