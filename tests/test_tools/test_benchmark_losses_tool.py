"""tools/benchmark_losses.py: the memory probe and one benchmark entry, on tiny inputs."""

import pytest
import torch
import torch.nn.functional as F


@pytest.fixture(scope='module')
def bench(load_tool):
    return load_tool('benchmark_losses')


def test_cpu_peak_memory_counts_live_torch_allocations(bench):
    x = torch.randn(4, 256, 256, requires_grad=True)  # 1 MiB
    y = torch.zeros(1)

    def four_live(a, b):
        temps = [a * i for i in range(4)]  # 4 MiB alive together
        return sum(t.sum() for t in temps)

    mib = bench.peak_memory(four_live, x, y) / 2 ** 20
    assert 4.0 <= mib < 5.5  # the temporaries (+ the 1 MiB gradient after they are freed)
    assert bench.peak_memory(lambda a, b: a.sum(), x, y) / 2 ** 20 == pytest.approx(1.0,
                                                                                   abs=0.01)


def test_run_case_compares_plugin_with_a_peer(bench):
    from mmloss_plugin.losses import SoftDiceLoss

    def naive_dice(c):
        def fn(x, y):
            p = x.softmax(1)
            g = F.one_hot(y, c).movedim(-1, 1).float()
            tp, sp, sg = (p * g).sum((2, 3)), p.sum((2, 3)), g.sum((2, 3))
            return (1 - (2 * tp + 1e-5) / (sp + sg + 1e-5)).mean()
        return fn

    case = bench.Case('SoftDiceLoss', lambda c: SoftDiceLoss(), {'naive': naive_dice})
    row = bench.run_case(case, (2, 3, 16, 16), torch.device('cpu'), repeat=2)
    assert row['plugin']['value'] == pytest.approx(row['peers']['naive']['value'], rel=1e-5)
    assert row['fastest_peer'] == 'naive'
    assert row['time_ratio'] > 0 and row['mem_ratio'] > 0
    table = bench.markdown_table([row])
    assert '| 2x3x16x16 | SoftDiceLoss |' in table
