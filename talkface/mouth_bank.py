"""A bank of one video's own face crops with distinct mouth shapes, for fetching real teeth and lips (FLNet).

Mouth shapes are compared in the normalised face frame (landmarks.normalize: similarity-aligned on the
stable points, unit interocular), so head pose and distance to the camera do not count, only the lips.
The bank is collected while streaming: each frame's mouth shape falls into a cell of a coarse grid over
(inner opening, outer opening, width); each cell keeps its sharpest frame, so memory is bounded by the
number of cells however long the video, and the bank spans every mouth shape the video shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from talkface.face_crop import crop_face, crop_transform, hull_mask
from talkface.landmarks.indices import MOUTH, OUTER_LIPS, mouth_opening
from talkface.landmarks.normalize import to_normalised

MOUTH_POINTS = list(MOUTH)
CELL = (0.03, 0.04, 0.04)  # grid step (normalised units) of inner opening, outer opening, width
MAX_ENTRIES = 400


def mouth_shapes(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) frame landmarks -> (..., 20, 2) mouth points in the normalised face frame."""
    norm, _ = to_normalised(np.asarray(landmarks, np.float64))
    return norm[..., MOUTH_POINTS, :].astype(np.float32)


def shape_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean point distance between mouth shapes (..., 20, 2) (broadcasting), in interoculars."""
    return np.linalg.norm(a - b, axis=-1).mean(-1)


def _cell(shape: np.ndarray) -> tuple[int, int, int]:
    m = {i: shape[i - 48] for i in (48, 51, 54, 57, 62, 66)}
    features = (np.linalg.norm(m[62] - m[66]), np.linalg.norm(m[51] - m[57]), np.linalg.norm(m[48] - m[54]))
    return tuple(int(np.floor(f / c)) for f, c in zip(features, CELL))


def _sharpness(crop: np.ndarray, crop_landmarks: np.ndarray) -> float:
    x0, y0 = np.maximum(np.floor(crop_landmarks[MOUTH_POINTS].min(0)).astype(int) - 2, 0)
    x1, y1 = np.ceil(crop_landmarks[MOUTH_POINTS].max(0)).astype(int) + 3
    grey = cv2.cvtColor(np.ascontiguousarray(crop[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var()) if grey.size else 0.0


@dataclass
class MouthBank:
    """Aligned face crops (size x size) of frames with distinct mouths, their crop landmarks and mouth shapes."""

    size: int = 128
    crops: list[np.ndarray] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)   # (68, 2) in each crop's own coordinates
    frame_index: list[int] = field(default_factory=list)
    _shapes: list[np.ndarray] = field(default_factory=list)
    _cells: dict = field(default_factory=dict)                 # cell -> (entry index, sharpness)

    def __len__(self) -> int:
        return len(self.crops)

    def most_closed(self) -> int:
        """The entry with the most closed mouth: the rest face the generator animates from."""
        return int(np.argmin(mouth_opening(np.stack(self.landmarks))))

    @property
    def shapes(self) -> np.ndarray:
        return np.stack(self._shapes) if self._shapes else np.zeros((0, 20, 2), np.float32)

    def offer(self, frame: np.ndarray, landmarks: np.ndarray, index: int) -> None:
        """Consider one video frame (H, W, 3) with its (68, 2) landmarks for the bank."""
        shape = mouth_shapes(landmarks)
        cell = _cell(shape)
        held = self._cells.get(cell)
        if held is None and len(self.crops) >= MAX_ENTRIES:
            return
        transform = crop_transform(landmarks, self.size)
        crop = crop_face(frame, transform)
        crop_lmk = transform.to_crop(landmarks).astype(np.float32)
        sharp = _sharpness(crop, crop_lmk)
        if held is None:
            self._cells[cell] = (len(self.crops), sharp)
            self.crops.append(crop)
            self.landmarks.append(crop_lmk)
            self.frame_index.append(index)
            self._shapes.append(shape)
        elif sharp > held[1]:
            i = held[0]
            self._cells[cell] = (i, sharp)
            self.crops[i], self.landmarks[i], self.frame_index[i], self._shapes[i] = crop, crop_lmk, index, shape

    def drop(self, frames: set[int]) -> None:
        """Forget the entries taken from these video frames (something covers their mouth); the bank is never
        emptied."""
        keep = [i for i, f in enumerate(self.frame_index) if f not in frames]
        if not keep or len(keep) == len(self.crops):
            return
        new_index = {old: new for new, old in enumerate(keep)}
        self.crops, self.landmarks, self.frame_index, self._shapes = (
            [items[i] for i in keep] for items in (self.crops, self.landmarks, self.frame_index, self._shapes))
        self._cells = {cell: (new_index[i], sharp) for cell, (i, sharp) in self._cells.items() if i in new_index}


def fetch_weights(targets: np.ndarray, bank_shapes: np.ndarray, self_shapes: np.ndarray, k: int = 3,
                  sigma: float = 0.02, self_bonus: float = 0.01, time_sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Which frames to fetch each target mouth from, and with what weight.

    targets (T, 20, 2): the wanted mouth shapes; bank_shapes (K, 20, 2); self_shapes (T, 20, 2): the mouth
    each output frame already shows (its own frame is a candidate too, favoured by `self_bonus` because it
    matches the frame's light and pose exactly). Weights are exp(-(d / sigma)^2) of the shape distance d,
    smoothed over `time_sigma` frames so a switch between bank frames is a crossfade, then all but the best
    k kept and normalised. Returns (T, K + 1) weights (column 0: the frame itself) and the (T,) distance
    of the best candidate (how well the video shows this mouth at all).
    """
    d_self = shape_distance(targets, self_shapes)
    # In blocks of targets: (T, K, 20, 2) at once would be gigabytes for a long video.
    d_bank = np.zeros((len(targets), len(bank_shapes)), np.float32)
    for start in range(0, len(targets), 1024):
        d_bank[start:start + 1024] = shape_distance(targets[start:start + 1024, None], bank_shapes[None])
    d = np.concatenate([(np.maximum(d_self - self_bonus, 0.0) if self_bonus >= 0 else d_self + 10.0)[:, None], d_bank], axis=1)
    best = np.concatenate([d_self[:, None], d_bank], axis=1).min(1)
    # Subtract each row's best before exponentiating: a target far from everything still gets weights.
    w = np.exp(-((d / sigma) ** 2 - (d.min(1, keepdims=True) / sigma) ** 2))
    if time_sigma > 0 and len(w) > 1:
        w = gaussian_filter1d(w, time_sigma, axis=0, mode="nearest")
    if w.shape[1] > k:
        cut = np.partition(w, -k, axis=1)[:, -k][:, None]
        w = np.where(w >= cut, w, 0.0)
    return (w / w.sum(1, keepdims=True)).astype(np.float32), best.astype(np.float32)


def lip_masks(crop_landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(lips, band) of a size x size crop with (68, 2) landmarks: the feathered mask the fetched lips replace,
    and the ring of skin just around it (bool) where a fetched frame's colour is matched to the frame's."""
    lips = hull_mask([crop_landmarks[OUTER_LIPS]], size, size / 42)
    band = (hull_mask([crop_landmarks[OUTER_LIPS]], size, size / 16) - lips) > 0.5
    return lips, band


def match_colour(warped: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Candidates (C, N, N, 3) float warped onto one target, the first the frame itself: each other one shifted
    to the frame's mean colour over `band` (bank frames were lit differently)."""
    if not band.any() or len(warped) < 2:
        return warped
    shift = warped[0][band].mean(0) - warped[1:][:, band].mean(1)
    return np.concatenate([warped[:1], warped[1:] + shift[:, None, None]])
