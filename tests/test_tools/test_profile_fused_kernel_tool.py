"""tools/profile_fused_kernel.py: prints every row with a finite time, rejects bad options."""
import importlib.util
import math
import re

import pytest
import torch


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('profile_fused_kernel')


def test_tiny_run_prints_all_rows(tool, capsys):
    tool.main(['--device', 'cpu', '--classes', '3', '--shape', '2', '8', '8', '--numel', '256',
               '--exps', '2', '--repeat', '2', '--sigmoid-shape', '2', '8', '8'])
    out = capsys.readouterr().out
    times = {m.group(1).strip(): float(m.group(2))
             for m in re.finditer(r'^  (.+?)\s+(-?[\d.]+) ms$', out, re.M)}
    for row in ('compiled, 2 exp per element', 'eager torch.exp (one pass)',
                'eager: forward', 'fused_kernel=True: backward', 'forward kernel alone',
                'backward kernel alone', 'both kernels, float32 labels, default (round-robin)',
                'both kernels, int32 labels (round-robin)',
                'both kernels, int64 labels (round-robin)',
                'bare sums pass, int64 labels', 'bare sums pass, float32 labels',
                'forward kernel alone (sums, stores p)',
                'backward kernel alone (from the stored p)',
                'int64 -> float32 label conversion', 'aminmax of the float32 labels',
                'step: SoftDiceLoss(use_sigmoid), eager (round-robin)',
                'step: SoftDiceLoss(use_sigmoid), fused_kernel=True (round-robin)'):
        assert row in times, out
        assert math.isfinite(times[row])
    if importlib.util.find_spec('monai') is not None:  # MONAI's step joins the round-robin
        assert math.isfinite(times['step: MONAI DiceLoss(sigmoid) (round-robin)']), out
    assert 'SoftDiceLoss step on 2x3x8x8 logits' in out
    assert 'sigmoid Dice on 2x1x8x8 logits' in out
    from mmloss_plugin.losses.segmentation import fused_stats
    assert fused_stats.LABEL_DTYPE is torch.float32  # the other variants left it as it was


@pytest.mark.parametrize('argv', [['--shape', '2', '8'], ['--classes', '1'], ['--repeat', '0'],
                                  ['--sigmoid-shape', '2', '0', '8']])
def test_bad_options_exit_with_usage_error(tool, argv):
    with pytest.raises(SystemExit) as e:
        tool.main(argv)
    assert e.value.code == 2
