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

Numpy here (the dub never imports torch); the net is a runner `net(pixels, distances, weights, masks, valid) ->
(B, C, w, w)` on ONNX Runtime (`OnnxFetchAttention`, the default) or torch (lmk2video/fetch_attention_net.py, which
also holds the torch module the trainer fits).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from talkface.errors import TalkfaceError
from talkface.face_crop import hull_mask
from talkface.landmarks.indices import INNER_LIPS, OUTER_LIPS
from talkface.onnx_runtime import check_current, export_of, session, sidecar

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


@dataclass
class FetchJob:
    """One frame's fetch: candidates (C, N, N, 3) float warped onto the target, the frame itself first."""
    candidates: np.ndarray
    distances: np.ndarray   # (C,) shape distance of each candidate's mouth to the target
    weights: np.ndarray     # (C,) shape-distance weights (sum 1)
    crop_landmarks: np.ndarray  # (68, 2) target in crop coordinates
    lips: np.ndarray        # (N, N) the lip mask the blend is used inside


def pixel_weights(model, jobs: list[FetchJob]) -> list[np.ndarray]:
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
    attention = model(pixels, distances, weights, masks, valid)
    for n, i in enumerate(todo):
        x0, y0, side = boxes[i]
        c = len(jobs[i].weights)
        # bilinear resampling keeps the weights summing to 1
        inside = cv2.resize(np.ascontiguousarray(attention[n, :c].transpose(1, 2, 0)), (side, side),
                            interpolation=cv2.INTER_LINEAR).reshape(side, side, c)
        out[i] = out[i].copy()
        out[i][:, y0:y0 + side, x0:x0 + side] = inside.transpose(2, 0, 1)
    return out


class OnnxFetchAttention:
    """The exported net on ONNX Runtime (numpy in and out; inputs as lmk2video.fetch_attention_net.features)."""

    def __init__(self, path: str | Path, device: str = "cpu"):
        self.session = session(path, device)
        self.work_size = int(sidecar(self.session, path)["config"]["work_size"])

    def __call__(self, pixels, distances, weights, masks, valid) -> np.ndarray:
        return self.session.run(None, {"pixels": pixels, "distances": distances, "weights": weights, "masks": masks,
                                       "valid": valid})[0]


def load_fetch_attention(blend: str, backend: str = "onnx", device: str = "cpu"):
    """The net for a dub's `blend`: None for "shape", the shipped net for "learned", else a checkpoint path; on
    `backend` "onnx" (its export beside the checkpoint) or "torch"."""
    if blend == "shape":
        return None
    path = SHIPPED if blend == "learned" else Path(blend)
    if blend != "learned" and path.suffix != ".safetensors":
        raise TalkfaceError(f"blend must be shape, learned or a .safetensors checkpoint, got {blend!r}")
    if backend == "torch":
        from lmk2video.fetch_attention_net import load

        return load(path, device)
    onnx = export_of(path)
    net = OnnxFetchAttention(onnx, device)
    check_current(net.session, onnx, path)
    return net
