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
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lmk2video.warp_generator import WarpGenerator
from lmk2video.networks import Generator, LstmState
from lmk2video.triangulation import mesh_points, triangles
from lmk2video.warp import piecewise_affine_warp
from talkface.landmarks.heatmaps import COMPACT_CHANNELS, render_compact, render_heatmaps

HEATMAP_KINDS = {"compact": COMPACT_CHANNELS, "full": 68}


def landmark_channels(kind: str) -> int:
    if kind not in HEATMAP_KINDS:
        raise ValueError(f"heatmaps must be one of {sorted(HEATMAP_KINDS)}, got {kind!r}")
    return HEATMAP_KINDS[kind]


def landmark_maps(lmk: torch.Tensor, size: int, kind: str) -> torch.Tensor:
    """(..., 68, 2) pixel coordinates of a size x size image -> (..., L, size, size) in [0, 1]."""
    landmark_channels(kind)
    return render_compact(lmk, size) if kind == "compact" else render_heatmaps(lmk, size)


def rescale_points(lmk: torch.Tensor, from_size: int, to_size: int) -> torch.Tensor:
    """Pixel coordinates (pixel i centred at i) of a from_size image -> those of a to_size image."""
    if from_size == to_size:
        return lmk
    return (lmk + 0.5) * (to_size / from_size) - 0.5


def normalise_points(lmk: torch.Tensor, size: int) -> torch.Tensor:
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


def to_signed(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    return frames.movedim(-1, -3).float() / 127.5 - 1.0


def to_uint8(frames: torch.Tensor) -> torch.Tensor:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    return ((frames.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).movedim(-3, -1)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Area-resize (..., C, H, W) to size x size (no-op at the same size)."""
    if images.shape[-1] == size:
        return images
    lead = images.shape[:-3]
    out = F.interpolate(images.flatten(0, -4) if lead else images[None], size=(size, size), mode="area")
    return out.reshape(*lead, *out.shape[1:]) if lead else out[0]


def run_generator(g: Generator, source: torch.Tensor, source_lmk: torch.Tensor, target_lmk: torch.Tensor,
                  warped: torch.Tensor, heatmaps: str, work_size: int, state: LstmState | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, LstmState]:
    """One chunk of frames at full size.

    source (B, 3, N, N) and warped (B, T, 3, N, N) in [-1, 1]; source_lmk (B, 68, 2) and
    target_lmk (B, T, 68, 2) in N-pixel coordinates. Returns frames, attention, colour at N and the
    ConvLSTM state to pass to the next chunk.
    """
    n = source.shape[-1]
    with torch.autocast(source.device.type, enabled=False):  # the line drawings stay float32
        maps_s = landmark_maps(rescale_points(source_lmk, n, work_size), work_size, heatmaps)
        maps_t = landmark_maps(rescale_points(target_lmk, n, work_size), work_size, heatmaps)
    return g(resize(source, work_size), maps_s, maps_t, resize(warped, work_size), state, full_warped=warped)
