"""A fixed triangle mesh over the 68 iBUG landmarks, 7 forehead points and 8 crop-border points.

Why fixed: the same topology for every frame makes the piecewise-affine warp continuous in
time and lets the mouth interior (the triangles inside the inner-lip polygon 60..67) be
known in advance. Outside the lips the mesh is a Delaunay triangulation of the core's mean
face placed as talkface.face_crop places faces; the lips are triangulated by hand (see LIP_BAND).
The result is stored (lmk2video/data/mesh.json, read by `triangles`): building it needs scipy's
Delaunay, whose import (~0.35 s) a photo edit or a render should not pay; `build_triangles` is
the recipe, and tests/lmk2video/test_warp.py checks that the stored mesh is what it builds.

Why forehead points: the landmarks stop at the brows, and the crop's border points stay where they are, so
without them the forehead and hair above the brows were stretched between the moving face and the still
border; they are the largest error of the warp against real frames when the head moves (docs/results.md,
"Where the warp loses"). The forehead points move with the head (the mean motion of HEAD_POINTS) and sit
most of the way up to the crop's edge, so the hair moves with the head and only a thin band at the top
stretches.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from talkface.face_crop import CROP_LEFT, CROP_SPAN, CROP_TOP
from talkface.landmarks.indices import INNER_LIPS as INNER_LIPS_RANGE
from talkface.landmarks.indices import OUTER_LIPS as OUTER_LIPS_RANGE
from talkface.landmarks.normalize import MEAN_SHAPE, fit_similarity

MESH_FILE = Path(__file__).parent / "data" / "mesh.json"
N_LANDMARKS = 68
INNER_LIPS = tuple(INNER_LIPS_RANGE)
OUTER_LIPS = tuple(OUTER_LIPS_RANGE)

# Border points in unit-crop coordinates: 4 corners then 4 edge midpoints.
BORDER_UNIT = np.array([
    [0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0],
    [0.5, 0.0], [1.0, 0.5], [0.5, 1.0], [0.0, 0.5],
], dtype=np.float64)
# Forehead points: one above each of these places on the brows (a point, or the mean of two: the glabella), on
# the ray from the face's centre through it, FOREHEAD_REACH of the way to the crop's edge (screened 0.3-1.0 on
# s1 test and the dev videos: 0.7-0.8 best on both; the nearer the edge, the thinner the band that stretches there,
# docs/results.md). The glabella's keeps the crop's top edge from reaching down between the brows.
FOREHEAD_ANCHORS = ((17,), (19,), (21,), (21, 22), (22,), (24,), (26,))
FOREHEAD_REACH = 0.7
# Points that move with the skull (brows, nose, eye corners): their mean motion carries the forehead points,
# and a similarity fit on them places the template's forehead points on a face.
HEAD_POINTS = (*range(17, 36), 36, 39, 42, 45)
N_FOREHEAD = len(FOREHEAD_ANCHORS)
N_POINTS = N_LANDMARKS + N_FOREHEAD + len(BORDER_UNIT)

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


def forehead_template(size: int) -> np.ndarray:
    """(N_FOREHEAD, 2) forehead points of the mean face in a size x size crop (FOREHEAD_ANCHORS, FOREHEAD_REACH)."""
    face = mean_face_in_crop(size).astype(np.float64)
    centre = np.array([face[:, 0].mean(), face[[19, 24, 8], 1].mean()])
    out = []
    for brow in (face[list(anchor)].mean(axis=0) for anchor in FOREHEAD_ANCHORS):
        ray = (brow - centre) / np.linalg.norm(brow - centre)
        to_edge = min(((size - 0.5 if r > 0 else -0.5) - b) / r for b, r in zip(brow, ray) if abs(r) > 1e-9)
        out.append(brow + ray * to_edge * FOREHEAD_REACH)
    return np.array(out, np.float32)


def mesh_points(source_lmk: np.ndarray, target_lmks: np.ndarray, size: int, forehead: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
    """The mesh's vertices (in `triangles(forehead)` order) on the source and on each target of a size x size
    crop: source_lmk (68, 2), target_lmks (T, 68, 2) -> (P, 2), (T, P, 2) float32 (P = N_POINTS, or without the
    forehead points N_POINTS - N_FOREHEAD: the mesh the shipped learned generator was trained on).

    Landmarks as they are; forehead points placed on the source by the similarity that fits the mean face's
    HEAD_POINTS onto the source's, and moved on each target by the mean motion of HEAD_POINTS (a translation:
    a rotation fitted on so few points follows their noise); both kept 1 px inside the crop, inside the border
    points; border points fixed.
    """
    source_lmk = np.asarray(source_lmk, np.float32)
    target_lmks = np.asarray(target_lmks, np.float32)
    border = border_points(size)
    dst_border = np.broadcast_to(border, (len(target_lmks), *border.shape))
    if not forehead:
        return np.concatenate([source_lmk, border]), np.concatenate([target_lmks, dst_border], axis=1)
    head = list(HEAD_POINTS)
    weights = np.zeros(N_LANDMARKS)
    weights[head] = 1.0
    placed = fit_similarity(mean_face_in_crop(size), source_lmk, weights).apply(forehead_template(size))
    src_forehead = np.clip(placed, 1.0, size - 2.0)
    shift = (target_lmks[:, head] - source_lmk[head]).mean(axis=1)
    dst_forehead = np.clip(src_forehead + shift[:, None], 1.0, size - 2.0)
    src = np.concatenate([source_lmk, src_forehead, border]).astype(np.float32)
    dst = np.concatenate([target_lmks, dst_forehead, dst_border], axis=1).astype(np.float32)
    return src, dst


def border_points(size: int, margin: float = 1.0) -> np.ndarray:
    """(8, 2) fixed points just outside the crop so that every pixel centre is inside the mesh."""
    lo, hi = -margin, size - 1 + margin
    return (lo + BORDER_UNIT * (hi - lo)).astype(np.float32)


@lru_cache(maxsize=2)
def triangles(forehead: bool = True) -> np.ndarray:
    """(F, 3) int64 vertex indices into [68 landmarks, 7 forehead points (unless forehead=False), 8 border points]
    (`mesh_points`), in drawing order: triangles touching a forehead or border point first, then the mouth
    interior, then the rest of the face (later triangles win where a strongly deformed mesh overlaps itself).
    Read from MESH_FILE (what `build_triangles` makes)."""
    mesh = np.array(json.loads(MESH_FILE.read_text())["forehead" if forehead else "no_forehead"], np.int64)
    mesh.setflags(write=False)  # cached and shared
    return mesh


def build_triangles(forehead: bool = True) -> np.ndarray:
    """The mesh `triangles` reads, built: Delaunay over the template's points (scipy). To store it after a change
    of the template: MESH_FILE.write_text(json.dumps({"forehead": build_triangles(True).tolist(),
    "no_forehead": build_triangles(False).tolist()}))."""
    from scipy.spatial import Delaunay

    parts = [mean_face_in_crop(1000), forehead_template(1000), border_points(1000)]
    points = np.concatenate(parts if forehead else parts[::2]).astype(np.float64)
    # Delaunay over everything but the inner lips; drop what falls inside the outer-lip polygon.
    keep = np.array([i for i in range(len(points)) if i not in INNER_LIPS])
    tri = keep[Delaunay(points[keep]).simplices]
    centroids = points[tri].mean(axis=1)
    in_lips = _inside_polygon(centroids, points[list(OUTER_LIPS)])
    outside, dropped = tri[~in_lips], tri[in_lips]
    if not np.all(np.isin(dropped, OUTER_LIPS)):  # the mean face guarantees this
        raise RuntimeError("mesh: a non-lip triangle lies inside the outer-lip polygon")
    touches_border = np.any(outside >= N_LANDMARKS, axis=1)
    ordered = np.concatenate(
        [outside[touches_border], MOUTH_INTERIOR, outside[~touches_border], LIP_BAND])
    return _counter_clockwise(ordered, points)


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
