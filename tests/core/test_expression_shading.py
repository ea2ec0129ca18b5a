"""The folds an expression shades into the skin (talkface/expression/shading.py): soft creases with a lit bulge,
on small synthetic faces and flat grey images made here."""

from __future__ import annotations

import numpy as np
import pytest

import cv2

from talkface.expression.shading import (CAST_DARKENING, MAX_DARKENING, MAX_HIGHLIGHT, MAX_PALING, fold_creases,
                                         fold_map, fold_strengths, lip_paling, press_strength, shade_folds)
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


def _press(face: np.ndarray) -> np.ndarray:
    """Lips pressed (AU23/24): the red margins roll in (the outer contour moves towards the closed seam), the
    corners a little inwards, the chin boss up (AU17)."""
    moved = face.copy()
    moved[49:54, 1] += 4.0  # upper lip's outer edge down
    moved[55:60, 1] -= 4.0  # lower lip's outer edge up
    moved[[48, 60]] += [1.5, 0.0]
    moved[[54, 64]] -= [1.5, 0.0]
    moved[6:11, 1] -= 3.0
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
    assert (ratio > 1 - max(MAX_DARKENING, CAST_DARKENING) - 0.02).all() and (ratio < 1 + MAX_HIGHLIGHT + 0.02).all()


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


def test_press_strength_only_for_closed_lips_that_thin_without_widening():
    face = _face()
    assert press_strength(face, face) == 0.0
    assert press_strength(face, _press(face)) == pytest.approx(1.0)  # 8 px = 0.08 interoculars of red margin
    half = (face + 0.5 * (_press(face) - face)).astype(np.float32)
    assert 0.3 < press_strength(face, half) < 0.7
    # A smile stretches the lips thin: as thin as the wider mouth explains is no press.
    stretched = face.copy()
    width = face[54, 0] - face[48, 0]
    centre = face[48:68].mean(0)
    stretched[48:68, 0] = centre[0] + (face[48:68, 0] - centre[0]) * 1.3
    height = (face[[61, 62, 63], 1] - face[[50, 51, 52], 1]).mean()
    stretched[49:54, 1] += height * (1 - 1 / 1.3)  # the upper red margin keeps its area
    assert width > 0 and press_strength(face, stretched) == 0.0
    # Lips that part (a dropped jaw, speech) are not pressed, even where the red margins look thinner.
    parted = _press(face)
    parted[[*range(55, 60), 65, 66, 67], 1] += 8.0
    assert press_strength(face, parted) == 0.0
    # The expression's own comparison: the same pressed lips on a moved head are pressed the same.
    angle = np.deg2rad(8.0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    move = lambda f: ((f - face.mean(0)) @ rot.T * 1.1 + face.mean(0) + [7.0, -3.0]).astype(np.float32)
    assert press_strength(move(face), move(_press(face))) == pytest.approx(press_strength(face, _press(face)))
    assert fold_strengths(face, _press(face))["frown"] == 0.0 and fold_strengths(face, _press(face))["smile"] == 0.0


def _lips_frame(face: np.ndarray, skin=(200, 150, 130), lip=(170, 90, 95)) -> np.ndarray:
    frame = np.empty((400, 400, 3), np.uint8)
    frame[:] = skin
    cv2.fillPoly(frame, [np.round(face[48:60]).astype(np.int32)], lip)
    return frame


def test_pressed_lips_seam_corners_and_chin_boss():
    face = _face()
    pressed = _press(face)
    shade, (rows, cols) = fold_map((400, 400), face, pressed)
    at = lambda p: shade[int(round(p[1])) - rows.start, int(round(p[0])) - cols.start]
    seam = (pressed[62] + pressed[66]) / 2
    assert at(seam) > 0.5 * MAX_DARKENING  # the lips meet in a dark seam
    assert at(seam + [0, 3]) < at(seam) and at(seam - [0, 4]) < at(seam)
    # The mentolabial sulcus under the lower lip, the chin boss below it lit.
    sulcus = pressed[57] + 0.3 * (pressed[8] - pressed[57])
    assert at(sulcus) > 0.2 * MAX_DARKENING and at(sulcus + [0, 8]) < 0
    # A crease outside each lip corner, the corner's bulge lit.
    for corner, side in ((48, -1.0), (54, 1.0)):
        crease = pressed[corner] + [side * 6.0, 3.0]
        assert at(crease) > 0.1 * MAX_DARKENING and at(crease) > at(pressed[corner] + [side * 12.0, 3.0])
    # Nothing above the nose's tip, nothing beside the cheeks.
    frame = np.full((400, 400, 3), 150, np.uint8)
    shaded = shade_folds(frame, face, pressed)
    assert (shaded[: int(pressed[33, 1])] == 150).all()
    assert (shaded[:, : int(pressed[4, 0])] == 150).all() and (shaded[:, int(pressed[12, 0]):] == 150).all()


def test_pressed_lips_pale_towards_the_skin_only_brightening():
    face = _face()
    pressed = _press(face)
    frame = _lips_frame(pressed)
    gain, (rows, cols) = lip_paling(frame, face, pressed)
    middle = np.round((pressed[51] + pressed[62]) / 2).astype(int)  # the upper red margin's middle
    g = gain[middle[1] - rows.start, middle[0] - cols.start]
    # Green and blue (far from the skin's) gain more than red (close to it); at most MAX_PALING; never darker.
    assert g[1] > g[0] >= 1.0 and g[1] <= 1 + MAX_PALING + 1e-6 and (gain >= 1.0).all()
    shaded = shade_folds(frame, face, pressed).astype(int)
    assert shaded[middle[1], middle[0], 1] > frame[middle[1], middle[0], 1]
    # Skin darker than the lips (a beard): nothing to pale towards, no change to the lips.
    bearded = _lips_frame(pressed, skin=(60, 45, 40))
    gain, _ = lip_paling(bearded, face, pressed)
    assert np.allclose(gain, 1.0)
    # No press, no paling.
    assert lip_paling(frame, face, face) is None and lip_paling(frame, face, _frown(face)) is None
