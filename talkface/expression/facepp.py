"""Face++ 106-point landmarks as iBUG-68 (dlib's order and placement).

RaFD's landmarks (as published with FReeNet) are Face++'s 106 points. Each iBUG point is one Face++ point or a
point on the chord between two neighbours of the same contour, `(a, b, t)` -> (1 - t) P[a] + t P[b]. The table was
established by running talkface's dlib detector on the one RaFD image published with them
(Rafd090_01_Caucasian_female_angry_frontal.jpg) and projecting each dlib point onto its Face++ contour; the jaw
and brows were then made left-right symmetric (the face is turned a little, dlib's points slide one way on both
sides). Face++'s contour 0-32 runs from the subject's right ear to the left, brows 33-37 / 38-42 (upper edge),
nose 43-51, eyes 52-57 + 72-74 / 58-63 + 75-77, outer lips 84-95, inner lips 96-103.
"""
from __future__ import annotations

import numpy as np

from talkface.errors import TalkfaceError

# Jaw: dlib's point i sits a fifth of the way from Face++ 2i towards the chin.
_JAW = [(2 * i, 2 * i + 1, 0.2) for i in range(8)] + [(16, 16, 0.0)] + \
       [(32 - 2 * i, 31 - 2 * i, 0.2) for i in range(7, -1, -1)]
_BROWS = [(c, c, 0.0) for c in range(33, 43)]
_NOSE = [(c, c, 0.0) for c in range(43, 52)]
_EYES = [(52, 52, 0.0), (53, 72, 0.25), (72, 54, 0.55), (55, 55, 0.0), (56, 73, 0.41), (73, 57, 0.74),
         (58, 58, 0.0), (59, 75, 0.44), (75, 60, 0.62), (61, 61, 0.0), (62, 76, 0.35), (76, 63, 0.69)]
_OUTER_LIPS = [(c, c, 0.0) for c in range(84, 96)]
# Face++'s inner-lip points 97/99 sit nearer the corners than dlib's 61/63: dlib's lie on the chords to the middle.
_INNER_LIPS = [(96, 96, 0.0), (97, 98, 0.43), (98, 98, 0.0), (99, 98, 0.57), (100, 100, 0.0), (101, 102, 0.54),
               (102, 102, 0.0), (103, 102, 0.45)]
FACEPP_TO_IBUG: tuple[tuple[int, int, float], ...] = tuple(_JAW + _BROWS + _NOSE + _EYES + _OUTER_LIPS + _INNER_LIPS)


def mapping_matrix() -> np.ndarray:
    """(68, 106) weights: ibug = M @ facepp."""
    m = np.zeros((68, 106))
    for i, (a, b, t) in enumerate(FACEPP_TO_IBUG):
        m[i, a] += 1.0 - t
        m[i, b] += t
    return m


def to_ibug68(points: np.ndarray) -> np.ndarray:
    """(..., 106, 2) Face++ points -> (..., 68, 2) iBUG-68 points (float32)."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-2:] != (106, 2):
        raise TalkfaceError(f"to_ibug68: expected (..., 106, 2) Face++ points, got {points.shape}")
    return np.einsum("ij,...jk->...ik", mapping_matrix(), points).astype(np.float32)
