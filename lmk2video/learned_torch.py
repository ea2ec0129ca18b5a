"""The learned generator on torch: its tensors for training (to_signed, resize, run_generator) and the torch backend
of inference (`TorchNet`, the runner lmk2video.learned.LearnedGenerator calls like the ONNX one)."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from lmk2video.conditioning import landmark_maps, rescale_points
from lmk2video.networks import Generator, LstmState
from talkface.checkpoint import load_model


def to_signed(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    return frames.movedim(-1, -3).float() / 127.5 - 1.0


def to_uint8(frames: torch.Tensor) -> torch.Tensor:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    return ((frames.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).movedim(-3, -1)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Area-resize (..., C, H, W) to size x size (no-op at the same size; lmk2video.conditioning.area_resize in
    numpy)."""
    if images.shape[-1] == size:
        return images
    lead = images.shape[:-3]
    out = F.interpolate(images.flatten(0, -4) if lead else images[None], size=(size, size), mode="area")
    return out.reshape(*lead, *out.shape[1:]) if lead else out[0]


def run_generator(g: Generator, source: torch.Tensor, source_lmk: torch.Tensor, target_lmk: torch.Tensor,
                  warped: torch.Tensor, heatmaps: str, work_size: int, state: LstmState | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, LstmState]:
    """One chunk of frames at full size (training's batches).

    source (B, 3, N, N) and warped (B, T, 3, N, N) in [-1, 1]; source_lmk (B, 68, 2) and
    target_lmk (B, T, 68, 2) in N-pixel coordinates. Returns frames, attention, colour at N and the
    ConvLSTM state to pass to the next chunk.
    """
    n = source.shape[-1]
    with torch.autocast(source.device.type, enabled=False):  # the line drawings stay float32
        maps_s = landmark_maps(rescale_points(source_lmk, n, work_size), work_size, heatmaps)
        maps_t = landmark_maps(rescale_points(target_lmk, n, work_size), work_size, heatmaps)
    return g(resize(source, work_size), maps_s, maps_t, resize(warped, work_size), state, full_warped=warped)


class TorchNet:
    """The generator on torch behind the runner call of lmk2video.learned (numpy in and out, one clip):
    source (3, w, w), source_maps (L, w, w), target_maps (T, L, w, w), warped (T, 3, w, w) at the work size and
    full_warped (T, 3, N, N), all float32, images in [-1, 1]; state None or the last call's -> (frames (T, 3, N, N),
    attention (T, N, N), state)."""

    def __init__(self, g: Generator, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.g = g.to(self.device).eval()
        self.conditioning = g.conditioning

    @torch.no_grad()
    def __call__(self, source, source_maps, target_maps, warped, full_warped, state):
        def tensor(a):
            return torch.from_numpy(np.ascontiguousarray(a)).to(self.device)[None]

        out, attention, _, state = self.g(tensor(source), tensor(source_maps), tensor(target_maps), tensor(warped),
                                          state, full_warped=tensor(full_warped))
        return out[0].float().cpu().numpy(), attention[0, :, 0].float().cpu().numpy(), state


def load(path: str | os.PathLike, device: str = "cpu") -> tuple[TorchNet, dict]:
    """(runner, sidecar) of an lmk2video checkpoint (talkface.checkpoint.load_model)."""
    g, meta = load_model(path, Generator, device)
    return TorchNet(g, device), meta
