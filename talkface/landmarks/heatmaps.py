"""Landmarks -> image-like maps for generators: one Gaussian per point, or a few drawn contours.

One implementation for numpy and torch: numpy points give numpy maps (inference, which never imports torch), torch
points give torch maps on their device (training; differentiable in the landmarks). Batched over any leading dims.
Coordinates are pixels of the size x size crop with pixel i centred at coordinate i (cv2's convention, as produced
by CropTransform.to_crop).
"""
from __future__ import annotations

import math

import numpy as np

# Compact rendering: each channel holds the polylines below, drawn as soft lines.
#   0: jaw outline, brows and nose   1: both eyes   2: outer lips   3: inner lips
# Each polyline is (point indices, closed?).
COMPACT_PARTS: tuple[tuple[tuple[range, bool], ...], ...] = (
    ((range(0, 17), False), (range(17, 22), False), (range(22, 27), False),
     (range(27, 31), False), (range(31, 36), False)),
    ((range(36, 42), True), (range(42, 48), True)),
    ((range(48, 60), True),),
    ((range(60, 68), True),),
)
COMPACT_CHANNELS = len(COMPACT_PARTS)


def _points(lmk):
    """(points float32, its array module, a pixel grid maker): torch tensors stay torch (torch imported only then)."""
    if type(lmk).__module__.startswith("torch"):
        import torch

        pts = lmk.to(torch.float32)
        return pts, torch, lambda n: torch.arange(n, device=pts.device, dtype=torch.float32)
    pts = np.asarray(lmk, np.float32)
    return pts, np, lambda n: np.arange(n, dtype=np.float32)


def render_heatmaps(lmk, size: int, sigma: float | None = None):
    """(..., N, 2) points -> (..., N, size, size) float32 Gaussians with peak 1.

    sigma defaults to 1.5 px per 64 px of crop (3 px at 128). Separable: a Gaussian in x
    times a Gaussian in y, so the cost is one outer product per point.
    """
    pts, xp, arange = _points(lmk)
    if pts.shape[-1] != 2:
        raise ValueError(f"landmarks must be (..., N, 2), got {tuple(pts.shape)}")
    sigma = size / 64 * 1.5 if sigma is None else sigma
    grid = arange(size)
    gx = xp.exp(-((grid - pts[..., 0:1]) ** 2) / (2 * sigma**2))  # (..., N, size)
    gy = xp.exp(-((grid - pts[..., 1:2]) ** 2) / (2 * sigma**2))
    return gy[..., :, None] * gx[..., None, :]


def _segments(channel: int) -> tuple[list[int], list[int]]:
    starts: list[int] = []
    ends: list[int] = []
    for idx, closed in COMPACT_PARTS[channel]:
        pts = list(idx) + ([idx[0]] if closed else [])
        starts += pts[:-1]
        ends += pts[1:]
    return starts, ends


def render_compact(lmk, size: int, sigma: float | None = None):
    """(..., 68, 2) -> (..., COMPACT_CHANNELS, size, size) float32 soft line drawings in [0, 1].

    Each contour is drawn as Gaussians sampled densely along its segments and weighted by
    their spacing, so a straight line has the cross-section exp(-d^2 / 2 sigma^2) with peak 1
    (ends fade to 0.5; where lines overlap, e.g. a closed mouth, values are clipped at 1).
    Separable Gaussians make this one small matrix product per channel. sigma defaults to
    1 px per 64 px of crop (2 px at 128).
    """
    pts, xp, arange = _points(lmk)
    if pts.shape[-1] != 2 or pts.shape[-2] != 68:
        raise ValueError(f"render_compact needs (..., 68, 2) landmarks, got {tuple(pts.shape)}")
    sigma = size / 64 if sigma is None else sigma
    grid = arange(size)
    lead = tuple(pts.shape[:-2])
    channels = []
    for channel in range(COMPACT_CHANNELS):
        starts, ends = _segments(channel)
        a = pts[..., starts, :]
        ab = pts[..., ends, :] - a  # (..., S, 2)
        length = (ab**2).sum(-1) ** 0.5  # (..., S)
        # Samples at most sigma apart keep the summed line free of beads.
        k = max(2, math.ceil(length.max().item() / sigma))
        t = (arange(k) + 0.5) / k
        samples = (a[..., None, :] + t[:, None] * ab[..., None, :]).reshape(*lead, len(starts) * k, 2)
        weight = ((length / k / (math.sqrt(2 * math.pi) * sigma))[..., None] + 0 * t).reshape(*lead, len(starts) * k)
        gx = xp.exp(-((grid - samples[..., 0:1]) ** 2) / (2 * sigma**2)) * weight[..., None]
        gy = xp.exp(-((grid - samples[..., 1:2]) ** 2) / (2 * sigma**2))
        channels.append(gy.swapaxes(-1, -2) @ gx)  # (..., size(y), size(x))
    return xp.stack(channels, -3).clip(max=1.0)
