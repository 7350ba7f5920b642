"""Train a model from an mmpretrain or mmsegmentation config, with the plugin registered.

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]
    torchrun --nproc_per_node 2 tools/train.py CONFIG --launcher pytorch   # or dist_train.sh

The toolbox (mmpretrain or mmseg) follows from the config's ``default_scope`` (or its model's
``_scope_``). ``mmloss_plugin`` is imported here, so configs need no ``custom_imports``.
Works without a GPU: SyncBN becomes BN, DDP uses gloo, ``--amp`` uses bfloat16 autocast.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

from mmengine.config import Config, DictAction

try:
    import mmloss_plugin  # noqa: F401  (registers the plugin's losses, hooks, heads, metrics)
except ImportError:  # running from a clone that was not pip-installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import mmloss_plugin  # noqa: F401

from mmloss_plugin.engine import runtime
from mmloss_plugin.losses.model_checks import check_model_losses


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model (mmpretrain or mmseg config)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints '
                        '(default: the config\'s work_dir, else ./work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint; without a path, from the latest '
                        'checkpoint in the work directory (if there is one)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 AmpOptimWrapper on GPU, bfloat16 '
                        'CPUBf16OptimWrapper on CPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate with the total batch size '
                        '(needs auto_scale_lr in the config)')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate during training')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. '
                        'train_cfg.max_iters=100 "model.head.loss.gamma=2.0"')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank (older: --local_rank); torchrun sets env.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=None)
    args = parser.parse_args(argv)
    if args.resume not in (None, 'auto') and not osp.isfile(args.resume):
        parser.error(f'--resume: checkpoint file not found: {args.resume}')
    return args


def build_cfg(args: argparse.Namespace) -> Config:
    # work_dir priority: command line > config > ./work_dirs/<config name>
    cfg = runtime.load_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    if args.amp:
        runtime.setup_amp(cfg)
    runtime.apply_resume(cfg, args.resume)

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=...)` '
                             'in the config')
        cfg.auto_scale_lr.enable = True

    runtime.adapt_cfg_to_cpu(cfg, args.launcher)
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    runtime.set_local_rank(args.local_rank)
    runtime.allow_full_checkpoint_loading()
    try:
        cfg = build_cfg(args)
        runtime.init_cpu_distributed(cfg, args.launcher)
        # Builds the model (losses, heads) but loads no data yet.
        runner = runtime.build_runner(cfg)
        # Per-class lengths and ignore_index against the heads (see docs/reliability.md).
        check_model_losses(runner.model)
    except (ValueError, TypeError, KeyError, RuntimeError, FileNotFoundError) as err:
        # A config or setup mistake: one clear line instead of a traceback.
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        sys.exit('error: ' + ' '.join(str(msg).split()))
    runner.train()


if __name__ == '__main__':
    main()
