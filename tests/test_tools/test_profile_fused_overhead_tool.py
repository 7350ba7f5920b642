"""tools/profile_fused_overhead.py: one row per case with finite times, restores ``_run``."""
import math
import re

import pytest


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('profile_fused_overhead')


def test_tiny_run_prints_every_case_and_restores_the_kernel_call(tool, capsys):
    from mmloss_plugin.losses.segmentation import fused_stats
    before = fused_stats._run
    tool.main(['--tiny', '--repeat', '2'])
    out = capsys.readouterr().out
    number = r' \| ([\d.]+)'
    rows = re.findall(r'^\| (\w+(?: \(sigmoid\))?) \| ([\dx]+)' + 3 * number + r' \|$', out, re.M)
    assert len(rows) == 6, out
    assert {r[0] for r in rows} == {'SoftDiceLoss', 'SoftDiceLoss (sigmoid)',
                                    'WeightedCrossEntropyLoss'}
    for _, _, previous, current, ratio in rows:
        assert math.isfinite(float(previous)) and float(previous) > 0
        assert math.isfinite(float(current)) and float(current) > 0
        assert float(ratio) > 0
    assert fused_stats._run is before


def test_repeat_below_one_is_a_usage_error(tool):
    with pytest.raises(SystemExit) as e:
        tool.main(['--repeat', '0'])
    assert e.value.code == 2
