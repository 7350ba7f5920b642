"""Config preparation shared by ``tools/train.py`` and ``tools/test.py``.

These helpers make one config run unchanged on a GPU machine and on a CPU-only one:

* :func:`setup_amp` -- ``--amp``: mmengine's ``AmpOptimWrapper`` (float16) with an accelerator,
  :class:`~mmloss_plugin.engine.CPUBf16OptimWrapper` (bfloat16 autocast) without one.
* :func:`adapt_cfg_to_cpu` -- without an accelerator: SyncBN -> BN, gloo instead of nccl,
  ``device_ids=None`` for the DDP wrapper, no ``pin_memory``.
* :func:`init_cpu_distributed` -- without an accelerator, initialise the gloo process group
  *before* the Runner is built (mmengine's ``init_dist`` would call ``torch.cuda.set_device``).
* :func:`allow_full_checkpoint_loading` -- mmengine 0.10.7 checkpoints load with
  torch >= 2.6 (``weights_only`` default).
* :func:`load_config` (``--cfg-options``, default scope, work dir), :func:`resolve_default_scope`,
  :func:`apply_resume`, :func:`default_work_dir`, :func:`build_runner`.

Every change is announced with a one-line log message (on rank 0).
"""
from __future__ import annotations

import datetime
import os
import os.path as osp
import warnings
from typing import Any, List

import torch.distributed as dist
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

#: Norm layer types that need a process group with CUDA tensors.
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'SyncBatchNorm', 'nn.SyncBatchNorm', 'TorchSyncBN')
#: Arguments of the SyncBN variants that ``BN`` (``nn.BatchNorm2d``) does not accept.
_SYNC_ONLY_KEYS = ('group', 'process_group', 'stats_mode')
#: Optimizer wrapper types the ``--amp`` switch knows how to convert.
_PLAIN_WRAPPERS = ('OptimWrapper', 'mmengine.OptimWrapper')
_AMP_WRAPPERS = ('AmpOptimWrapper', 'mmengine.AmpOptimWrapper')
CPU_AMP_WRAPPER = 'CPUBf16OptimWrapper'


def log(msg: str, level: int = 20) -> None:
    """Print ``msg`` through mmengine's current logger, on rank 0 only (``RANK`` env)."""
    if int(os.environ.get('RANK', '0')) == 0:
        print_log(msg, logger='current', level=level)


def has_accelerator() -> bool:
    """Whether mmengine will place the model on an accelerator (CUDA, NPU, MLU or MUSA)."""
    from mmengine.device import (
        is_cuda_available,
        is_mlu_available,
        is_musa_available,
        is_npu_available,
    )
    return bool(is_cuda_available() or is_npu_available() or is_mlu_available()
                or is_musa_available())


def allow_full_checkpoint_loading() -> None:
    """Let mmengine load its own checkpoints under torch >= 2.6.

    torch 2.6 changed ``torch.load``'s default to ``weights_only=True``; mmengine 0.10.7 calls
    it without the argument, and its checkpoints hold more than tensors (the message hub's
    ``HistoryBuffer``, numpy arrays and dtypes), so ``--resume``, ``load_from`` and
    ``tools/test.py`` would fail with "Weights only load failed". This restores the loading
    behaviour mmengine was written for through torch's documented switch
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (only where the caller does not pass
    ``weights_only``). Only load checkpoints you trust -- as with any pickle. A user who sets
    ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` keeps the strict mode.
    """
    if 'TORCH_FORCE_WEIGHTS_ONLY_LOAD' in os.environ:
        return
    os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    warnings.filterwarnings('ignore', message='Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY')


def default_work_dir(config_path: str) -> str:
    """``./work_dirs/<config file name without extension>`` (the OpenMMLab default)."""
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def resolve_default_scope(cfg: Config) -> str | None:
    """Fill ``cfg.default_scope`` from the model's ``_scope_`` when the config has none.

    A config that inherits ``mmpretrain::``/``mmseg::`` model bases but not their
    ``default_runtime.py`` has no ``default_scope``; its model still carries the library's
    ``_scope_``, which tells which toolbox the datasets, hooks and metrics come from.

    Returns:
        str | None: the default scope in effect.
    """
    scope = cfg.get('default_scope')
    if scope is None:
        model = cfg.get('model')
        scope = model.get('_scope_') if isinstance(model, dict) else None
        if scope is not None:
            cfg.default_scope = scope
            log(f'default_scope not set in the config: using "{scope}" from the model')
    return scope


def load_config(path: str, launcher: str, cfg_options: dict | None = None,
                work_dir: str | None = None) -> Config:
    """Read a config the way both tools do before their own switches.

    Args:
        path (str): Config file.
        launcher (str): ``--launcher`` value, stored as ``cfg.launcher``.
        cfg_options (dict, optional): ``--cfg-options`` overrides, merged after loading.
        work_dir (str, optional): ``--work-dir``. Priority: this argument > the config's
            ``work_dir`` > :func:`default_work_dir`.

    Returns:
        Config: the config, with ``default_scope`` filled by :func:`resolve_default_scope`.
    """
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    resolve_default_scope(cfg)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(path)
    return cfg


def convert_sync_bn(node: Any) -> int:
    """Replace every SyncBN norm config below ``node`` by ``BN``, in place.

    Args:
        node: a config, dict, list or tuple (searched recursively).

    Returns:
        int: the number of norm configs changed.
    """
    count = 0
    if isinstance(node, dict):
        if node.get('type') in SYNC_BN_TYPES:
            node['type'] = 'BN'
            for key in _SYNC_ONLY_KEYS:
                node.pop(key, None)
            count += 1
        for value in node.values():
            count += convert_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += convert_sync_bn(value)
    return count


def _wrapper_type(cfg: Config) -> str | None:
    wrapper = cfg.get('optim_wrapper')
    if not isinstance(wrapper, dict):
        return None
    return wrapper.get('type', 'OptimWrapper')


def _to_cpu_amp(wrapper: dict) -> None:
    for key in ('loss_scale', 'use_fsdp', 'dtype'):
        wrapper.pop(key, None)
    wrapper['type'] = CPU_AMP_WRAPPER


def setup_amp(cfg: Config) -> str:
    """Enable mixed precision (``--amp``) for the device at hand.

    With an accelerator: ``AmpOptimWrapper`` with dynamic loss scaling (float16 unless the
    config sets ``dtype``). On CPU: ``CPUBf16OptimWrapper`` (bfloat16 autocast), because
    mmengine's ``AmpOptimWrapper`` refuses to run on CPU.

    Returns:
        str: the optimizer wrapper type now in the config.

    Raises:
        ValueError: if the config has no ``optim_wrapper`` or a custom wrapper type that
            cannot be switched.
    """
    wtype = _wrapper_type(cfg)
    if wtype is None:
        raise ValueError('--amp needs an `optim_wrapper` dict in the config')
    wrapper = cfg.optim_wrapper
    if wtype in _AMP_WRAPPERS + (CPU_AMP_WRAPPER,):
        log('AMP training is already enabled in the config')
        if wtype in _AMP_WRAPPERS and not has_accelerator():
            _to_cpu_amp(wrapper)
            log(f'--amp on CPU: using {CPU_AMP_WRAPPER} (bfloat16 autocast) instead of '
                f'{wtype}, which needs a GPU')
        return wrapper['type']
    if wtype not in _PLAIN_WRAPPERS:
        raise ValueError(f'--amp can only switch `optim_wrapper.type` "OptimWrapper" to mixed '
                         f'precision, got "{wtype}"; set an AMP wrapper in the config instead')
    if has_accelerator():
        wrapper['type'] = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
        wrapper.setdefault('dtype', 'float16')
        log(f'--amp: AmpOptimWrapper ({wrapper["dtype"]}, loss_scale={wrapper["loss_scale"]})')
    else:
        _to_cpu_amp(wrapper)
        log(f'--amp on CPU: using {CPU_AMP_WRAPPER} (bfloat16 autocast); mmengine\'s '
            'AmpOptimWrapper needs a GPU')
    return wrapper['type']


def apply_resume(cfg: Config, resume: str | None) -> None:
    """``--resume``: ``'auto'`` resumes from the latest checkpoint in the work dir (if any),
    a path resumes from that checkpoint, ``None`` leaves the config as it is."""
    if resume is None:
        return
    cfg.resume = True
    if resume == 'auto':
        cfg.load_from = None
    else:
        cfg.load_from = resume


def _dataloader_keys(cfg: Config) -> List[str]:
    return [k for k in cfg if k.endswith('_dataloader') and isinstance(cfg[k], dict)]


def fix_dataloaders(cfg: Config, cpu: bool) -> None:
    """``persistent_workers`` needs ``num_workers > 0``; ``pin_memory`` is useless on CPU."""
    for key in _dataloader_keys(cfg):
        loader = cfg[key]
        if loader.get('num_workers', 0) == 0 and loader.get('persistent_workers'):
            loader['persistent_workers'] = False
        if cpu and loader.get('pin_memory'):
            loader['pin_memory'] = False


def adapt_cfg_to_cpu(cfg: Config, launcher: str) -> None:
    """Make a GPU-oriented OpenMMLab config runnable on CPU (no-op with an accelerator).

    * SyncBN norm configs -> BN (recursively, anywhere in the config), ``sync_bn`` dropped;
    * AmpOptimWrapper -> CPUBf16OptimWrapper;
    * ``env_cfg.dist_cfg.backend = 'gloo'``;
    * with a launcher: ``model_wrapper_cfg.device_ids = None`` (DDP of a CPU module).
    """
    fix_dataloaders(cfg, cpu=not has_accelerator())
    if has_accelerator():
        return
    n = convert_sync_bn(cfg._cfg_dict)
    if n:
        log(f'No GPU: converted {n} SyncBN norm config(s) to BN')
    if cfg.get('sync_bn') is not None:
        log(f'No GPU: ignoring sync_bn={cfg.sync_bn!r}')
        cfg.sync_bn = None
    if _wrapper_type(cfg) in _AMP_WRAPPERS:
        _to_cpu_amp(cfg.optim_wrapper)
        log(f'No GPU: using {CPU_AMP_WRAPPER} (bfloat16 autocast) instead of AmpOptimWrapper')
    # (assigning a dict to a Config stores a converted copy: re-read after assignment)
    if not isinstance(cfg.get('env_cfg'), dict):
        cfg.env_cfg = ConfigDict()
    if not isinstance(cfg.env_cfg.get('dist_cfg'), dict):
        cfg.env_cfg.dist_cfg = ConfigDict()
    if cfg.env_cfg.dist_cfg.get('backend', 'nccl') != 'gloo':
        cfg.env_cfg.dist_cfg.backend = 'gloo'
        if launcher != 'none':
            log('No GPU: using the gloo distributed backend')
    if launcher != 'none':
        if cfg.get('model_wrapper_cfg') is None:
            cfg.model_wrapper_cfg = ConfigDict(
                type='MMDistributedDataParallel', broadcast_buffers=False,
                find_unused_parameters=cfg.get('find_unused_parameters', False))
        cfg.model_wrapper_cfg.device_ids = None


def init_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Initialise the gloo process group for CPU training launched by ``torchrun``.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` even for gloo, so on CPU the
    group is created here, before the Runner (which then skips its own initialisation).
    No-op without a launcher, with an accelerator, or when already initialised.

    Raises:
        RuntimeError: for a launcher other than ``pytorch`` on CPU, or when the ``torchrun``
            environment variables are missing.
    """
    if launcher == 'none' or has_accelerator() or (dist.is_available()
                                                    and dist.is_initialized()):
        return
    if launcher != 'pytorch':
        raise RuntimeError(f'CPU distributed training supports --launcher pytorch (torchrun, '
                           f'tools/dist_train.sh) only, got --launcher {launcher}')
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher pytorch needs the environment set by torchrun '
                           f'(missing {", ".join(missing)}); start it with '
                           f'`torchrun --nproc_per_node N tools/train.py CONFIG --launcher '
                           f'pytorch` or tools/dist_train.sh')
    timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout', 1800)
    dist.init_process_group('gloo', timeout=datetime.timedelta(seconds=timeout))
    log(f'No GPU: initialised gloo process group (world size {dist.get_world_size()})')


def build_runner(cfg: Config):
    """``Runner.from_cfg(cfg)``, or the registered runner named by ``cfg.runner_type``."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def set_local_rank(local_rank: int | None) -> None:
    """Export ``--local_rank`` (``torch.distributed.launch``) as ``LOCAL_RANK``."""
    if local_rank is not None and 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(local_rank)

