"""tools/ab_losses.py: one row per case, package module restored, clear usage errors."""
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
    return load_tool('ab_losses')


@needs_git
@pytest.mark.parametrize('impl', ['both', 'eager'])
def test_tiny_run_prints_every_case_and_restores_the_modules(tool, capsys, impl):
    import mmloss_plugin.losses.segmentation as package
    from mmloss_plugin.losses.segmentation import fused_stats, stats
    before = (stats.prepare_seg_targets, stats.region_stats)
    tool.main(['--tiny', '--repeat', '2', '--base', 'HEAD', '--impl', impl])
    out = capsys.readouterr().out
    number = r' \| ([\d.]+)'
    rows = re.findall(r'^\| (\w+(?: \([\w, ]+\))?) \| ([\dx]+)' + 5 * number + r' \|$', out,
                      re.M)
    eager = [c for c in tool.CASES if c[0] in tool.EAGER_LOSSES]
    expected = len(eager) + (len(tool.CASES) if impl == 'both' else 0)
    assert len(rows) == expected, out
    labels = {r[0] for r in rows}
    assert {'SoftDiceLoss', 'SoftDiceLoss (sigmoid)'} <= labels
    assert ('SoftDiceLoss (sigmoid, fused_kernel)' in labels) == (impl == 'both')
    for row in rows:
        assert all(math.isfinite(float(v)) and float(v) > 0 for v in row[2:]), row
    assert package.fused_stats is fused_stats  # the base modules were swapped back out
    assert (stats.prepare_seg_targets, stats.region_stats) == before


@needs_git
def test_unknown_revision_exits_naming_it(tool):
    with pytest.raises(SystemExit) as e:
        tool.main(['--tiny', '--base', 'no-such-revision-xyz'])
    assert 'no-such-revision-xyz' in str(e.value.code)


def test_repeat_below_one_is_a_usage_error(tool):
    with pytest.raises(SystemExit) as e:
        tool.main(['--repeat', '0'])
    assert e.value.code == 2
