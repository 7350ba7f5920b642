"""SAMHook: the two-pass SAM step, checked against a hand computation on a real Runner."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from mmloss_plugin.hooks import SAMHook
from mmloss_plugin.hooks.sam import sam_perturbation

LR = 0.01


def _batches(toys, batch_size=4):
    """The toy training set in loader order (DefaultSampler without shuffling)."""
    ds = toys.ClsDataset(toys.labels)
    items = [ds[i] for i in range(len(ds))]
    for i in range(0, len(items), batch_size):
        chunk = items[i:i + batch_size]
        yield (torch.stack([it['inputs'] for it in chunk]),
               torch.tensor([it['gt_label'] for it in chunk]))


def _hand_sgd(toys, weight, bias, rho=None, epochs=1, sam_from=0):
    """Plain SGD or SAM (Foret et al.) on the toy linear classifier, written out by hand."""
    weight, bias = weight.clone(), bias.clone()
    for epoch in range(epochs):
        for x, y in _batches(toys):
            w = weight.clone().requires_grad_()
            b = bias.clone().requires_grad_()
            gw, gb = torch.autograd.grad(F.cross_entropy(x @ w.T + b, y), (w, b))
            if rho is not None and epoch >= sam_from:
                norm = torch.sqrt((gw ** 2).sum() + (gb ** 2).sum())
                w2 = (weight + rho * gw / norm).requires_grad_()
                b2 = (bias + rho * gb / norm).requires_grad_()
                gw, gb = torch.autograd.grad(F.cross_entropy(x @ w2.T + b2, y), (w2, b2))
            weight, bias = weight - LR * gw, bias - LR * gb
    return weight, bias


def _init(model):
    return model.fc.weight.detach().clone(), model.fc.bias.detach().clone()


def test_sam_step_matches_hand_computation(make_runner, toys):
    torch.manual_seed(0)
    model = toys.Model()
    w0, b0 = _init(model)
    runner = make_runner(model=model, train_cfg={'by_epoch': True, 'max_epochs': 2},
                         custom_hooks=[{'type': 'SAMHook', 'rho': 0.5}])
    runner.train()
    want_w, want_b = _hand_sgd(toys, w0, b0, rho=0.5, epochs=2)
    torch.testing.assert_close(model.fc.weight.detach(), want_w, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(model.fc.bias.detach(), want_b, atol=1e-6, rtol=1e-5)
    # the SAM update is not the plain SGD update (the test can tell them apart)
    plain_w, _ = _hand_sgd(toys, w0, b0, epochs=2)
    assert (plain_w - want_w).abs().max() > 1e-4
    # two forward passes per step; the perturbed loss is logged
    assert len(model.seen) == 12
    sam_losses = runner.message_hub.get_scalar('train/loss_sam').data[0]
    assert len(sam_losses) == 6
    # train_step is the class's again after training
    assert 'train_step' not in vars(model)


def test_sam_under_cpu_bf16_autocast(make_runner, toys):
    """With CPUBf16OptimWrapper the forward passes run in bfloat16; the SAM update stays
    within bfloat16 precision of the float32 hand computation."""
    torch.manual_seed(0)
    model = toys.Model()
    w0, b0 = _init(model)
    runner = make_runner(model=model, train_cfg={'by_epoch': True, 'max_epochs': 2},
                         optim_wrapper={'type': 'CPUBf16OptimWrapper',
                                        'optimizer': {'type': 'SGD', 'lr': LR}},
                         custom_hooks=[{'type': 'SAMHook', 'rho': 0.5}])
    runner.train()
    assert len(model.seen) == 12
    want_w, _ = _hand_sgd(toys, w0, b0, rho=0.5, epochs=2)
    plain_w, _ = _hand_sgd(toys, w0, b0, epochs=2)
    got = model.fc.weight.detach()
    assert torch.isfinite(got).all()
    assert (got - want_w).abs().max() < 0.2 * (plain_w - want_w).abs().max()


def test_start_epoch_plain_steps_before(make_runner, toys):
    torch.manual_seed(0)
    model = toys.Model()
    w0, b0 = _init(model)
    runner = make_runner(model=model, train_cfg={'by_epoch': True, 'max_epochs': 2},
                         custom_hooks=[{'type': 'SAMHook', 'rho': 0.5, 'start': 1}])
    runner.train()
    assert len(model.seen) == 3 + 6  # 3 plain steps, then 3 SAM steps
    want_w, _ = _hand_sgd(toys, w0, b0, rho=0.5, epochs=2, sam_from=1)
    torch.testing.assert_close(model.fc.weight.detach(), want_w, atol=1e-6, rtol=1e-5)


def test_iteration_based_start(make_runner, toys):
    model = toys.Model()
    runner = make_runner(model=model, train_cfg={'by_epoch': False, 'max_iters': 4},
                         by_epoch=False,
                         custom_hooks=[{'type': 'SAMHook', 'start': 2, 'by_epoch': False}])
    runner.train()
    assert len(model.seen) == 2 + 2 * 2


def test_batchnorm_statistics_updated_once_per_step(make_runner, toys):
    torch.manual_seed(0)
    model = toys.Model()
    model.fc = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 3))
    runner = make_runner(model=model, dataset=toys.ClsDataset(toys.labels[:4]),
                         train_cfg={'by_epoch': True, 'max_epochs': 1},
                         custom_hooks=[{'type': 'SAMHook', 'rho': 0.5}])
    runner.train()
    bn = model.fc[0]
    x, _ = next(_batches(toys))
    assert int(bn.num_batches_tracked) == 1
    torch.testing.assert_close(bn.running_mean, 0.1 * x.mean(0))
    torch.testing.assert_close(bn.running_var, 0.9 + 0.1 * x.var(0, unbiased=True))


def test_perturbation_has_norm_rho_along_the_gradient():
    a = nn.Parameter(torch.zeros(3))
    b = nn.Parameter(torch.zeros(2, 2))
    a.grad = torch.tensor([3.0, 0.0, 0.0])
    b.grad = torch.tensor([[0.0, 4.0], [0.0, 0.0]])
    ea, eb = sam_perturbation([a, b], rho=0.5)
    torch.testing.assert_close(ea, torch.tensor([0.3, 0.0, 0.0]))
    torch.testing.assert_close(eb, torch.tensor([[0.0, 0.4], [0.0, 0.0]]))


@pytest.mark.parametrize('grad', [0.0, float('inf'), float('nan')])
def test_no_perturbation_for_zero_or_overflowed_gradient(grad):
    p = nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([grad, 0.0])
    assert sam_perturbation([p], rho=0.05) is None


@pytest.mark.parametrize('kwargs,exc,match', [
    ({'rho': 0.0}, ValueError, 'rho must be > 0'),
    ({'rho': -0.1}, ValueError, 'rho must be > 0'),
    ({'rho': 'big'}, TypeError, 'rho must be a number'),
    ({'rho': float('nan')}, ValueError, 'rho must be finite'),
    ({'start': -1}, ValueError, 'start must be an int >= 0'),
    ({'start': 1.5}, ValueError, 'start must be an int >= 0'),
    ({'by_epoch': 'yes'}, TypeError, 'by_epoch must be a bool'),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        SAMHook(**kwargs)


def test_refuses_gradient_accumulation(toys):
    model = toys.Model()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=LR), accumulative_counts=2)
    runner = SimpleNamespace(train_loop=object(), optim_wrapper=wrapper, model=model)
    with pytest.raises(ValueError, match='accumulative_counts=1'):
        SAMHook().before_train(runner)
    assert 'train_step' not in vars(model)


def test_refuses_by_epoch_with_iteration_loop(make_runner, toys):
    runner = make_runner(train_cfg={'by_epoch': False, 'max_iters': 2}, by_epoch=False,
                         custom_hooks=[{'type': 'SAMHook', 'start': 1}])
    with pytest.raises(ValueError, match='by_epoch=False'):
        runner.train()
