"""tools/ab_fused_kernels.py: one row per case, package module restored, clear usage errors."""
import math
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _in_git_checkout() -> bool:
    try:
        return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True
                              ).returncode == 0
    except OSError:
        return False


needs_git = pytest.mark.skipif(not _in_git_checkout(), reason='needs a git checkout and git')


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('ab_fused_kernels')


@needs_git
def test_tiny_run_prints_every_case_and_restores_the_module(tool, capsys):
    import mmloss_plugin.losses.segmentation as package
    from mmloss_plugin.losses.segmentation import fused_stats
    tool.main(['--tiny', '--repeat', '2', '--base', 'HEAD'])
    out = capsys.readouterr().out
    number = r' \| ([\d.]+)'
    rows = re.findall(r'^\| (\w+(?: \(sigmoid\))?) \| ([\dx]+)' + 5 * number + r' \|$', out,
                      re.M)
    assert len(rows) == len(tool.CASES), out
    assert {r[0] for r in rows} == {'SoftDiceLoss', 'SoftDiceLoss (sigmoid)',
                                    'WeightedCrossEntropyLoss'}
    for row in rows:
        assert all(math.isfinite(float(v)) and float(v) > 0 for v in row[2:]), row
    assert package.fused_stats is fused_stats  # the base module was swapped back out


@needs_git
def test_unknown_revision_exits_naming_it(tool):
    with pytest.raises(SystemExit) as e:
        tool.main(['--tiny', '--base', 'no-such-revision-xyz'])
    assert 'no-such-revision-xyz' in str(e.value.code)


def test_repeat_below_one_is_a_usage_error(tool):
    with pytest.raises(SystemExit) as e:
        tool.main(['--repeat', '0'])
    assert e.value.code == 2
