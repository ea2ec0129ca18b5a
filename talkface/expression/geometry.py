"""Putting an expressive shape in its neutral's frame, and the expression error measured there.

An expressive face and its neutral (same person, camera, gaze) differ by the expression and by a small head
motion. The head motion is removed by a similarity fitted on the points expressions barely move: the eye
corners and the nose (not the brows, which expressions lift and lower, nor the jaw, which opens).
"""
from __future__ import annotations

import numpy as np

from talkface.landmarks.indices import interocular
from talkface.landmarks.normalize import fit_similarity

ALIGN_POINTS: tuple[int, ...] = (36, 39, 42, 45, *range(27, 36))
INNER_FACE = slice(17, 68)  # brows, nose, eyes, mouth: what the expression error is measured on

ALIGN_WEIGHTS = np.zeros(68)
ALIGN_WEIGHTS[list(ALIGN_POINTS)] = 1.0
ALIGN_WEIGHTS.setflags(write=False)


def align_to(shape: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(..., 68, 2) shapes moved onto (..., 68, 2) references by a similarity on ALIGN_POINTS."""
    return fit_similarity(shape, reference, ALIGN_WEIGHTS).apply(shape).astype(np.float32)


def expression_error(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(...) mean distance of the inner-face points 17-67, predicted aligned onto target (ALIGN_POINTS),
    divided by the target's interocular distance."""
    moved = align_to(predicted, target)
    dist = np.linalg.norm(moved[..., INNER_FACE, :] - target[..., INNER_FACE, :], axis=-1).mean(-1)
    return dist / interocular(np.asarray(target, dtype=np.float64))
