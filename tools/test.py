"""Evaluate a checkpoint with an mmpretrain or mmsegmentation config, with the plugin registered.

Usage::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out PATH] [--show-dir DIR]
                         [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]

``--out``: a ``.pkl`` file receives the raw predictions (both toolboxes); for a segmentation
config any other path is a directory that receives the predicted masks as PNG files.
``--show-dir DIR``: save the drawn predictions under ``DIR`` (mmseg configs:
``DIR/vis_data/vis_image``); ``--interval N`` draws every N-th sample.
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

PICKLE_SUFFIXES = ('.pkl', '.pickle')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for the evaluation logs and metrics '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--out', help='file (.pkl) for the raw predictions; for segmentation '
                        'configs a directory for the predicted masks')
    parser.add_argument('--show-dir', help='directory where drawn predictions are saved')
    parser.add_argument('--show', action='store_true', help='display drawn predictions')
    parser.add_argument('--wait-time', type=float, default=2, help='display time (s) of --show')
    parser.add_argument('--interval', type=int, default=1, help='draw every N-th sample')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. test_dataloader.batch_size=1')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=None)
    args = parser.parse_args(argv)
    if not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint file not found: {args.checkpoint}')
    return args


def _enable_visualization(cfg: Config, args: argparse.Namespace) -> None:
    hooks = cfg.get('default_hooks') or {}
    hook = hooks.get('visualization')
    if hook is None:
        raise ValueError('--show/--show-dir need a visualization hook in default_hooks, e.g. '
                         "default_hooks = dict(visualization=dict(type='VisualizationHook'))")
    if 'SegVisualizationHook' in str(hook.get('type')):
        # mmseg: the hook draws, the visualizer saves under its save_dir.
        hook['draw'] = True
        hook['interval'] = args.interval
        if args.show:
            hook['show'] = True
            hook['wait_time'] = args.wait_time
        if args.show_dir:
            cfg.visualizer['save_dir'] = args.show_dir
    else:
        # mmpretrain: VisualizationHook(enable, out_dir, show, wait_time, interval).
        hook['enable'] = True
        hook['interval'] = args.interval
        hook['show'] = args.show
        hook['wait_time'] = args.wait_time
        if args.show_dir:
            hook['out_dir'] = args.show_dir


def _add_output(cfg: Config, out: str) -> None:
    if out.endswith(PICKLE_SUFFIXES):
        evaluator = cfg.test_evaluator
        dump = {'type': 'mmengine.DumpResults', 'out_file_path': out}
        if isinstance(evaluator, (list, tuple)):
            cfg.test_evaluator = list(evaluator) + [dump]
        elif 'metrics' in evaluator:
            metrics = evaluator['metrics']
            metrics = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
            evaluator['metrics'] = metrics + [dump]
        else:
            cfg.test_evaluator = [evaluator, dump]
    elif cfg.get('default_scope') == 'mmseg':
        # mmseg's IoUMetric writes the predicted masks as PNG files into output_dir.
        cfg.test_evaluator['output_dir'] = out
        cfg.test_evaluator['keep_results'] = True
    else:
        raise ValueError(f'--out must be a .pkl file for this config, got {out}')


def build_cfg(args: argparse.Namespace) -> Config:
    cfg = runtime.load_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.show or args.show_dir:
        _enable_visualization(cfg, args)
    if args.out:
        _add_output(cfg, args.out)
    runtime.adapt_cfg_to_cpu(cfg, args.launcher)
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    runtime.set_local_rank(args.local_rank)
    runtime.allow_full_checkpoint_loading()
    try:
        cfg = build_cfg(args)
        runtime.init_cpu_distributed(cfg, args.launcher)
    except (ValueError, RuntimeError) as err:
        sys.exit(f'error: {err}')
    runner = runtime.build_runner(cfg)
    runner.test()


if __name__ == '__main__':
    main()
