"""A PCA basis of normalised landmark motion: what the learned models predict per frame.

Motion is measured in the normalised face frame (talkface.landmarks.normalize) on the points
that move with speech (jaw line below the ears, lips), relative to the clip's own *rest*
shape (its first, silent frame). Subtracting each clip's own rest removes the identity, so
the basis describes how a mouth moves, not what it looks like. The stable points (eyes, brows,
nose, upper jaw) never move: the alignment pins them.

The basis is uncentred (an SVD of the raw motion): zero coefficients mean the rest shape, so
a model that outputs nothing leaves the face closed and still.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkface.errors import TalkfaceError
from talkface.landmarks.indices import INNER_LIP_PAIRS, STABLE_POINTS, mouth_opening
from talkface.landmarks.normalize import to_normalised

MOTION_POINTS: tuple[int, ...] = tuple(i for i in range(68) if i not in STABLE_POINTS)  # jaw 4-12, lips
# (upper, lower) rows of the facing inner-lip points within MOTION_POINTS
INNER_ROWS = [(MOTION_POINTS.index(a), MOTION_POINTS.index(b)) for a, b in INNER_LIP_PAIRS]
LIP_ROWS = [i for i, p in enumerate(MOTION_POINTS) if p >= 48]  # rows of MOTION_POINTS that are lips (48-67)


def inner_gap(motion):
    """(..., P, 2) motion (or points) of MOTION_POINTS, numpy or torch -> (...) mean vertical inner-lip gap."""
    return sum(motion[..., lo, 1] - motion[..., up, 1] for up, lo in INNER_ROWS) / len(INNER_ROWS)


def clip_motion(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A clip's (T, P, 2) motion of MOTION_POINTS about its rest, and the rest shape (68, 2).

    landmarks: (T, 68, 2) in any image frame. The rest is the clip's first frame: GRID clips open
    in silence with the mouth closed, and the first frame is what the source photo stands for at
    inference (and is the source in the evaluation protocol), so the net learns motion relative
    to exactly the shape it will be added to. A smoothed rest (e.g. the median of the quiet
    frames) differs from any single frame by ~0.015 interocular on the lips, an error floor.
    """
    norm, _ = to_normalised(np.asarray(landmarks, np.float32))
    rest = norm[0]
    points = list(MOTION_POINTS)
    return (norm[:, points] - rest[points]).astype(np.float32), rest.astype(np.float32)


@dataclass
class MotionPCA:
    """Orthonormal motion basis `components` (K, 2P) and the RMS `scale` (K,) of each coefficient.

    Coefficients are whitened (divided by scale) so that a network predicts numbers of order 1.
    """

    components: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, motion: np.ndarray, n_components: int) -> "MotionPCA":
        """Fit on (N, P, 2) motion samples (frames of many clips)."""
        flat = np.asarray(motion, np.float64).reshape(len(motion), -1)
        if not 0 < n_components <= min(flat.shape):
            raise TalkfaceError(f"MotionPCA: n_components={n_components} must be in 1..{min(flat.shape)}")
        _, sing, vt = np.linalg.svd(flat, full_matrices=False)
        scale = sing[:n_components] / np.sqrt(len(flat))
        return cls(vt[:n_components].astype(np.float32), np.maximum(scale, 1e-8).astype(np.float32))

    @property
    def n_points(self) -> int:
        return self.components.shape[1] // 2

    def encode(self, motion: np.ndarray) -> np.ndarray:
        """(..., P, 2) motion -> (..., K) whitened coefficients."""
        flat = np.asarray(motion, np.float32).reshape(*np.shape(motion)[:-2], -1)
        return flat @ self.components.T / self.scale

    def decode(self, coeffs: np.ndarray) -> np.ndarray:
        """(..., K) whitened coefficients -> (..., P, 2) motion."""
        flat = (np.asarray(coeffs, np.float32) * self.scale) @ self.components
        return flat.reshape(*flat.shape[:-1], self.n_points, 2)

    def explained_variance(self, motion: np.ndarray) -> float:
        """Share of the (uncentred) motion energy that the basis reproduces."""
        flat = np.asarray(motion, np.float64).reshape(len(motion), -1)
        residual = flat - self.decode(self.encode(motion)).reshape(len(flat), -1)
        return float(1.0 - (residual**2).sum() / max((flat**2).sum(), 1e-12))


@dataclass
class OpenMouthCorrection:
    """Closes an open-mouthed source photo before motion is added.

    `direction` (P, 2) is the motion per unit of mouth opening (least squares over training
    frames), `rest_opening` the opening of a typical closed mouth (upper quantile of the
    training clips. rest shapes).
    """

    direction: np.ndarray
    rest_opening: float

    @classmethod
    def fit(cls, motion: np.ndarray, opening_change: np.ndarray, rest_openings: np.ndarray) -> "OpenMouthCorrection":
        """motion (N, P, 2) about rest; opening_change (N,) = opening - rest opening; rest_openings (clips,)."""
        x = np.asarray(opening_change, np.float64)
        direction = np.einsum("n,npk->pk", x, np.asarray(motion, np.float64)) / max(float(x @ x), 1e-12)
        return cls(direction.astype(np.float32), float(np.quantile(rest_openings, 0.95)))

    def close(self, norm_source: np.ndarray) -> np.ndarray:
        """(68, 2) normalised source -> the same face with its mouth brought back to rest."""
        excess = float(mouth_opening(norm_source)) - self.rest_opening
        out = np.array(norm_source, np.float32)
        if excess > 0:
            out[list(MOTION_POINTS)] -= excess * self.direction
        return out
