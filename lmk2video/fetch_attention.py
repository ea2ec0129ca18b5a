"""Learned attention over fetched mouths: per-pixel weights for blending the video's own frames (FLNet's
fetching stream) once they are warped onto the target mouth.

The dub fetches, for each output frame, the frame itself and a few bank frames whose mouths best match the
target (talkface.mouth_bank.fetch_weights), warps them onto the target landmarks and blends them inside the lips.
The shape-distance blend gives each candidate one weight for all its pixels; this net gives each pixel its own
softmax over the candidates, so teeth can come from one frame and a lip corner from another, and a candidate
whose warp smears (a closed mouth stretched open) can be ignored where it smears.

It works on a small square box around the lips (`mouth_box`), resampled to `work_size`; the weights are
resampled back to the crop. Each candidate is scored by the same small conv net from its own pixels, its
difference to the frame itself and to the candidates' mean, its shape distance and its shape-distance weight,
the target's lip masks, and (once) the per-pixel maximum of all candidates' features; the shape-distance
weight's log is added to the score, so an untrained net (last layer zero) is the shape-distance blend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn

from talkface.checkpoint import load_model
from talkface.errors import TalkfaceError
from talkface.face_crop import hull_mask
from talkface.landmarks.indices import INNER_LIPS, OUTER_LIPS

LOG_FLOOR = 1e-4          # log-weight of a candidate the shape blend gives no weight
DISTANCE_SCALE = 0.05     # shape distances (interoculars) are fed divided by this
SHIPPED = Path(__file__).parent / "data" / "fetch_attention.safetensors"
N_FEATURES = 13           # per candidate: RGB, - mean, - own (3 each), distance, log weight, outer/inner lip masks


def mouth_box(lips: np.ndarray, margin: int = 1) -> tuple[int, int, int] | None:
    """(x0, y0, side): the square around where a (N, N) lip mask is > 0.01, inside the crop; None if empty."""
    ys, xs = np.nonzero(lips > 0.01)
    if len(xs) == 0:
        return None
    n = lips.shape[0]
    side = min(n, int(max(xs.max() - xs.min(), ys.max() - ys.min())) + 1 + 2 * margin)
    cx, cy = (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2
    x0 = int(np.clip(round(cx - side / 2), 0, n - side))
    y0 = int(np.clip(round(cy - side / 2), 0, n - side))
    return x0, y0, side


def to_box(image: np.ndarray, box: tuple[int, int, int], work: int) -> np.ndarray:
    """The box of an (N, N, ...) image resampled to work x work (area averaging when shrinking)."""
    x0, y0, side = box
    part = np.ascontiguousarray(image[y0:y0 + side, x0:x0 + side], np.float32)
    return cv2.resize(part, (work, work), interpolation=cv2.INTER_AREA if side > work else cv2.INTER_LINEAR)


def box_inputs(candidates: np.ndarray, crop_landmarks: np.ndarray, box: tuple[int, int, int], work: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """The box of one frame's candidates (C, N, N, 3) float 0-255, warped onto the target (the frame itself
    first) -> pixels (C, 3, work, work) in 0-1, and the target's outer and inner lip masks (2, work, work)."""
    pixels = np.stack([to_box(c, box, work) for c in candidates]).transpose(0, 3, 1, 2) / 255.0
    x0, y0, side = box
    pts = (np.asarray(crop_landmarks, np.float64) - (x0, y0)) * (work / side)
    masks = np.stack([hull_mask([pts[OUTER_LIPS]], work, 0.5), hull_mask([pts[INNER_LIPS]], work, 0.5)])
    return pixels.astype(np.float32), masks


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


@dataclass
class FetchJob:
    """One frame's fetch: candidates (C, N, N, 3) float warped onto the target, the frame itself first."""
    candidates: np.ndarray
    distances: np.ndarray   # (C,) shape distance of each candidate's mouth to the target
    weights: np.ndarray     # (C,) shape-distance weights (sum 1)
    crop_landmarks: np.ndarray  # (68, 2) target in crop coordinates
    lips: np.ndarray        # (N, N) the lip mask the blend is used inside


@torch.no_grad()
def pixel_weights(model: FetchAttention, jobs: list[FetchJob]) -> list[np.ndarray]:
    """Per frame (C, N, N) blend weights, summing to 1 at every pixel: the net's inside the box around the lips,
    the shape-distance weights outside it (where the lip mask is 0 anyway)."""
    work = model.work_size
    out = [np.broadcast_to(j.weights[:, None, None], (len(j.weights), *j.lips.shape)).astype(np.float32) for j in jobs]
    boxes = [mouth_box(j.lips) for j in jobs]
    todo = [i for i, box in enumerate(boxes) if box is not None and len(jobs[i].weights) > 1]
    if not todo:
        return out
    c_max = max(len(jobs[i].weights) for i in todo)
    pixels = np.zeros((len(todo), c_max, 3, work, work), np.float32)
    masks = np.zeros((len(todo), 2, work, work), np.float32)
    distances, weights = np.zeros((len(todo), c_max), np.float32), np.zeros((len(todo), c_max), np.float32)
    valid = np.zeros((len(todo), c_max), bool)
    for n, i in enumerate(todo):
        j, c = jobs[i], len(jobs[i].weights)
        pixels[n, :c], masks[n] = box_inputs(j.candidates, j.crop_landmarks, boxes[i], work)
        distances[n, :c], weights[n, :c], valid[n, :c] = j.distances, j.weights, True
    attention = model(*(torch.from_numpy(a) for a in (pixels, distances, weights, masks, valid))).numpy()
    for n, i in enumerate(todo):
        x0, y0, side = boxes[i]
        c = len(jobs[i].weights)
        # bilinear resampling keeps the weights summing to 1
        inside = cv2.resize(np.ascontiguousarray(attention[n, :c].transpose(1, 2, 0)), (side, side),
                            interpolation=cv2.INTER_LINEAR).reshape(side, side, c)
        out[i] = out[i].copy()
        out[i][:, y0:y0 + side, x0:x0 + side] = inside.transpose(2, 0, 1)
    return out


def load_fetch_attention(blend: str) -> FetchAttention | None:
    """The net for a dub's `blend`: None for "shape", the shipped net for "learned", else a checkpoint path."""
    if blend == "shape":
        return None
    path = SHIPPED if blend == "learned" else Path(blend)
    if blend != "learned" and path.suffix != ".safetensors":
        raise TalkfaceError(f"blend must be shape, learned or a .safetensors checkpoint, got {blend!r}")
    return load_model(path, FetchAttention)[0]
