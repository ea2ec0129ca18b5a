import cv2
import numpy as np
import pytest

from talkface.landmarks.normalize import MEAN_SHAPE
from talkface.metrics.visual import (
    EYE_POINTS,
    MOUTH_POINTS,
    eye_sharpness,
    mouth_sharpness,
    region_box,
    seam_visibility,
    widest_mouth_frames,
)


def face(scale=60.0, centre=(150.0, 110.0)):
    return (scale * MEAN_SHAPE + centre).astype(np.float32)


def grainy(h=300, w=300, seed=0):
    return np.random.default_rng(seed).integers(40, 220, (h, w, 3)).astype(np.uint8)


def test_region_box_is_a_square_of_1_6_times_the_points_extent():
    lmk = face()
    x0, y0, x1, y1 = region_box(lmk, MOUTH_POINTS, (300, 300))
    extent = np.ptp(lmk[MOUTH_POINTS], axis=0).max()
    assert x1 - x0 == pytest.approx(1.6 * extent, abs=1.5) and y1 - y0 == pytest.approx(1.6 * extent, abs=1.5)
    cx, cy = (lmk[MOUTH_POINTS].min(0) + lmk[MOUTH_POINTS].max(0)) / 2
    assert (x0 + x1) / 2 == pytest.approx(cx, abs=1) and (y0 + y1) / 2 == pytest.approx(cy, abs=1)
    with pytest.raises(ValueError):
        region_box(lmk + 1000, EYE_POINTS, (300, 300))


def test_sharpness_is_one_for_the_photo_and_drops_for_a_blurred_or_upsampled_copy():
    photo, lmk = grainy(), face()
    assert mouth_sharpness(photo, lmk, photo, lmk) == pytest.approx(1.0)
    blurred = cv2.GaussianBlur(photo, (0, 0), 1.0)
    assert mouth_sharpness(blurred, lmk, photo, lmk) < 0.3
    small = cv2.resize(cv2.resize(photo, (75, 75), interpolation=cv2.INTER_AREA), (300, 300))
    assert eye_sharpness(small, lmk, photo, lmk) < 0.1
    # the box follows each image's own landmarks: the same face moved is as sharp
    moved = np.roll(photo, (7, 5), axis=(0, 1))
    assert eye_sharpness(moved, lmk + np.float32([5, 7]), photo, lmk) == pytest.approx(1.0, abs=0.02)


def test_seam_visibility_sees_a_colour_step_and_a_soft_patch_but_not_a_clean_paste():
    photo = cv2.GaussianBlur(grainy(seed=1), (0, 0), 0.7)
    alpha = np.zeros((300, 300), np.float32)
    cv2.circle(alpha, (150, 150), 80, 1.0, -1)
    soft_alpha = cv2.GaussianBlur(alpha, (0, 0), 4)
    assert seam_visibility(photo, photo, soft_alpha) == pytest.approx(1.0)
    stepped = photo.astype(np.float32)
    stepped[alpha > 0] += 60
    assert seam_visibility(np.clip(stepped, 0, 255).astype(np.uint8), photo, soft_alpha) > 1.25
    soft = photo.copy()
    soft[alpha > 0] = cv2.GaussianBlur(photo, (0, 0), 3)[alpha > 0]
    assert seam_visibility(soft, photo, soft_alpha) < 0.9
    with pytest.raises(ValueError):
        seam_visibility(photo, photo, np.zeros((300, 300), np.float32))


def test_widest_mouth_frames_are_the_most_open_in_time_order():
    track = np.repeat(face()[None], 6, axis=0)
    for i, opening in enumerate([0, 9, 2, 12, 0, 5]):
        track[i, 65:68, 1] += opening
        track[i, 56:59, 1] += opening
    assert widest_mouth_frames(track, 3).tolist() == [1, 3, 5]
