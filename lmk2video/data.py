"""Training samples for the learned lmk2video generator, from a prepared GRID folder held in RAM.

A sample (MotionGAN's recipe): T consecutive target frames of one clip and a source frame of the
same clip that is not consecutive with the first target (so G cannot lean on the source being the
previous frame; see pick_frames), optionally mirrored left-right and re-coloured (so that a generator
trained on one face takes colours from the source, not from memory), plus the source warped onto the
targets' landmarks (the fetching stream). Crops stay uint8 in RAM; one clip of 75 x 128 x 128 x 3 is 3.7 MB.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from tqdm import tqdm

from lmk2video.conditioning import WarpStream
from talkface.prepared import PreparedSet

# iBUG-68 index of each point's mirror image (jaw, brows, nose, eyes, lips reversed left<->right).
FLIP_ORDER = np.array(
    list(range(16, -1, -1))                              # jaw 0..16
    + list(range(26, 21, -1)) + list(range(21, 16, -1))  # brows 17..21 <-> 22..26
    + [27, 28, 29, 30] + [35, 34, 33, 32, 31]            # nose bridge stays, nostrils reverse
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]  # eyes 36..41 <-> 42..47
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]   # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65])                  # inner lips


@dataclass
class ClipFrames:
    clip_id: str
    crops: np.ndarray      # (T, N, N, 3) uint8
    landmarks: np.ndarray  # (T, 68, 2) float32, crop pixel coordinates


def mirror(frames: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left-right mirror of (..., N, N, 3) frames and their (..., 68, 2) landmarks (x -> N-1-x,
    points relabelled so that e.g. the right mouth corner stays point 48)."""
    size = frames.shape[-2]
    flipped = landmarks[..., FLIP_ORDER, :].copy()
    flipped[..., 0] = size - 1 - flipped[..., 0]
    return np.ascontiguousarray(frames[..., ::-1, :]), flipped


def recolour(frames: np.ndarray, rng: np.random.Generator, field: float = 0.0) -> np.ndarray:
    """The same random colour change on every (..., N, N, 3) uint8 frame: shuffled channels, a gain per
    channel (0.7-1.3) and a brightness shift (+-25 levels). With field > 0, the gains also vary smoothly
    over the image (each channel times 1 +- field, drawn on a 3 x 3 grid and interpolated), so that local
    colours -- skin, eyes, lips -- cannot be recalled from the one training face either."""
    matrix = np.diag(rng.uniform(0.7, 1.3, 3))[rng.permutation(3)]
    out = frames.astype(np.float32) @ matrix.T + rng.uniform(-25.0, 25.0)
    if field > 0:
        size = frames.shape[-2]
        knots = rng.uniform(1.0 - field, 1.0 + field, (3, 3, 3)).astype(np.float32)
        out *= cv2.resize(knots, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def load_clips(prepared: PreparedSet, ids: list[str], min_frames: int, desc: str = "loading clips"
               ) -> list[ClipFrames]:
    """Crops and crop landmarks of `ids` (clips shorter than min_frames are left out)."""
    clips = []
    for clip_id in tqdm(ids, desc=desc, leave=False):
        c = prepared.load(clip_id, crops=True, audio=False)
        n = min(len(c.crops), len(c.crop_landmarks))
        if n >= min_frames:
            clips.append(ClipFrames(clip_id, c.crops[:n], c.crop_landmarks[:n].astype(np.float32)))
    return clips


def pick_frames(n_frames: int, window: int, rng: np.random.Generator, near_prob: float = 0.0) -> tuple[int, int]:
    """(source index, first target index). The source is never the first target or next to it.
    Usually it lies outside the window and not adjacent to it; with probability near_prob it is one of
    the later frames of the window (or the frame just after it), so that G also sees targets that equal
    or nearly equal the source -- as at test time, where the first frame drives the whole clip."""
    if n_frames < window + 3:
        raise ValueError(f"a clip needs at least {window + 3} frames to sample a window of {window}")
    start = int(rng.integers(0, n_frames - window + 1))
    near = list(range(start + 2, min(start + window + 1, n_frames)))
    if near and rng.random() < near_prob:
        return int(rng.choice(near)), start
    far = [i for i in range(n_frames) if i < start - 1 or i > start + window]
    return int(rng.choice(far)), start


class WindowDataset(torch.utils.data.Dataset):
    """Item i: one random sample from clip i. Randomness depends on (seed, epoch, i) only, so runs
    and resumes are reproducible whatever the worker/rank layout."""

    def __init__(self, clips: list[ClipFrames], window: int, flip: bool, warp_mouth: bool, seed: int = 0,
                 near_source_prob: float = 0.0, recolour_prob: float = 0.0, recolour_field: float = 0.0):
        self.clips, self.window, self.flip, self.seed = clips, window, flip, seed
        self.near_source_prob, self.recolour_prob, self.recolour_field = near_source_prob, recolour_prob, recolour_field
        self.warp = WarpStream(mouth=warp_mouth)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        clip = self.clips[index]
        src, start = pick_frames(len(clip.crops), self.window, rng, self.near_source_prob)
        idx = [src, *range(start, start + self.window)]
        frames, lmk = clip.crops[idx], clip.landmarks[idx]
        if self.flip and rng.random() < 0.5:
            frames, lmk = mirror(frames, lmk)
        if rng.random() < self.recolour_prob:
            frames = recolour(frames, rng, self.recolour_field)
        warped = self.warp(frames[0], lmk[0], lmk[1:])
        return {"source": torch.from_numpy(np.ascontiguousarray(frames[0])),
                "source_lmk": torch.from_numpy(lmk[0]),
                "targets": torch.from_numpy(np.ascontiguousarray(frames[1:])),
                "target_lmk": torch.from_numpy(np.ascontiguousarray(lmk[1:])),
                "warped": torch.from_numpy(warped)}
