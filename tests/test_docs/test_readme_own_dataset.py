"""The README's "use it on your own dataset" classification config trains as written.

The config block is taken from README.md verbatim; only its relative ``_base_`` is made
absolute (the block is written to a temporary folder) and the run is shrunk with
``--cfg-options``-style overrides (tiny images, 2 iterations, no pretrained download).
"""
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _readme_block() -> str:
    text = (REPO / 'README.md').read_text()
    section = text[text.index('## Use it on your own dataset'):]
    match = re.search(r'```python\n(.*?)```', section, re.S)
    assert match, 'README: no python block in "Use it on your own dataset"'
    return '\n'.join(line[3:] if line.startswith('   ') else line
                     for line in match.group(1).splitlines())


def _write_dataset(root: Path, counts) -> None:
    from PIL import Image
    rng = np.random.default_rng(0)
    (root / 'meta').mkdir(parents=True)
    for split in ('train', 'val'):
        lines = []
        for label, n in enumerate(counts):
            for i in range(n):
                rel = f'{split}/{label}_{i}.png'
                (root / split).mkdir(exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / rel)
                lines.append(f'{rel} {label}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')


def test_readme_own_dataset_config_trains(tmp_path, monkeypatch):
    pytest.importorskip('mmpretrain')
    from mmengine.config import Config
    from mmengine.runner import Runner

    import mmloss_plugin  # noqa: F401
    from mmloss_plugin.losses import BaseLoss

    block = _readme_block()
    assert "_base_ = ['../" in block
    cfg_dir = tmp_path / 'configs' / 'my_data'
    cfg_dir.mkdir(parents=True)
    cfg_file = cfg_dir / 'resnet50_lmf_mydata.py'
    cfg_file.write_text(block.replace("_base_ = ['../", f"_base_ = ['{REPO}/configs/"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    cfg = Config.fromfile(str(cfg_file))
    classes = cfg.classes
    counts = [6, 3, 1][:len(classes)] + [1] * max(0, len(classes) - 3)
    _write_dataset(tmp_path / cfg.data_root, counts)

    tiny = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(32, 32)),
            dict(type='PackInputs')]
    cfg.merge_from_dict({
        'model.backbone.init_cfg': None,
        'train_dataloader.batch_size': 2, 'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False, 'train_dataloader.dataset.pipeline': tiny,
        'val_dataloader.batch_size': 2, 'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False, 'val_dataloader.dataset.pipeline': tiny,
        'train_cfg.max_epochs': 1, 'work_dir': str(tmp_path / 'work'),
    })
    cfg.test_dataloader = cfg.val_dataloader
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.param_scheduler = []
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = [m for m in runner.model.modules() if isinstance(m, BaseLoss)]
    assert losses, 'the README config did not build a plugin loss'
    # ClassCountsHook filled the counts from the training set.
    assert losses[0].cls_num.tolist() == [float(c) for c in counts]
    assert runner.model.head.num_classes == len(classes)
    metrics = runner.val_loop.run()
    assert 'longtail/balanced_accuracy' in metrics or any('balanced' in k for k in metrics)
    assert os.path.isfile(tmp_path / 'work' / 'epoch_1.pth'), sys.platform
