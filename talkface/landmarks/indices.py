"""iBUG-68 landmark index constants and small geometric measures on them.

Point order follows the 300-W / iBUG annotation used by dlib and FAN. "Right" and
"left" are the subject's: the right eye (36-41) appears on the image's left.
The measures work on numpy arrays and torch tensors of shape (..., 68, 2).
"""
from __future__ import annotations

from typing import Any

import numpy as np

JAW = range(0, 17)
RIGHT_BROW = range(17, 22)
LEFT_BROW = range(22, 27)
NOSE = range(27, 36)
RIGHT_EYE = range(36, 42)
LEFT_EYE = range(42, 48)
OUTER_LIPS = range(48, 60)
INNER_LIPS = range(60, 68)
MOUTH = range(48, 68)

# Points that do not move with speech: brows, eyes, nose and the upper jaw sides.
# The chin and lower jaw (4-12) follow the mandible, so they are left out.
STABLE_POINTS: tuple[int, ...] = (
    *range(0, 4), *range(13, 17), *RIGHT_BROW, *LEFT_BROW, *NOSE, *RIGHT_EYE, *LEFT_EYE
)

# Upper/lower inner-lip pairs whose distance measures how open the mouth is.
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))  # (upper, lower) inner-lip points facing each other


def _stack(parts: list[Any], axis: int) -> Any:
    """np.stack or torch.stack depending on the input type (torch only imported if used)."""
    if type(parts[0]).__module__.startswith("torch"):
        import torch

        return torch.stack(parts, dim=axis)
    return np.stack(parts, axis=axis)


def _norm(v: Any) -> Any:
    return (v**2).sum(-1) ** 0.5


def eye_centres(lmk: Any) -> Any:
    """(..., 68, 2) -> (..., 2, 2): centres of the right then the left eye."""
    right = lmk[..., RIGHT_EYE.start:RIGHT_EYE.stop, :].mean(-2)
    left = lmk[..., LEFT_EYE.start:LEFT_EYE.stop, :].mean(-2)
    return _stack([right, left], axis=-2)


def interocular(lmk: Any) -> Any:
    """(..., 68, 2) -> (...): distance between the two eye centres."""
    eyes = eye_centres(lmk)
    return _norm(eyes[..., 1, :] - eyes[..., 0, :])


def mouth_opening(lmk: Any) -> Any:
    """(..., 68, 2) -> (...): mean inner-lip gap divided by the interocular distance."""
    gaps = [_norm(lmk[..., a, :] - lmk[..., b, :]) for a, b in INNER_LIP_PAIRS]
    return (gaps[0] + gaps[1] + gaps[2]) / 3 / interocular(lmk)
