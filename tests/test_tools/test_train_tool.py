"""tools/train.py options: --amp (CPU bfloat16), CPU DDP with gloo, --resume; plus the config
helpers in ``mmloss_plugin.engine.runtime`` and ``CPUBf16OptimWrapper``."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict

from mmloss_plugin.engine import CPUBf16OptimWrapper, runtime

TRAIN = Path(__file__).resolve().parents[2] / 'tools' / 'train.py'

# --------------------------------------------------------------------------- unit tests


@pytest.fixture
def cpu(monkeypatch):
    """Pretend there is no accelerator (the default on CI; explicit for GPU machines)."""
    monkeypatch.setattr(runtime, 'has_accelerator', lambda: False)


@pytest.fixture
def gpu(monkeypatch):
    monkeypatch.setattr(runtime, 'has_accelerator', lambda: True)


def _cfg(**kwargs) -> Config:
    base = {'optim_wrapper': {'type': 'OptimWrapper', 'optimizer': {'type': 'SGD', 'lr': 0.1}}}
    base.update(kwargs)
    return Config(base)


def test_convert_sync_bn_recursive():
    cfg = _cfg(model={
        'backbone': {'norm_cfg': {'type': 'SyncBN', 'requires_grad': True}},
        'heads': [{'norm_cfg': {'type': 'MMSyncBN', 'group': None, 'stats_mode': 'N'}},
                  {'norm_cfg': {'type': 'GN', 'num_groups': 2}}],
        'neck': ({'norm_cfg': {'type': 'BN'}}, )})
    assert runtime.convert_sync_bn(cfg._cfg_dict) == 2
    model = cfg.model
    assert model.backbone.norm_cfg == {'type': 'BN', 'requires_grad': True}
    assert model.heads[0].norm_cfg == {'type': 'BN'}  # SyncBN-only keys dropped
    assert model.heads[1].norm_cfg.type == 'GN'
    assert runtime.convert_sync_bn(cfg._cfg_dict) == 0


def test_setup_amp_cpu_uses_bf16_wrapper(cpu):
    cfg = _cfg()
    assert runtime.setup_amp(cfg) == 'CPUBf16OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper
    # a GPU config that already asks for AmpOptimWrapper is switched too
    cfg = _cfg(optim_wrapper={'type': 'AmpOptimWrapper', 'loss_scale': 512.0, 'dtype': 'float16',
                              'optimizer': {'type': 'SGD', 'lr': 0.1}})
    runtime.adapt_cfg_to_cpu(cfg, 'none')
    assert cfg.optim_wrapper.type == 'CPUBf16OptimWrapper'
    assert set(cfg.optim_wrapper) == {'type', 'optimizer'}


def test_setup_amp_gpu_uses_mmengine_amp(gpu):
    cfg = _cfg()
    assert runtime.setup_amp(cfg) == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'float16'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


def test_setup_amp_rejects_custom_wrapper(cpu):
    cfg = _cfg(optim_wrapper={'type': 'MyWrapper', 'optimizer': {'type': 'SGD', 'lr': 0.1}})
    with pytest.raises(ValueError, match='MyWrapper'):
        runtime.setup_amp(cfg)
    with pytest.raises(ValueError, match='optim_wrapper'):
        runtime.setup_amp(Config({'model': {}}))


def test_adapt_cfg_to_cpu_distributed(cpu):
    cfg = _cfg(env_cfg={'dist_cfg': {'backend': 'nccl'}}, sync_bn='torch',
               train_dataloader={'num_workers': 0, 'persistent_workers': True, 'pin_memory': True})
    runtime.adapt_cfg_to_cpu(cfg, 'pytorch')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    assert 'device_ids' in cfg.model_wrapper_cfg and cfg.model_wrapper_cfg.device_ids is None
    assert cfg.sync_bn is None
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.train_dataloader.pin_memory is False
    # without a launcher no wrapper config is added
    cfg = _cfg()
    runtime.adapt_cfg_to_cpu(cfg, 'none')
    assert 'model_wrapper_cfg' not in cfg


def test_adapt_cfg_keeps_gpu_config(gpu):
    cfg = _cfg(model={'norm_cfg': {'type': 'SyncBN'}},
               env_cfg={'dist_cfg': {'backend': 'nccl'}})
    runtime.adapt_cfg_to_cpu(cfg, 'pytorch')
    assert cfg.model.norm_cfg.type == 'SyncBN'
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg


def test_resolve_default_scope_and_resume():
    cfg = Config({'model': ConfigDict(type='EncoderDecoder', _scope_='mmseg')})
    assert runtime.resolve_default_scope(cfg) == 'mmseg'
    assert cfg.default_scope == 'mmseg'
    cfg = Config({'default_scope': 'mmpretrain', 'load_from': 'x.pth'})
    runtime.apply_resume(cfg, 'auto')
    assert cfg.resume is True and cfg.load_from is None
    runtime.apply_resume(cfg, 'ckpt.pth')
    assert cfg.load_from == 'ckpt.pth'


def test_load_config_options_scope_and_work_dir_priority(tmp_path):
    path = tmp_path / 'my_cfg.py'
    path.write_text("model = dict(type='EncoderDecoder', _scope_='mmseg', depth=1)\n")
    cfg = runtime.load_config(str(path), 'none', {'model.depth': 3})
    assert cfg.launcher == 'none'
    assert cfg.model.depth == 3
    assert cfg.default_scope == 'mmseg'
    assert cfg.work_dir == runtime.default_work_dir(str(path)) == './work_dirs/my_cfg'
    # the config's own work_dir beats the default, the argument beats both
    path.write_text("model = dict(type='M')\nwork_dir = 'from_cfg'\n")
    assert runtime.load_config(str(path), 'none').work_dir == 'from_cfg'
    assert runtime.load_config(str(path), 'pytorch', work_dir='cli').work_dir == 'cli'


def test_init_cpu_distributed_errors(cpu, monkeypatch):
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match='torchrun'):
        runtime.init_cpu_distributed(_cfg(), 'pytorch')
    with pytest.raises(RuntimeError, match='slurm'):
        runtime.init_cpu_distributed(_cfg(), 'slurm')
    runtime.init_cpu_distributed(_cfg(), 'none')  # no-op


def test_cpu_bf16_wrapper_autocasts_forward_only():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    before = model.weight.detach().clone()
    wrapper = CPUBf16OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    x = torch.randn(5, 4)
    with wrapper.optim_context(model):
        out = model(x)
    assert out.dtype == torch.bfloat16
    assert model(x).dtype == torch.float32  # autocast ends with the context
    # bf16 forward approximates the float32 one
    assert torch.allclose(out.float(), model(x), atol=0.05, rtol=0.05)
    wrapper.update_params(out.float().pow(2).mean())
    assert model.weight.dtype == torch.float32
    assert not torch.equal(model.weight, before)


def test_cpu_bf16_wrapper_rejects_float16():
    with pytest.raises(ValueError, match='bfloat16'):
        CPUBf16OptimWrapper(dtype='float16',
                            optimizer=torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1))


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmseg'])
def test_cpu_bf16_wrapper_builds_from_library_scopes(scope):
    pytest.importorskip(scope)
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    model = nn.Linear(2, 2)
    cfg = {'type': 'CPUBf16OptimWrapper', 'optimizer': {'type': 'SGD', 'lr': 0.1}}
    with DefaultScope.overwrite_default_scope(scope):
        wrapper = build_optim_wrapper(model, cfg)
    assert type(wrapper) is CPUBf16OptimWrapper


# --------------------------------------------------------------------------- end to end

needs_libs = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ('mmpretrain', 'mmseg')),
    reason='mmpretrain and mmseg are needed')


@needs_libs
@pytest.mark.timeout(120)
def test_amp_trains_on_cpu(tmp_path, cls_config, run_tool, train_cmd):
    work = tmp_path / 'work'
    out = run_tool(train_cmd(cls_config(iters=2), '--work-dir', str(work), '--amp')).stdout
    assert 'Traceback' not in out
    if not torch.cuda.is_available():
        assert 'CPUBf16OptimWrapper (bfloat16 autocast)' in out
    assert (work / 'iter_2.pth').is_file()


@needs_libs
@pytest.mark.skipif(torch.cuda.is_available() and torch.cuda.device_count() < 2,
                    reason='2-process DDP needs 2 GPUs when CUDA is present')
@pytest.mark.timeout(150)
def test_ddp_two_processes_on_cpu(tmp_path, seg_config, run_tool, free_port):
    """2-process torchrun on a SyncBN UNet with the auxiliary head: gloo, SyncBN -> BN."""
    config = seg_config(iters=2, sync_bn=True, aux=True)
    work = tmp_path / 'work'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_port', str(free_port), str(TRAIN), str(config),
           '--launcher', 'pytorch', '--work-dir', str(work)]
    out = run_tool(cmd, timeout=140).stdout
    assert 'Traceback' not in out
    if not torch.cuda.is_available():
        assert 'SyncBN norm config(s) to BN' in out
        assert 'world size 2' in out
    ckpt = torch.load(work / 'iter_2.pth', map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 2
    # the wrapped module was unwrapped for saving (no 'module.' prefix)
    assert 'decode_head.loss_decode.0.class_weight' in ckpt['state_dict']


@needs_libs
@pytest.mark.timeout(150)
def test_resume_continues(tmp_path, cls_config, run_tool, train_cmd):
    work = tmp_path / 'work'
    run_tool(train_cmd(cls_config(iters=2), '--work-dir', str(work)))
    first = work / 'iter_2.pth'
    assert first.is_file()

    # --resume without a path: latest checkpoint of the work dir, continue to iteration 4
    out = run_tool(train_cmd(cls_config(iters=2), '--work-dir', str(work), '--resume',
                             '--cfg-options', 'train_cfg.max_iters=4',
                             'default_hooks.checkpoint.interval=2')).stdout
    assert 'resumed' in out.lower(), out[-3000:]
    assert 'Iter(train) [3/4]' in out and 'Iter(train) [1/4]' not in out
    resumed = torch.load(work / 'iter_4.pth', map_location='cpu', weights_only=False)
    assert resumed['meta']['iter'] == 4
    assert first.is_file()  # nothing trained is lost

    # --resume PATH resumes from that file
    out = run_tool(train_cmd(cls_config(iters=2), '--work-dir', str(tmp_path / 'w2'),
                             '--resume', str(first),
                             '--cfg-options', 'train_cfg.max_iters=3')).stdout
    assert 'Iter(train) [3/3]' in out and 'Iter(train) [1/3]' not in out


def test_resume_missing_file_is_one_line_error(tmp_path, cls_config, run_tool, train_cmd):
    proc = run_tool(train_cmd(tmp_path / 'any.py', '--resume', str(tmp_path / 'nope.pth')),
                    check=False, timeout=60)
    assert proc.returncode != 0
    assert 'checkpoint file not found' in proc.stdout
    assert 'Traceback' not in proc.stdout
