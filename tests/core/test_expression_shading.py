"""The folds an expression shades into the skin (talkface/expression/folds.py, shading.py): soft creases with a lit
bulge, on small synthetic faces and flat grey images made here."""

from __future__ import annotations

import numpy as np
import pytest

from talkface.expression.folds import fold_creases, fold_strengths
from talkface.expression.shading import MAX_DARKENING, MAX_HIGHLIGHT, fold_map, shade_folds
from talkface.landmarks.normalize import MEAN_SHAPE

IOD = 100.0


def _face(offset=(200.0, 170.0)) -> np.ndarray:
    return (MEAN_SHAPE * IOD + np.array(offset)).astype(np.float32)


def _smile(face: np.ndarray) -> np.ndarray:
    moved = face.copy()
    moved[[48, 54]] += [[-6.0, -10.0], [6.0, -10.0]]  # lip corners up and out, as the zygomaticus pulls them
    return moved


def _frown(face: np.ndarray) -> np.ndarray:
    moved = face.copy()
    moved[[21, 22]] += [[6.0, 4.0], [-6.0, 4.0]]  # inner brows together and down
    return moved


def _raise(face: np.ndarray) -> np.ndarray:
    moved = face.copy()
    moved[17:27, 1] -= 10.0
    return moved


@pytest.mark.parametrize("dtype_shape", [((400, 400, 3), 180), ((360, 420, 3), 90)])
def test_no_expression_changes_nothing(dtype_shape):
    shape, grey = dtype_shape
    frame = np.full(shape, grey, np.uint8)
    face = _face()
    assert fold_strengths(face, face) == {"smile": 0.0, "frown": 0.0, "raise": 0.0}
    assert fold_creases(face, fold_strengths(face, face)) == []
    assert shade_folds(frame, face, face) is frame
    # A head that moves (a similarity of the whole face: the same in the frame with and without the expression)
    # and speech (the jaw and lips) make no folds either.
    angle = np.deg2rad(8.0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (face - face.mean(0)) @ rot.T * 1.1 + face.mean(0) + [7.0, -3.0]
    assert shade_folds(frame, moved, moved) is frame
    talking = face.copy()
    talking[[*range(5, 12), *range(56, 59), 65, 66, 67], 1] += 12.0
    assert shade_folds(frame, face, talking) is frame


@pytest.mark.parametrize("make", [_smile, _frown, _raise])
def test_output_keeps_dtype_shape_and_the_pixels_outside_the_folds(make):
    face = _face()
    rng = np.random.default_rng(0)
    frame = rng.integers(60, 200, (400, 400, 3)).astype(np.uint8)
    shaded = shade_folds(frame, face, make(face))
    assert shaded.dtype == np.uint8 and shaded.shape == frame.shape
    assert shaded is not frame and (shaded != frame).any()
    changed = np.argwhere((shaded != frame).any(-1))
    # Only on the face: between the jaw line's width and from the forehead to above the chin.
    assert changed[:, 1].min() > face[0, 0] and changed[:, 1].max() < face[16, 0]
    assert changed[:, 0].max() < face[8, 1]
    # Texture kept: each pixel only scaled (the ratio to the original is the same in all three channels, up to
    # the skin tint of a shadow and rounding), never painted.
    ratio = shaded.astype(float) / frame
    assert (ratio > 1 - MAX_DARKENING - 0.02).all() and (ratio < 1 + MAX_HIGHLIGHT + 0.02).all()


def _profile_across(shade: np.ndarray, rows: slice, cols: slice, point: np.ndarray, direction: np.ndarray,
                    offsets: np.ndarray) -> np.ndarray:
    samples = point[None] + offsets[:, None] * direction[None]
    ij = np.round(samples).astype(int)
    return shade[ij[:, 1] - rows.start, ij[:, 0] - cols.start]


def test_nasolabial_crease_is_dark_towards_the_lips_and_lit_on_the_cheek():
    face = _face()
    smile = _smile(face)
    assert fold_strengths(face, smile)["smile"] == pytest.approx(1.0)
    creases = fold_creases(smile, fold_strengths(face, smile))
    left = creases[0].points  # the subject's right fold: image left of the nose
    assert left[:, 0].max() < smile[33, 0]
    shade, (rows, cols) = fold_map((400, 400), face, smile)
    point = left[5]  # its upper third, where it is deepest
    out = np.array([-1.0, 0.0])  # towards the cheek (image left)
    profile = _profile_across(shade, rows, cols, point, out, np.array([-6.0, -3.0, 0.0, 3.0, 6.0, 9.0]))
    inner3, groove, outer3, outer9 = profile[1], profile[2], profile[3], profile[5]
    assert groove > 0.1 * MAX_DARKENING * 4 and groove == pytest.approx(shade.max(), rel=0.5)
    assert inner3 > outer3  # the shadow falls towards the lips
    assert outer9 < 0  # the cheek bulge outside catches light
    assert -shade.min() <= MAX_HIGHLIGHT + 1e-6 and shade.max() <= MAX_DARKENING + 1e-6
    # Bounded: nothing darkened a fifth of an interocular or more from any fold.
    dark = np.argwhere(shade > 0.01) + [rows.start, cols.start]
    near = np.concatenate([c.points for c in creases])
    distance = np.min(np.linalg.norm(dark[:, None, ::-1] - near[None], axis=-1), axis=1)
    assert distance.max() < 0.2 * IOD


def test_frown_furrows_between_the_brows_lit_brow_heads_and_no_smile_folds():
    face = _face()
    frown = _frown(face)
    strengths = fold_strengths(face, frown)
    assert strengths == {"smile": 0.0, "frown": 1.0, "raise": 0.0}
    frame = np.full((400, 400, 3), 150, np.uint8)
    shaded = shade_folds(frame, face, frown).astype(int)
    centre = (frown[21] + frown[22]) / 2
    y = int(round(centre[1] - 0.08 * IOD))
    row = shaded[y, :, 1]
    cx = int(round(centre[0]))
    left_groove = cx - 10 + int(np.argmin(row[cx - 10:cx]))
    right_groove = cx + 1 + int(np.argmin(row[cx + 1:cx + 11]))
    assert row[left_groove] < 145 and row[right_groove] < 145  # two furrows, one each side of the midline
    assert row[left_groove - 6] > row[left_groove] and row[right_groove + 6] > row[right_groove]
    assert row[cx] >= row[left_groove] + 2  # the mound between them is not a furrow
    assert row[left_groove - 7:left_groove - 3].max() >= 150  # the brow head outside catches light
    # The lowered brows shade the upper lids, not the cheeks below the eyes.
    lid = np.round(frown[[37, 44]] - [0, 0.05 * IOD]).astype(int)
    assert (shaded[lid[:, 1], lid[:, 0], 1] < 148).all()
    assert (shaded[int(frown[30, 1]):, :, :] == 150).all()
    # Lips pressed up and in (no outward pull), as in anger: no nasolabial fold or crow's feet.
    angry = frown.copy()
    angry[[48, 54]] += [[1.0, -6.0], [-1.0, -6.0]]
    assert fold_strengths(face, angry)["smile"] == 0.0


def test_forehead_lines_shadow_above_and_light_below():
    face = _face()
    raised = _raise(face)
    shade, (rows, cols) = fold_map((400, 400), face, raised)
    creases = fold_creases(raised, fold_strengths(face, raised))
    lowest = creases[0].points
    point = lowest[len(lowest) // 2]
    profile = _profile_across(shade, rows, cols, point, np.array([0.0, 1.0]), np.array([-2.0, 0.0, 2.0, 4.0]))
    assert profile[1] > 0 and profile[0] > profile[2] and profile[3] < profile[1]


def test_strength_follows_the_intensity():
    face = _face()
    frame = np.full((400, 400, 3), 160, np.uint8)
    full = _frown(face)
    half = (face + 0.5 * (full - face)).astype(np.float32)
    dark_full = 160 - shade_folds(frame, face, full).astype(int).min()
    dark_half = 160 - shade_folds(frame, face, half).astype(int).min()
    assert 0 < dark_half < dark_full


def _reference_fold_map(shape, rest, expressed):
    """fold_map drawn the straightforward way: each fold on a layer of its own (its ramp's bands one by one, with
    np.gradient's normals), the layers combined by their maximum."""
    import cv2

    from talkface.expression import shading as sh

    folds = fold_creases(expressed, fold_strengths(rest, expressed))
    face = np.asarray(expressed, np.float64)
    iod = float(np.linalg.norm(face[42:48].mean(0) - face[36:42].mean(0)))
    margin = int(np.ceil(3 * max(sh.HIGHLIGHT_SOFTNESS * iod, sh.AREA_SOFTNESS * iod, 0.5)
                         + max(max(f.shadow, f.bulge) for f in folds) * iod)) + 2
    points = np.concatenate([f.points for f in folds])
    x0, y0 = np.maximum(np.floor(points.min(0)).astype(int) - margin, 0)
    x1, y1 = np.minimum(np.ceil(points.max(0)).astype(int) + margin, [shape[1], shape[0]])
    origin = np.array([x0, y0], np.float64)
    layers = {kind: np.zeros((y1 - y0, x1 - x0), np.float32) for kind in ("crease", "shadow", "bulge")}

    def fill(layer, polygon, value):
        pts = np.round((polygon - origin) * 16).astype(np.int32)
        cv2.fillPoly(layer, [pts], float(value), lineType=cv2.LINE_AA, shift=4)

    for fold in folds:
        layer = np.zeros_like(layers["crease"])
        if fold.kind == "shadow":
            fill(layer, fold.points, fold.strength)
            np.maximum(layers["shadow"], layer, out=layers["shadow"])
            continue
        if fold.kind == "bulge":
            pts = np.round((fold.points - origin) * 16).astype(np.int32)
            cv2.polylines(layer, [pts], False, float(fold.strength * fold.lit),
                          thickness=max(1, int(round(2 * fold.bulge * iod))), lineType=cv2.LINE_AA, shift=4)
            np.maximum(layers["bulge"], layer, out=layers["bulge"])
            continue
        tangent = np.gradient(fold.points, axis=0)
        normals = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        normals *= np.where(normals @ fold.towards >= 0, 1.0, -1.0)[:, None]
        taper = fold.taper if fold.taper is not None else np.ones(len(fold.points))
        groove = np.maximum(fold.groove * iod * taper, 0.5)

        def band(near, far):
            return np.concatenate([fold.points + near[:, None] * normals, (fold.points + far[:, None] * normals)[::-1]])

        for step in range(sh.RAMP_STEPS, 0, -1):
            reach = groove + (fold.shadow * iod * taper - groove) * step / sh.RAMP_STEPS
            fill(layer, band(-groove, reach), fold.strength * (sh.RAMP_STEPS - step + 1) / sh.RAMP_STEPS)
        np.maximum(layers["crease"], layer, out=layers["crease"])
        if fold.lit > 0:
            layer[:] = 0
            fill(layer, band(-fold.bulge * iod * taper, -2 * groove), fold.strength * fold.lit)
            np.maximum(layers["bulge"], layer, out=layers["bulge"])
    shade = cv2.GaussianBlur(layers["crease"], (0, 0), max(sh.SOFTNESS * iod, 0.5)) * MAX_DARKENING
    shade = np.maximum(shade, sh._broad_blur(layers["shadow"], max(sh.AREA_SOFTNESS * iod, 0.5)) * MAX_DARKENING)
    shade -= sh._broad_blur(layers["bulge"], max(sh.HIGHLIGHT_SOFTNESS * iod, 0.5)) * MAX_HIGHLIGHT
    return shade, (slice(y0, y1), slice(x0, x1))


@pytest.mark.parametrize("offset", [(200.0, 170.0), (3.0, 60.0)])  # the second: the folds cut by the image edge
def test_batched_drawing_equals_drawing_fold_by_fold(offset):
    """All folds of a smile, a frown and raised brows together (every kind of fold, pairs of the same strength
    batched into one fillPoly call, neighbours that must not be): as drawn fold by fold."""
    face = _face(offset)
    expressed = _raise(_frown(_smile(face)))
    # The brow heads pulled nearly together: the two furrows' bands (same strength) overlap, so they must not
    # share a fillPoly call (it would leave their overlap empty).
    expressed[[21, 22]] += [[12.0, 0.0], [-12.0, 0.0]]
    shade, box = fold_map((400, 400), face, expressed)
    expected, expected_box = _reference_fold_map((400, 400), face, expressed)
    assert box == expected_box
    np.testing.assert_allclose(shade, expected, atol=1e-6)
