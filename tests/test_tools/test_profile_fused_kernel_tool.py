"""tools/profile_fused_kernel.py: prints every row with a finite time, rejects bad options."""
import math
import re

import pytest
import torch


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('profile_fused_kernel')


def test_tiny_run_prints_all_rows(tool, capsys):
    tool.main(['--device', 'cpu', '--classes', '3', '--shape', '2', '8', '8', '--numel', '256',
               '--exps', '2', '--repeat', '2'])
    out = capsys.readouterr().out
    times = {m.group(1).strip(): float(m.group(2))
             for m in re.finditer(r'^  (.+?)\s+(-?[\d.]+) ms$', out, re.M)}
    for row in ('compiled, 2 exp per element', 'eager torch.exp (one pass)',
                'eager: forward', 'fused_kernel=True: backward', 'forward kernel alone',
                'backward kernel alone', 'both kernels, float32 labels, default (round-robin)',
                'both kernels, int32 labels (round-robin)',
                'both kernels, int64 labels (round-robin)'):
        assert row in times, out
        assert math.isfinite(times[row])
    assert 'SoftDiceLoss step on 2x3x8x8 logits' in out
    from mmloss_plugin.losses.segmentation import fused_stats
    assert fused_stats.LABEL_DTYPE is torch.float32  # the other variants left it as it was


@pytest.mark.parametrize('argv', [['--shape', '2', '8'], ['--classes', '1'], ['--repeat', '0']])
def test_bad_options_exit_with_usage_error(tool, argv):
    with pytest.raises(SystemExit) as e:
        tool.main(argv)
    assert e.value.code == 2
