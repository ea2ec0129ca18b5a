"""The folds an expression shades into the skin (talkface/expression/shading.py): soft creases with a lit bulge,
on small synthetic faces and flat grey images made here."""

from __future__ import annotations

import numpy as np
import pytest

from talkface.expression.shading import (MAX_DARKENING, MAX_HIGHLIGHT, fold_creases, fold_map, fold_strengths,
                                         shade_folds)
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
