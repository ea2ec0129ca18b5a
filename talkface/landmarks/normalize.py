"""The normalised face frame: similarity alignment of landmarks onto a mean face.

Normalised frame: origin midway between the eye centres, x to the subject's left
(image right), y down, unit interocular distance, so the eye centres of MEAN_SHAPE sit
at (-0.5, 0) and (+0.5, 0). audio2lmk predicts motion in this frame and maps it back
onto the source face with the inverse similarity, which keeps the identity's shape.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkface.errors import TalkfaceError
from talkface.landmarks.indices import STABLE_POINTS

# dlib's 68-point mean shape (the shape predictor's initial shape, trained on iBUG 300-W),
# moved into the normalised frame by the similarity that puts its eye centres at (-/+0.5, 0).
MEAN_SHAPE = np.array([
    [-1.1450, 0.0163], [-1.1373, 0.3192], [-1.1049, 0.6209], [-1.0420, 0.9168],
    [-0.9240, 1.1916], [-0.7428, 1.4299], [-0.5212, 1.6287], [-0.2767, 1.7884],
    [-0.0001, 1.8358], [0.2766, 1.7884], [0.5211, 1.6287], [0.7427, 1.4299],
    [0.9239, 1.1916], [1.0419, 0.9168], [1.1048, 0.6210], [1.1372, 0.3193],
    [1.1450, 0.0164], [-0.9267, -0.2052], [-0.7847, -0.3330], [-0.5844, -0.3711],
    [-0.3770, -0.3415], [-0.1828, -0.2608], [0.1828, -0.2608], [0.3770, -0.3415],
    [0.5844, -0.3711], [0.7848, -0.3330], [0.9267, -0.2052], [0.0000, -0.0236],
    [0.0000, 0.1716], [0.0000, 0.3650], [0.0000, 0.5640], [-0.2324, 0.6986],
    [-0.1208, 0.7397], [0.0000, 0.7748], [0.1208, 0.7397], [0.2324, 0.6986],
    [-0.6963, 0.0008], [-0.5725, -0.0704], [-0.4238, -0.0683], [-0.2936, 0.0300],
    [-0.4330, 0.0549], [-0.5810, 0.0529], [0.2936, 0.0300], [0.4238, -0.0683],
    [0.5725, -0.0704], [0.6963, 0.0008], [0.5810, 0.0529], [0.4330, 0.0549],
    [-0.4451, 1.0606], [-0.2813, 0.9951], [-0.1155, 0.9612], [0.0000, 0.9898],
    [0.1155, 0.9612], [0.2812, 0.9951], [0.4450, 1.0606], [0.2865, 1.2207],
    [0.1255, 1.2915], [0.0000, 1.3049], [-0.1255, 1.2915], [-0.2866, 1.2206],
    [-0.3767, 1.0693], [-0.1170, 1.0577], [0.0000, 1.0702], [0.1169, 1.0577],
    [0.3767, 1.0693], [0.1192, 1.1447], [0.0000, 1.1591], [-0.1193, 1.1447],
], dtype=np.float32)
MEAN_SHAPE.setflags(write=False)

# Alignment weights: 1 on points that do not move with speech, 0 on mouth and chin.
STABLE_WEIGHTS = np.zeros(68, dtype=np.float64)
STABLE_WEIGHTS[list(STABLE_POINTS)] = 1.0
STABLE_WEIGHTS.setflags(write=False)


@dataclass(frozen=True)
class Similarity:
    """x -> scale * rotation @ x + translation, possibly batched over leading dims (...).

    scale: (...), rotation: (..., 2, 2) proper rotations, translation: (..., 2).
    """

    scale: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray

    @property
    def angle(self) -> np.ndarray:
        """Rotation angle in radians (counter-clockwise in x-right/y-up terms)."""
        return np.arctan2(self.rotation[..., 1, 0], self.rotation[..., 0, 0])

    @property
    def matrix(self) -> np.ndarray:
        """(..., 2, 3) affine matrix, usable with cv2.warpAffine when unbatched."""
        linear = np.asarray(self.scale)[..., None, None] * self.rotation
        return np.concatenate([linear, np.asarray(self.translation)[..., :, None]], axis=-1)

    def apply(self, pts: np.ndarray) -> np.ndarray:
        """Map points (..., N, 2); batch dims broadcast against the similarity's."""
        pts = np.asarray(pts)
        m = self.matrix
        out = np.einsum("...ij,...nj->...ni", m[..., :, :2], pts) + m[..., None, :, 2]
        return out.astype(np.result_type(pts.dtype, np.float32), copy=False)

    def inverse(self) -> "Similarity":
        scale = 1.0 / np.asarray(self.scale, dtype=np.float64)
        rot_t = np.swapaxes(self.rotation, -1, -2)
        trans = -scale[..., None] * np.einsum("...ij,...j->...i", rot_t, self.translation)
        return Similarity(scale, rot_t, trans)


def fit_similarity(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> Similarity:
    """Weighted least-squares similarity (Umeyama, no reflection) with sim.apply(src) ~ dst.

    src, dst: (..., N, 2), broadcastable against each other (e.g. a (T,68,2) track onto a
    (68,2) template); weights: (N,) or (..., N), non-negative. Closed form in 2-D: the
    rotation angle is atan2 of the weighted cross/dot sums of the centred point sets.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.shape[-2]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    w = np.broadcast_to(w, np.broadcast_shapes(src.shape[:-1], dst.shape[:-1], w.shape))
    total = w.sum(-1, keepdims=True)
    if np.any(total <= 0):
        raise TalkfaceError("fit_similarity: weights sum to zero")
    w = w / total
    mu_s = np.einsum("...n,...nj->...j", w, src)
    mu_d = np.einsum("...n,...nj->...j", w, dst)
    ps = src - mu_s[..., None, :]
    pd = dst - mu_d[..., None, :]
    var = np.einsum("...n,...nj->...", w, ps * ps)
    if np.any(var <= 1e-12):
        raise TalkfaceError("fit_similarity: source points are degenerate (all at one place)")
    dot = np.einsum("...n,...n->...", w, (ps * pd).sum(-1))
    cross = np.einsum("...n,...n->...", w, ps[..., 0] * pd[..., 1] - ps[..., 1] * pd[..., 0])
    angle = np.arctan2(cross, dot)
    scale = np.hypot(dot, cross) / var
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    translation = mu_d - scale[..., None] * np.einsum("...ij,...j->...i", rotation, mu_s)
    return Similarity(scale, rotation, translation)


def to_normalised(lmk: np.ndarray) -> tuple[np.ndarray, Similarity]:
    """Align (68,2) or (T,68,2) landmarks onto MEAN_SHAPE using the stable points only.

    Returns the normalised landmarks and the per-frame similarity (frame -> normalised).
    """
    lmk = np.asarray(lmk)
    if lmk.shape[-2:] != (68, 2):
        raise TalkfaceError(f"to_normalised: expected (..., 68, 2) landmarks, got {lmk.shape}")
    sim = fit_similarity(lmk, MEAN_SHAPE, STABLE_WEIGHTS)
    return sim.apply(lmk), sim


def from_normalised(norm_lmk: np.ndarray, sim: Similarity) -> np.ndarray:
    """Inverse of to_normalised: map normalised landmarks back with the frame's similarity."""
    return sim.inverse().apply(norm_lmk)
