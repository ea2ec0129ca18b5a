"""What the learned generator is conditioned on, and how its output meets the full-size frame.

- The "fetching" stream (FLNet): the source crop warped onto each target's landmarks by the
  training-free warp (piecewise-affine mesh warp, with or without its mouth-interior synthesis).
  With `mouth=True` it is exactly the WarpGenerator's output, so attention A = 1 everywhere
  reproduces the warp default and the network only has to learn corrections. It is an input, computed in
  numpy (lmk2video/warp.py): no gradient flows through the warp.
- Landmark maps: compact contour drawings (talkface COMPACT_CHANNELS) or 68 Gaussians.
- Working resolution: the network may run below the crop size (CPU configs). Its inputs are
  area-resized to `work_size`; its attention and colour heads are upsampled inside the generator
  and composited with the full-resolution warp, so where A = 1 the output keeps every pixel of it.

Numpy only (inference never imports torch): the torch side of feeding the net (tensors, area resizing inside
training's graph, run_generator) is lmk2video/learned_torch.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmk2video.warp_generator import WarpGenerator
from lmk2video.triangulation import mesh_points, triangles
from lmk2video.warp import piecewise_affine_warp
from talkface.landmarks.heatmaps import COMPACT_CHANNELS, render_compact, render_heatmaps

HEATMAP_KINDS = {"compact": COMPACT_CHANNELS, "full": 68}


@dataclass
class Conditioning:
    """How a trained generator is fed; recorded with it, because inference must feed it as it was trained."""
    size: int = 128             # crop size the generator was trained at (frames are generated at this size)
    work_size: int = 128        # resolution it runs at inside that crop (< size: CPU configs)
    heatmaps: str = "full"      # landmark maps: "full" (68 Gaussians) or "compact" (4 contour channels)
    warp_mouth: bool = True     # the fetching stream includes the warp default's mouth synthesis
    frames: int = 4             # T of the training clips

    def __post_init__(self):
        if self.work_size % 4 or self.work_size > self.size:
            raise ValueError(f"work_size {self.work_size}: must be a multiple of 4 and at most size {self.size}")


def landmark_channels(kind: str) -> int:
    if kind not in HEATMAP_KINDS:
        raise ValueError(f"heatmaps must be one of {sorted(HEATMAP_KINDS)}, got {kind!r}")
    return HEATMAP_KINDS[kind]


def landmark_maps(lmk, size: int, kind: str):
    """(..., 68, 2) pixel coordinates of a size x size image -> (..., L, size, size) in [0, 1] (numpy or torch, as the
    points)."""
    landmark_channels(kind)
    return render_compact(lmk, size) if kind == "compact" else render_heatmaps(lmk, size)


def rescale_points(lmk, from_size: int, to_size: int):
    """Pixel coordinates (pixel i centred at i) of a from_size image -> those of a to_size image."""
    if from_size == to_size:
        return lmk
    return (lmk + 0.5) * (to_size / from_size) - 0.5


def normalise_points(lmk, size: int):
    """Pixel coordinates -> [-1, 1] crop units (the video critic's landmark targets)."""
    return (lmk + 0.5) * (2.0 / size) - 1.0


class WarpStream:
    """The source warped onto target landmarks: (T, N, N, 3) uint8 from numpy inputs."""

    def __init__(self, mouth: bool = True):
        self.mouth = mouth
        # As the shipped net was trained: bilinear, and the mesh without the forehead points (added after it).
        self._warp = WarpGenerator(interpolation="bilinear", forehead=False) if mouth else None

    def __call__(self, source_crop: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray) -> np.ndarray:
        if self._warp is not None:
            return self._warp(source_crop, source_lmk, target_lmks, batch_size=len(target_lmks))
        out = mesh_warp(source_crop.astype(np.float32), source_lmk, target_lmks)
        return np.clip(np.round(out), 0, 255).astype(np.uint8)


def mesh_warp(image: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray) -> np.ndarray:
    """A float (N, N, C) image carried from source_lmk (68, 2) onto each of target_lmks (T, 68, 2) by
    the net's triangle mesh (landmark + crop-border points, as WarpStream) -> (T, N, N, C) float32 (values are
    not clipped)."""
    src, dst = mesh_points(source_lmk, target_lmks, image.shape[0], forehead=False)
    return piecewise_affine_warp(image, src, dst, triangles(forehead=False))


def to_signed(frames: np.ndarray) -> np.ndarray:
    """uint8 (..., H, W, 3) -> float32 (..., 3, H, W) in [-1, 1] (the net's images)."""
    return np.ascontiguousarray(np.moveaxis(frames, -1, -3), np.float32) / np.float32(127.5) - np.float32(1.0)


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    out = np.round((np.clip(frames, -1.0, 1.0) + np.float32(1.0)) * np.float32(127.5)).astype(np.uint8)
    return np.ascontiguousarray(np.moveaxis(out, -3, -1))


def area_resize(images: np.ndarray, size: int) -> np.ndarray:
    """(..., C, H, W) float32 -> (..., C, size, size): torch's "area" interpolation (adaptive average pooling: output
    pixel i averages input pixels floor(i * H / size) .. ceil((i + 1) * H / size) - 1), as training resized; no-op
    at the same size."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    rows, cols = _pooling(images.shape[-2], size), _pooling(images.shape[-1], size)
    return (rows @ images @ cols.T).astype(np.float32)


def _pooling(n: int, size: int) -> np.ndarray:
    """(size, n) matrix averaging each output pixel's input bins."""
    out = np.zeros((size, n), np.float32)
    for i in range(size):
        start, stop = (i * n) // size, -(-((i + 1) * n) // size)
        out[i, start:stop] = 1.0 / (stop - start)
    return out
