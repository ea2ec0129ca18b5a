"""A fixed triangle mesh over the 68 iBUG landmarks plus 8 crop-border points.

Why fixed: the same topology for every frame makes the piecewise-affine warp continuous in
time and lets the mouth interior (the triangles inside the inner-lip polygon 60..67) be
known in advance. Outside the lips the mesh is a Delaunay triangulation of the core's mean
face placed as talkface.face_crop places faces, computed deterministically once; the lips
are triangulated by hand (see LIP_BAND).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.spatial import Delaunay

from talkface.face_crop import CROP_LEFT, CROP_SPAN, CROP_TOP
from talkface.landmarks.indices import INNER_LIPS as INNER_LIPS_RANGE
from talkface.landmarks.indices import OUTER_LIPS as OUTER_LIPS_RANGE
from talkface.landmarks.normalize import MEAN_SHAPE

N_LANDMARKS = 68
INNER_LIPS = tuple(INNER_LIPS_RANGE)
OUTER_LIPS = tuple(OUTER_LIPS_RANGE)

# Border points in unit-crop coordinates: 4 corners then 4 edge midpoints.
BORDER_UNIT = np.array([
    [0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0],
    [0.5, 0.0], [1.0, 0.5], [0.5, 1.0], [0.0, 0.5],
], dtype=np.float64)
N_POINTS = N_LANDMARKS + len(BORDER_UNIT)

# The lips are triangulated by hand rather than by Delaunay: for a nearly closed mouth Delaunay
# joins outer-lip points across the opening.  The lip band pairs each inner point with the
# outer points around it; the interior strip pairs 61-67, 62-66, 63-65 (vertical pairs).
LIP_BAND = np.array([
    [48, 49, 60], [49, 61, 60], [49, 50, 61], [50, 51, 62], [50, 62, 61],
    [51, 52, 63], [51, 63, 62], [52, 53, 63], [53, 64, 63], [53, 54, 64],
    [54, 55, 64], [55, 65, 64], [55, 56, 65], [56, 57, 66], [56, 66, 65],
    [57, 58, 67], [57, 67, 66], [58, 59, 67], [59, 60, 67], [59, 48, 60],
], dtype=np.int64)
MOUTH_INTERIOR = np.array([
    [60, 61, 67], [61, 66, 67], [61, 62, 66], [62, 65, 66], [62, 63, 65], [63, 64, 65],
], dtype=np.int64)


def mean_face_in_crop(size: int) -> np.ndarray:
    """The core's mean face as (68, 2) pixel coordinates in a size x size crop placed the way
    talkface.face_crop places faces (pixel centres at integer coordinates)."""
    unit = (MEAN_SHAPE.astype(np.float64) - [CROP_LEFT, CROP_TOP]) / CROP_SPAN
    return (unit * size - 0.5).astype(np.float32)


def border_points(size: int, margin: float = 1.0) -> np.ndarray:
    """(8, 2) fixed points just outside the crop so that every pixel centre is inside the mesh."""
    lo, hi = -margin, size - 1 + margin
    return (lo + BORDER_UNIT * (hi - lo)).astype(np.float32)


@lru_cache(maxsize=1)
def triangles() -> np.ndarray:
    """(F, 3) int64 vertex indices into [68 landmarks, 8 border points], in drawing order:
    border-touching triangles first, then the mouth interior, then the rest of the face
    (later triangles win where a strongly deformed mesh overlaps itself)."""
    points = np.concatenate([mean_face_in_crop(1000), border_points(1000)]).astype(np.float64)
    # Delaunay over everything but the inner lips; drop what falls inside the outer-lip polygon.
    keep = np.array([i for i in range(N_POINTS) if i not in INNER_LIPS])
    tri = keep[Delaunay(points[keep]).simplices]
    centroids = points[tri].mean(axis=1)
    in_lips = _inside_polygon(centroids, points[list(OUTER_LIPS)])
    outside, dropped = tri[~in_lips], tri[in_lips]
    if not np.all(np.isin(dropped, OUTER_LIPS)):  # the mean face guarantees this
        raise RuntimeError("mesh: a non-lip triangle lies inside the outer-lip polygon")
    touches_border = np.any(outside >= N_LANDMARKS, axis=1)
    ordered = np.concatenate(
        [outside[touches_border], MOUTH_INTERIOR, outside[~touches_border], LIP_BAND])
    mesh = _counter_clockwise(ordered, points)
    mesh.setflags(write=False)  # cached and shared
    return mesh


def _inside_polygon(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule point-in-polygon for (P, 2) points against an (M, 2) polygon."""
    x, y = pts[:, 0:1], pts[:, 1:2]
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    x_at = x0 + (y - y0) * (x1 - x0) / np.where(y1 == y0, 1.0, y1 - y0)
    return (np.sum(crosses & (x < x_at), axis=1) % 2) == 1


def _counter_clockwise(tri: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Orient every triangle the same way on the template so that flips are detectable."""
    a, b, c = (points[tri[:, k]] for k in range(3))
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    out = tri.copy()
    out[cross < 0] = out[cross < 0][:, [0, 2, 1]]
    return out
