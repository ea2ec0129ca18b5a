"""The fetch-attention net as a torch module (training, and the dub's `--backend torch`); its inputs and what it
computes are documented in lmk2video/fetch_attention.py, which runs it (or its ONNX export) at inference."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn as nn

from lmk2video.fetch_attention import DISTANCE_SCALE, LOG_FLOOR, N_FEATURES
from talkface.checkpoint import load_model


def features(pixels: torch.Tensor, distances: torch.Tensor, weights: torch.Tensor, masks: torch.Tensor,
             valid: torch.Tensor) -> torch.Tensor:
    """The net's input: pixels (B, C, 3, w, w), shape distances and weights (B, C), lip masks (B, 2, w, w),
    valid (B, C) -> (B, C, N_FEATURES, w, w): per candidate its pixels, minus the valid candidates' mean, minus
    the frame's own (candidate 0), its distance / DISTANCE_SCALE and log weight, the lip masks."""
    b, c, _, h, w = pixels.shape
    keep = valid[:, :, None, None, None].float()
    mean = (pixels * keep).sum(1, keepdim=True) / keep.sum(1, keepdim=True).clamp(min=1)
    scalars = torch.stack([distances / DISTANCE_SCALE, torch.log(weights.clamp(min=LOG_FLOOR))], 2)
    return torch.cat([pixels, pixels - mean, pixels - pixels[:, :1], scalars[:, :, :, None, None].expand(b, c, 2, h, w),
                      masks[:, None].expand(b, c, 2, h, w)], 2) * keep


class FetchAttention(nn.Module):
    """Per-pixel softmax weights over a frame's fetched candidates (inputs: see `features`)."""

    checkpoint_kind = "fetch_attention"

    def __init__(self, width: int = 16, work_size: int = 32):
        super().__init__()
        self.width, self.work_size = width, work_size
        act = nn.LeakyReLU(0.2)
        self.encode = nn.Sequential(nn.Conv2d(N_FEATURES, width, 3, padding=1), act,
                                    nn.Conv2d(width, width, 3, padding=2, dilation=2), act)
        # after the encoder each candidate also sees the per-pixel maximum over all candidates
        self.score = nn.Sequential(nn.Conv2d(2 * width, width, 3, padding=4, dilation=4), act,
                                   nn.Conv2d(width, width, 3, padding=1), act,
                                   nn.Conv2d(width, 1, 3, padding=1))
        nn.init.zeros_(self.score[-1].weight)
        nn.init.zeros_(self.score[-1].bias)

    def model_config(self) -> dict:
        return {"width": self.width, "work_size": self.work_size}

    @classmethod
    def from_config(cls, config: dict) -> "FetchAttention":
        return cls(**config)

    def forward(self, pixels: torch.Tensor, distances: torch.Tensor, weights: torch.Tensor, masks: torch.Tensor,
                valid: torch.Tensor) -> torch.Tensor:
        """Inputs as `features`; -> (B, C, w, w) weights, 0 on invalid candidates, summing to 1 at each pixel."""
        x = features(pixels, distances, weights, masks, valid)
        b, c, f, h, w = x.shape
        hidden = self.encode(x.reshape(b * c, f, h, w)).reshape(b, c, -1, h, w)
        pooled = hidden.masked_fill(~valid[:, :, None, None, None], -1e4).amax(1, keepdim=True).expand_as(hidden)
        logits = self.score(torch.cat([hidden, pooled], 2).reshape(b * c, -1, h, w)).reshape(b, c, h, w)
        logits = logits + torch.log(weights.clamp(min=LOG_FLOOR))[:, :, None, None]  # zero net = the shape blend
        return torch.softmax(logits.masked_fill(~valid[:, :, None, None], -1e9), dim=1)


class TorchFetchAttention:
    """A FetchAttention behind the numpy runner call of lmk2video.fetch_attention.pixel_weights."""

    def __init__(self, model: FetchAttention, device: str = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.work_size = model.work_size

    @torch.no_grad()
    def __call__(self, *arrays: np.ndarray) -> np.ndarray:
        return self.model(*(torch.from_numpy(a).to(self.device) for a in arrays)).cpu().numpy()


def load(path: str | os.PathLike, device: str = "cpu") -> TorchFetchAttention:
    return TorchFetchAttention(load_model(path, FetchAttention, device)[0], device)
