"""Generate small, deterministic, long-tailed medical-like demo datasets.

Two synthetic datasets are rendered on the fly with numpy + Pillow (no download, seconds on one
CPU core) and written in the same layouts as the converted real datasets, so the demo configs
differ from the real ones only in ``data_root`` and the class names:

``data/demo_cls`` -- 7-class dermoscopy-like classification (HAM10000 / ISIC 2018 Task 3 classes).
    Skin-coloured background (tone, illumination, vignette, hairs, noise) with one lesion whose
    class is encoded in a *combination* of colour, size, border irregularity and inner structure
    (network, globules, scale, central patch, lobules, ...). Every class has its own cue, but
    classes overlap in the individual features and vary strongly inside a class, so the rare
    classes are hard because they are rare, not because they are noise. Training counts follow
    the HAM10000 profile (NV 6705 ... DF 115, ratio ~58) scaled to ``--train-head`` images for
    the largest class, optionally reshaped to ``--imbalance-ratio``; val/test are balanced.

    Layout (mmpretrain ``CustomDataset`` with ``ann_file``)::

        data/demo_cls/{train,val,test}/<CLASS>/<index>.png
        data/demo_cls/meta/{train,val,test}.txt     # "train/NV/00012.png 1"
        data/demo_cls/meta/classes.txt
        data/demo_cls/meta/class_counts.json        # {"cls_num_list": [train counts], ...}
        data/demo_cls/manifest.json

``data/demo_seg`` -- 3-class segmentation (background, vessel, lesion): thin curvilinear
    vessel-like structures and small round lesions on a textured background; foreground < 5 %
    of the pixels.

    Layout (mmseg ``BaseSegDataset``)::

        data/demo_seg/img_dir/{train,val,test}/<index>.png
        data/demo_seg/ann_dir/{train,val,test}/<index>.png         # 0 bg, 1 vessel, 2 lesion
        data/demo_seg/ann_dir_binary/{train,val,test}/<index>.png  # 0 bg, 1 vessel or lesion
        data/demo_seg/meta/class_counts.json                       # training pixel counts
        data/demo_seg/manifest.json

Every image is drawn from its own random generator seeded with ``(seed, task, split, index)``,
so the output is byte-identical for the same parameters. A manifest records the parameters;
a second run with the same parameters does nothing (``--force`` regenerates).

Usage::

    python tools/make_demo_data.py                      # both datasets under data/
    python tools/make_demo_data.py --only cls --imbalance-ratio 100 --out data/ir100
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

GENERATOR_VERSION = 1

#: HAM10000 / ISIC 2018 Task 3 classes, in the ground-truth CSV column order.
CLS_CLASSES: Tuple[str, ...] = ('MEL', 'NV', 'BCC', 'AKIEC', 'BKL', 'DF', 'VASC')
#: HAM10000 training counts (Tschandl et al. 2018), imbalance ratio 6705 / 115 = 58.3.
HAM10000_COUNTS: Dict[str, int] = {
    'MEL': 1113, 'NV': 6705, 'BCC': 514, 'AKIEC': 327, 'BKL': 1099, 'DF': 115, 'VASC': 142}
SEG_CLASSES: Tuple[str, ...] = ('background', 'vessel', 'lesion')
SEG_PALETTE = [[0, 0, 0], [255, 64, 64], [64, 255, 64]]
SPLITS = ('train', 'val', 'test')
_TASK_ID = {'cls': 1, 'seg': 2}
_SPLIT_ID = {'train': 0, 'val': 1, 'test': 2}


# =========================================================================== class counts
def long_tail_counts(head: int, imbalance_ratio: Optional[float] = None,
                     profile: Optional[Dict[str, int]] = None,
                     classes: Sequence[str] = CLS_CLASSES) -> List[int]:
    """Per-class training counts that follow a long-tailed profile.

    Each class keeps its relative position ``t_c = log(n_max / n_c) / log(n_max / n_min)`` in
    the profile (HAM10000 by default, ``t = 0`` for the head class, ``1`` for the rarest) and
    gets ``round(head * ratio ** -t_c)`` images, so the largest class has ``head`` images and
    the rarest ``head / ratio``.

    Args:
        head: Number of images of the most frequent class (>= 1).
        imbalance_ratio: Wanted ratio largest / smallest count (>= 1); ``None`` keeps the
            profile's own ratio (58.3 for HAM10000).
        profile: Reference counts per class name (default: HAM10000).
        classes: Class order of the returned list.

    Returns:
        list[int]: Counts in ``classes`` order, each >= 1.
    """
    profile = dict(HAM10000_COUNTS if profile is None else profile)
    if head < 1:
        raise ValueError(f'head (images of the largest class) must be >= 1, got {head}')
    missing = [c for c in classes if c not in profile]
    if missing:
        raise ValueError(f'profile has no count for classes {missing}')
    ref = np.array([profile[c] for c in classes], dtype=np.float64)
    ref_ratio = ref.max() / ref.min()
    if imbalance_ratio is None:
        imbalance_ratio = ref_ratio
    if not (math.isfinite(imbalance_ratio) and imbalance_ratio >= 1):
        raise ValueError(f'imbalance_ratio must be a finite number >= 1, got {imbalance_ratio}')
    t = np.log(ref.max() / ref) / math.log(ref_ratio) if ref_ratio > 1 else np.zeros_like(ref)
    counts = np.maximum(1, np.round(head * float(imbalance_ratio) ** (-t))).astype(int)
    return counts.tolist()


# =========================================================================== drawing helpers
def _rng(seed: int, task: str, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _TASK_ID[task], _SPLIT_ID[split], index])


def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) matrix of linear interpolation weights (cell centres aligned)."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


class _Canvas:
    """Pixel grids and cached interpolation matrices for one image size."""

    def __init__(self, size: int):
        self.size = size
        self.scale = size / 64.0
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
        self.yy, self.xx = yy + 0.5, xx + 0.5
        self._mats: Dict[int, np.ndarray] = {}

    def smooth_noise(self, rng: np.random.Generator, cells: int) -> np.ndarray:
        """Zero-mean, unit-std-ish smooth noise field from a ``cells x cells`` grid."""
        if cells not in self._mats:
            self._mats[cells] = _interp_matrix(self.size, cells)
        m = self._mats[cells]
        return m @ rng.standard_normal((cells, cells)) @ m.T

    def blobs(self, centres: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
        """Sum of isotropic Gaussian blobs, each with peak 1. centres: (K, 2) as (x, y)."""
        out = np.zeros((self.size, self.size))
        for (cx, cy), s in zip(centres, sigmas):
            out += np.exp(-((self.xx - cx) ** 2 + (self.yy - cy) ** 2) / (2 * s * s))
        return np.minimum(out, 1.0)

    def polyline_distance(self, pts: np.ndarray, cutoff: float = 4.0) -> np.ndarray:
        """Distance of every pixel centre to a polyline of (P, 2) points (x, y).

        The polyline is resampled every 0.2 px and distances are splatted into a window of
        ``cutoff * scale`` pixels around each sample; pixels farther away get that cutoff.
        """
        a, b = pts[:-1], pts[1:]
        n = np.maximum(1, np.ceil(np.hypot(*(b - a).T) / 0.2)).astype(int)
        seg = np.repeat(np.arange(len(a)), n)
        t = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n, n)
        samples = np.concatenate([a[seg] + t[:, None] * (b - a)[seg], pts[-1:]], 0)
        cut = cutoff * self.scale
        m = int(math.ceil(cut))
        off = np.arange(-m, m + 1)
        ix = np.floor(samples[:, 0]).astype(int)[:, None, None] + off[None, None, :]
        iy = np.floor(samples[:, 1]).astype(int)[:, None, None] + off[None, :, None]
        d = np.hypot(ix + 0.5 - samples[:, 0, None, None], iy + 0.5 - samples[:, 1, None, None])
        ok = (ix >= 0) & (ix < self.size) & (iy >= 0) & (iy < self.size) & (d < cut)
        flat = np.full(self.size * self.size, cut)
        np.minimum.at(flat, (iy * self.size + ix)[ok], d[ok])
        return flat.reshape(self.size, self.size)


def _random_walk(rng: np.random.Generator, start: np.ndarray, angle: float, steps: int,
                 step_len: float, turn: float) -> np.ndarray:
    """Random curve of ``steps`` segments; the heading turns by N(0, turn) radians per step."""
    headings = angle + np.cumsum(rng.normal(0.0, turn, steps))
    deltas = np.stack([np.cos(headings), np.sin(headings)], 1) * step_len
    return np.concatenate([start[None], start[None] + np.cumsum(deltas, 0)], 0)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _save_png(path: str, array: np.ndarray, palette: Optional[List[List[int]]] = None) -> None:
    img = Image.fromarray(array)
    if palette is not None:
        img = img.convert('P')
        flat = [v for rgb in palette for v in rgb]
        img.putpalette(flat + [0] * (768 - len(flat)))
    img.save(path, format='PNG', optimize=False, compress_level=6)


# =========================================================================== classification
#: Per-class lesion parameters: mean RGB colour, brightness range (``shade``), radius mean/std
#: (px at 64x64), border irregularity, edge softness (px), variegation towards a second colour,
#: and the strengths of the inner structures drawn in :func:`render_cls_image`.
_LESION = {
    'MEL': {'rgb': (95, 60, 48), 'shade': 0.25, 'r': 16.0, 'sr': 3.0, 'irr': 0.13, 'edge': 1.0,
            'vari': 0.9, 'second': (105, 110, 135), 'asym': 0.8, 'network': 0.15,
            'dots': (2, 6), 'dot_rgb': (40, 28, 25)},
    # naevi: the head class, broad shades; a quarter have a lighter centre (overlaps DF)
    'NV': {'rgb': (135, 90, 65), 'shade': 0.3, 'r': 12.5, 'sr': 3.0, 'irr': 0.045, 'edge': 1.2,
           'vari': 0.2, 'second': (95, 62, 45), 'asym': 0.15, 'network': 0.35,
           'dots': (0, 2), 'dot_rgb': (70, 45, 35), 'centre': 0.35, 'centre_prob': 0.25},
    'BCC': {'rgb': (200, 150, 148), 'shade': 0.12, 'r': 11.5, 'sr': 2.5, 'irr': 0.07,
            'edge': 1.5, 'vari': 0.15, 'second': (215, 175, 175), 'alpha': 0.75,
            'globules': (2, 6), 'glob_rgb': (75, 82, 112), 'vessels': (1, 3)},
    'AKIEC': {'rgb': (196, 116, 106), 'shade': 0.2, 'r': 13.5, 'sr': 3.0, 'irr': 0.09,
              'edge': 3.0, 'vari': 0.3, 'second': (215, 150, 135), 'scale': 1.0},
    'BKL': {'rgb': (165, 128, 88), 'shade': 0.2, 'r': 14.0, 'sr': 3.0, 'irr': 0.07, 'edge': 0.8,
            'vari': 0.3, 'second': (135, 100, 70), 'stripes': 0.45, 'milia': (1, 4)},
    'DF': {'rgb': (160, 112, 85), 'shade': 0.15, 'r': 9.0, 'sr': 2.0, 'irr': 0.04, 'edge': 1.6,
           'vari': 0.1, 'second': (150, 105, 80), 'centre': 0.7},
    'VASC': {'rgb': (165, 65, 82), 'shade': 0.2, 'r': 9.5, 'sr': 2.0, 'irr': 0.05, 'edge': 0.9,
             'vari': 0.2, 'second': (130, 50, 80), 'lobules': (3, 6)},
}


def _draw_hairs(cv: _Canvas, rng: np.random.Generator, img: np.ndarray) -> None:
    for _ in range(int(rng.integers(1, 4))):
        start = rng.uniform(0, cv.size, 2)
        pts = _random_walk(rng, start, rng.uniform(0, 2 * np.pi), 40, 1.5 * cv.scale, 0.03)
        d = cv.polyline_distance(pts)
        a = 0.8 * np.exp(-(d / (0.5 * cv.scale)) ** 2)
        img *= (1 - a[..., None])
        img += a[..., None] * rng.uniform(30, 60)


def render_cls_image(rng: np.random.Generator, cls: str, cv: _Canvas) -> np.ndarray:
    """Render one dermoscopy-like RGB image (uint8, HxWx3) of class ``cls``."""
    p = _LESION[cls]
    s, S = cv.size, cv.scale
    # ---- skin background: tone, smooth texture, illumination gradient
    tone = rng.beta(2.0, 3.0)
    skin = (1 - tone) * np.array([238, 204, 182]) + tone * np.array([185, 135, 105])
    skin = skin + rng.normal(0, 6, 3)
    img = np.broadcast_to(skin, (s, s, 3)).copy()
    img += cv.smooth_noise(rng, 6)[..., None] * rng.uniform(3, 9)
    g = rng.uniform(-0.12, 0.12, 2)
    img *= (1 + (g[0] * (cv.xx / s - 0.5) + g[1] * (cv.yy / s - 0.5)))[..., None]

    # ---- lesion shape: Fourier-perturbed ellipse, soft edge
    cx, cy = s / 2 + rng.normal(0, 3.0 * S, 2)
    radius = max(4.0, rng.normal(p['r'], p['sr'])) * S
    aspect = 1 + abs(rng.normal(0, 0.12))
    rot = rng.uniform(0, np.pi)
    dx, dy = cv.xx - cx, cv.yy - cy
    u = dx * np.cos(rot) + dy * np.sin(rot)
    v = (-dx * np.sin(rot) + dy * np.cos(rot)) * aspect
    rho = np.hypot(u, v)
    theta = np.arctan2(v, u)
    irr = p['irr'] * rng.uniform(0.6, 1.4)
    border = np.ones_like(theta)
    for k in range(2, 8):
        border += irr * rng.normal() / math.sqrt(k - 1) * np.cos(k * theta + rng.uniform(0, 6.3))
    rim = radius * border
    edge = p['edge'] * S * rng.uniform(0.7, 1.3)
    mask = 1 / (1 + np.exp(np.clip((rho - rim) / edge, -30, 30)))
    rel = rho / np.maximum(rim, 1e-6)  # 0 at the centre, 1 on the border

    # ---- lesion colour: base + variegation towards a second colour (asymmetric for MEL)
    shade = p['shade']  # within-class brightness range, plus a small hue jitter
    base = np.array(p['rgb'], float) * rng.uniform(1 - shade, 1 + shade) + rng.normal(0, 7, 3)
    second = np.array(p['second'], float) * rng.uniform(0.85, 1.15) + rng.normal(0, 7, 3)
    field = cv.smooth_noise(rng, 4)
    if p.get('asym'):
        ang = rng.uniform(0, 2 * np.pi)
        field = field + p['asym'] * 2.0 * (np.cos(ang) * dx + np.sin(ang) * dy) / max(radius, 1)
    w2 = np.clip(0.5 + 0.5 * field, 0, 1) * p['vari'] * rng.uniform(0.6, 1.2)
    les = base * (1 - w2[..., None]) + second * w2[..., None]
    les = les + cv.smooth_noise(rng, 16)[..., None] * 4

    # ---- class-specific inner structures
    if p.get('network'):  # pigment network: dark mesh
        f = rng.uniform(0.7, 1.1) / S
        ph = rng.uniform(0, 6.3, 2)
        mesh = (np.sin(cv.xx * f + ph[0]) * np.sin(cv.yy * f + ph[1])) ** 2
        les *= (1 - p['network'] * rng.uniform(0.5, 1.2) * (1 - mesh))[..., None]
    if p.get('dots'):  # dark dots, more towards the periphery
        n = int(rng.integers(p['dots'][0], p['dots'][1] + 1))
        if n:
            ang = rng.uniform(0, 2 * np.pi, n)
            rr = radius * rng.uniform(0.3, 0.9, n)
            ctr = np.stack([cx + rr * np.cos(ang), cy + rr * np.sin(ang)], 1)
            a = cv.blobs(ctr, np.full(n, 0.9 * S))
            les = les * (1 - a[..., None]) + np.array(p['dot_rgb'])[None, None] * a[..., None]
    if p.get('globules'):  # BCC: blue-grey ovoid globules
        n = int(rng.integers(p['globules'][0], p['globules'][1] + 1))
        ang = rng.uniform(0, 2 * np.pi, n)
        rr = radius * rng.uniform(0.0, 0.8, n)
        ctr = np.stack([cx + rr * np.cos(ang), cy + rr * np.sin(ang)], 1)
        a = 0.9 * cv.blobs(ctr, rng.uniform(1.0, 1.8, n) * S)
        les = les * (1 - a[..., None]) + np.array(p['glob_rgb'])[None, None] * a[..., None]
    if p.get('vessels'):  # BCC: arborizing red vessels
        for _ in range(int(rng.integers(p['vessels'][0], p['vessels'][1] + 1))):
            start = np.array([cx, cy]) + rng.normal(0, radius * 0.3, 2)
            pts = _random_walk(rng, start, rng.uniform(0, 2 * np.pi), 12, 0.9 * S, 0.25)
            a = 0.85 * np.exp(-(cv.polyline_distance(pts) / (0.45 * S)) ** 2)
            les = les * (1 - a[..., None]) + np.array([170, 35, 45])[None, None] * a[..., None]
    if p.get('scale'):  # AKIEC: rough whitish scale
        speck = np.clip(rng.standard_normal((s, s)) * 0.5 + cv.smooth_noise(rng, 12), 0, None)
        amt = p['scale'] * rng.uniform(0.4, 1.0)
        a = np.clip(speck * amt * 0.6, 0, 0.8)
        les = les * (1 - a[..., None]) + np.array([235, 220, 210])[None, None] * a[..., None]
    if p.get('stripes'):  # BKL: cerebriform ridges
        f = rng.uniform(0.9, 1.5) / S
        ang = rng.uniform(0, np.pi)
        warp = cv.smooth_noise(rng, 5) * 2.5
        ridge = np.sin((np.cos(ang) * cv.xx + np.sin(ang) * cv.yy) * f + warp)
        les *= (1 - p['stripes'] * rng.uniform(0.5, 1.1) * 0.5 * (1 + ridge))[..., None]
    if p.get('milia'):  # BKL: milia-like white cysts
        n = int(rng.integers(p['milia'][0], p['milia'][1] + 1))
        ang = rng.uniform(0, 2 * np.pi, n)
        rr = radius * rng.uniform(0.0, 0.75, n)
        ctr = np.stack([cx + rr * np.cos(ang), cy + rr * np.sin(ang)], 1)
        a = 0.85 * cv.blobs(ctr, np.full(n, 0.8 * S))
        les = les * (1 - a[..., None]) + np.array([240, 232, 215])[None, None] * a[..., None]
    if p.get('centre') and rng.random() < p.get('centre_prob', 1.0):  # DF: white central patch
        c_r = rng.uniform(0.3, 0.55)
        a = p['centre'] * rng.uniform(0.5, 1.1) / (1 + np.exp((rel - c_r) / 0.08))
        les = les * (1 - a[..., None]) + np.array([232, 215, 205])[None, None] * a[..., None]
    if p.get('lobules'):  # VASC: red-purple lobules separated by pale septa
        n = int(rng.integers(p['lobules'][0], p['lobules'][1] + 1))
        ang = rng.uniform(0, 2 * np.pi, n)
        rr = radius * rng.uniform(0.2, 0.6, n)
        ctr = np.stack([cx + rr * np.cos(ang), cy + rr * np.sin(ang)], 1)
        lob = cv.blobs(ctr, radius * rng.uniform(0.22, 0.35, n))
        sept = np.clip(1 - lob * 1.6, 0, 1) * 0.55
        les = les * (1 - sept[..., None]) + np.array([200, 150, 160])[None, None] * sept[..., None]
        les = les * (0.8 + 0.2 * lob)[..., None]

    alpha = mask * p.get('alpha', 1.0)
    img = img * (1 - alpha[..., None]) + les * alpha[..., None]

    # ---- nuisances: hairs, dermoscope vignette, sensor noise
    if rng.random() < 0.3:
        _draw_hairs(cv, rng, img)
    if rng.random() < 0.4:
        r0 = rng.uniform(0.62, 0.8) * s
        dist = np.hypot(cv.xx - s / 2, cv.yy - s / 2)
        img *= (1 / (1 + np.exp((dist - r0) / (1.5 * S))))[..., None] * 0.9 + 0.1
    img *= rng.uniform(0.85, 1.12)
    img += rng.normal(0, rng.uniform(2, 7), img.shape)
    return _to_uint8(img)


# =========================================================================== segmentation
def render_seg_image(rng: np.random.Generator, cv: _Canvas,
                     fg_budget: float = 0.045) -> Tuple[np.ndarray, np.ndarray]:
    """Render one fundus/microscopy-like image and its label map.

    Returns:
        (image uint8 HxWx3, label uint8 HxW with 0 background, 1 vessel, 2 lesion).
    """
    s, S = cv.size, cv.scale
    base = np.array([175, 92, 58]) + rng.normal(0, 14, 3)
    img = np.broadcast_to(base, (s, s, 3)).copy()
    tex = (cv.smooth_noise(rng, 4) * rng.uniform(6, 12)
           + cv.smooth_noise(rng, 10) * rng.uniform(3, 7)
           + cv.smooth_noise(rng, 24) * rng.uniform(2, 5))
    img += tex[..., None] * np.array([1.0, 0.7, 0.5])
    g = rng.uniform(-0.15, 0.15, 2)
    img *= (1 + (g[0] * (cv.xx / s - 0.5) + g[1] * (cv.yy / s - 0.5)))[..., None]
    label = np.zeros((s, s), np.uint8)
    budget = fg_budget * s * s

    # vessels: darker smooth curves entering from the border, 1-2 px wide
    vessel = np.zeros((s, s), bool)
    darken = np.zeros((s, s))
    for _ in range(int(rng.integers(1, 4))):
        side = rng.integers(4)
        t = rng.uniform(0.1, 0.9) * s
        start = np.array([[t, 0.0], [t, s], [0.0, t], [s, t]][side])
        aim = np.arctan2(s / 2 - start[1] + rng.normal(0, 10 * S),
                         s / 2 - start[0] + rng.normal(0, 10 * S))
        pts = _random_walk(rng, start, aim, int(rng.integers(20, 45)), 1.5 * S, 0.06)
        width = rng.uniform(0.9, 1.8) * S
        contrast = rng.uniform(0.25, 0.5)
        branches = [(pts, width)]
        if rng.random() < 0.5:  # a thinner branch leaving the vessel at an angle
            k = int(rng.integers(len(pts) // 4, 3 * len(pts) // 4 + 1))
            heading = np.arctan2(*(pts[k] - pts[k - 1])[::-1]) + rng.choice([-1, 1]) * 0.7
            branches.append((_random_walk(rng, pts[k], heading, int(rng.integers(8, 20)),
                                          1.5 * S, 0.08), max(0.8 * S, 0.7 * width)))
        for line, w in branches:
            d = cv.polyline_distance(line)
            core = d <= w / 2
            if (vessel | core).sum() > 0.8 * budget:
                break
            vessel |= core
            darken = np.maximum(darken, contrast * np.exp(-(d / (0.6 * w)) ** 2))
    img *= (1 - darken)[..., None]
    label[vessel] = 1

    # lesions: small round bright (exudate-like) or dark-red (haemorrhage-like) spots
    n_les = int(rng.choice([0, 1, 1, 2, 2, 3]))
    for _ in range(n_les):
        r = rng.uniform(1.2, 2.8) * S
        c = rng.uniform(0.12 * s, 0.88 * s, 2)
        d = np.hypot(cv.xx - c[0], cv.yy - c[1])
        core = d <= r
        if (label > 0).sum() + core.sum() > budget:
            break
        a = 1 / (1 + np.exp((d - r) / (0.35 * S)))
        colour = (np.array([235, 205, 110]) if rng.random() < 0.5 else np.array([95, 25, 20]))
        colour = colour + rng.normal(0, 12, 3)
        img = img * (1 - a[..., None]) + colour[None, None] * a[..., None]
        label[core] = 2

    img *= rng.uniform(0.85, 1.12)
    img += rng.normal(0, rng.uniform(3, 8), img.shape)
    return _to_uint8(img), label


# =========================================================================== writers
def _manifest_path(root: str) -> str:
    return os.path.join(root, 'manifest.json')


def _read_manifest(root: str) -> Optional[dict]:
    try:
        with open(_manifest_path(root)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _prepare(root: str, owned: Sequence[str], params: dict, force: bool) -> bool:
    """Return True when ``root`` must be (re)generated; clear the paths this tool owns."""
    if not force and _read_manifest(root) == params:
        return False
    for name in list(owned) + ['manifest.json']:
        path = os.path.join(root, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
    os.makedirs(root, exist_ok=True)
    return True


def _write_json(path: str, obj) -> None:
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')


def make_cls(out: str = 'data', seed: int = 0, size: int = 64, head: int = 1340,
             imbalance_ratio: Optional[float] = None, val_per_class: int = 40,
             test_per_class: int = 40, force: bool = False, name: str = 'demo_cls',
             verbose: bool = True) -> str:
    """Write the classification demo set to ``<out>/<name>``; return that directory."""
    if size < 16:
        raise ValueError(f'--cls-size must be >= 16, got {size}')
    if val_per_class < 1 or test_per_class < 1:
        raise ValueError('--val-per-class and --test-per-class must be >= 1')
    train_counts = long_tail_counts(head, imbalance_ratio)
    root = os.path.join(out, name)
    params = {'generator_version': GENERATOR_VERSION, 'task': 'cls', 'seed': seed,
              'size': size, 'head': head, 'imbalance_ratio': imbalance_ratio,
              'val_per_class': val_per_class, 'test_per_class': test_per_class,
              'classes': list(CLS_CLASSES), 'train_counts': train_counts}
    if not _prepare(root, ['train', 'val', 'test', 'meta'], params, force):
        if verbose:
            print(f'{root}: up to date (same parameters); use --force to regenerate')
        return root
    t0 = time.time()
    cv = _Canvas(size)
    counts = {'train': train_counts, 'val': [val_per_class] * len(CLS_CLASSES),
              'test': [test_per_class] * len(CLS_CLASSES)}
    os.makedirs(os.path.join(root, 'meta'), exist_ok=True)
    for split in SPLITS:
        lines = []
        index = 0
        for label, cls in enumerate(CLS_CLASSES):
            folder = os.path.join(root, split, cls)
            os.makedirs(folder, exist_ok=True)
            for k in range(counts[split][label]):
                img = render_cls_image(_rng(seed, 'cls', split, index), cls, cv)
                index += 1
                fname = f'{k:05d}.png'
                _save_png(os.path.join(folder, fname), img)
                lines.append(f'{split}/{cls}/{fname} {label}')
        with open(os.path.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    with open(os.path.join(root, 'meta', 'classes.txt'), 'w') as f:
        f.write('\n'.join(CLS_CLASSES) + '\n')
    _write_json(os.path.join(root, 'meta', 'class_counts.json'), {
        'classes': list(CLS_CLASSES),
        'cls_num_list': counts['train'],
        'splits': counts,
        'imbalance_ratio': max(train_counts) / min(train_counts),
    })
    _write_json(_manifest_path(root), params)
    if verbose:
        print(f'{root}: train {sum(train_counts)} images {dict(zip(CLS_CLASSES, train_counts))}'
              f' (ratio {max(train_counts) / min(train_counts):.1f}), val {sum(counts["val"])},'
              f' test {sum(counts["test"])}, {size}x{size}, {time.time() - t0:.1f}s')
    return root


def make_seg(out: str = 'data', seed: int = 0, size: int = 64, n_train: int = 300,
             n_val: int = 60, n_test: int = 60, force: bool = False, name: str = 'demo_seg',
             verbose: bool = True) -> str:
    """Write the segmentation demo set to ``<out>/<name>``; return that directory."""
    if size < 32:
        raise ValueError(f'--seg-size must be >= 32, got {size}')
    if min(n_train, n_val, n_test) < 1:
        raise ValueError('--seg-train/--seg-val/--seg-test must be >= 1')
    root = os.path.join(out, name)
    params = {'generator_version': GENERATOR_VERSION, 'task': 'seg', 'seed': seed,
              'size': size, 'n_train': n_train, 'n_val': n_val, 'n_test': n_test,
              'classes': list(SEG_CLASSES)}
    if not _prepare(root, ['img_dir', 'ann_dir', 'ann_dir_binary', 'meta'], params, force):
        if verbose:
            print(f'{root}: up to date (same parameters); use --force to regenerate')
        return root
    t0 = time.time()
    cv = _Canvas(size)
    pixel_counts = {}
    for split, n in zip(SPLITS, (n_train, n_val, n_test)):
        dirs = [os.path.join(root, d, split) for d in ('img_dir', 'ann_dir', 'ann_dir_binary')]
        for d in dirs:
            os.makedirs(d, exist_ok=True)
        hist = np.zeros(len(SEG_CLASSES), np.int64)
        for i in range(n):
            img, label = render_seg_image(_rng(seed, 'seg', split, i), cv)
            fname = f'{i:05d}.png'
            _save_png(os.path.join(dirs[0], fname), img)
            _save_png(os.path.join(dirs[1], fname), label)
            _save_png(os.path.join(dirs[2], fname), (label > 0).astype(np.uint8))
            hist += np.bincount(label.ravel(), minlength=len(SEG_CLASSES))
        pixel_counts[split] = hist.tolist()
    os.makedirs(os.path.join(root, 'meta'), exist_ok=True)
    train = np.array(pixel_counts['train'])
    _write_json(os.path.join(root, 'meta', 'class_counts.json'), {
        'classes': list(SEG_CLASSES),
        'cls_num_list': pixel_counts['train'],
        'binary_cls_num_list': [int(train[0]), int(train[1:].sum())],
        'splits': pixel_counts,
        'foreground_fraction': float(train[1:].sum() / train.sum()),
    })
    _write_json(_manifest_path(root), params)
    if verbose:
        frac = train / train.sum()
        print(f'{root}: train {n_train}, val {n_val}, test {n_test} images {size}x{size}; '
              f'training pixel fractions ' +
              ', '.join(f'{c} {f:.2%}' for c, f in zip(SEG_CLASSES, frac)) +
              f'; {time.time() - t0:.1f}s')
    return root


# =========================================================================== CLI
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--out', default='data', help='parent folder of demo_cls/ and demo_seg/')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--only', choices=['cls', 'seg'], help='generate only one of the two sets')
    p.add_argument('--force', action='store_true', help='regenerate even if up to date')
    p.add_argument('--quiet', action='store_true')
    g = p.add_argument_group('classification')
    g.add_argument('--cls-size', type=int, default=64, help='image side in pixels')
    g.add_argument('--imbalance-ratio', type=float, default=None,
                   help='largest/smallest training count; default: HAM10000 profile (58.3)')
    g.add_argument('--train-head', type=int, default=1340,
                   help='training images of the largest class (NV)')
    g.add_argument('--val-per-class', type=int, default=40)
    g.add_argument('--test-per-class', type=int, default=40)
    g.add_argument('--cls-name', default='demo_cls', help='output sub-folder name')
    g = p.add_argument_group('segmentation')
    g.add_argument('--seg-size', type=int, default=64, help='image side in pixels')
    g.add_argument('--seg-train', type=int, default=300)
    g.add_argument('--seg-val', type=int, default=60)
    g.add_argument('--seg-test', type=int, default=60)
    g.add_argument('--seg-name', default='demo_seg', help='output sub-folder name')
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        if args.only in (None, 'cls'):
            make_cls(args.out, args.seed, args.cls_size, args.train_head, args.imbalance_ratio,
                     args.val_per_class, args.test_per_class, args.force, args.cls_name,
                     not args.quiet)
        if args.only in (None, 'seg'):
            make_seg(args.out, args.seed, args.seg_size, args.seg_train, args.seg_val,
                     args.seg_test, args.force, args.seg_name, not args.quiet)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
