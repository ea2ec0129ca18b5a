"""Eyes opened wider than the photo's (lmk2video/eyes.py): the eyeball is read rigidly, what the lids covered is
painted, and nothing changes where the eyes open no wider. A synthetic eye drawn here: a grey face, a white eye
between two lids, a dark round iris."""

from __future__ import annotations

import cv2
import numpy as np

from lmk2video.eyes import EYES, IRIS_RADIUS, EyeFrame, render_eyes

SIZE, WIDTH = 160, 60.0  # image side; each eye's corner-to-corner width (pixels)
SKIN, SCLERA, IRIS = 0.55, 0.92, 0.12


def _landmarks(open_up: float = 8.0, open_down: float = 13.0) -> np.ndarray:
    """(68, 2): both eyes on the line y = 80 (corners 15 and 75, 85 and 145), lids `open_up` above and
    `open_down` below it at their inner points; every other point far away at the image's corner."""
    lmk = np.zeros((68, 2))
    for (first, upper, last, lower), x0 in zip(EYES, (15.0, 85.0)):
        lmk[first], lmk[last] = (x0, 80.0), (x0 + WIDTH, 80.0)
        for index, u in zip(upper, (1 / 3, 2 / 3)):
            lmk[index] = (x0 + u * WIDTH, 80.0 - open_up)
        for index, u in zip(lower, (1 / 3, 2 / 3)):
            lmk[index] = (x0 + u * WIDTH, 80.0 + open_down)
    return lmk


def _source() -> tuple[np.ndarray, np.ndarray]:
    """(image (SIZE, SIZE, 3) float32 in [0, 1], landmarks): the eyes drawn between their lids, the iris a circle
    (radius 12) centred on the corners' line whose top the upper lid hides (rows 68-71 of the left one)."""
    lmk = _landmarks()
    image = np.full((SIZE, SIZE, 3), SKIN, np.float32)
    for first, upper, last, lower in EYES:
        polygon = lmk[[first, *upper, last, *lower[::-1]]]
        eye = np.zeros((SIZE, SIZE), np.uint8)
        cv2.fillPoly(eye, [np.round(polygon).astype(np.int32)], 1)
        iris = np.zeros((SIZE, SIZE), np.uint8)
        centre = (lmk[first] + lmk[last]) / 2
        cv2.circle(iris, tuple(int(c) for c in centre), int(IRIS_RADIUS * WIDTH), 1, -1)
        image[eye.astype(bool)] = SCLERA
        image[(eye & iris).astype(bool)] = IRIS
    return image, lmk


def test_eyes_that_open_no_wider_are_left_to_the_warp():
    source, lmk = _source()
    for target in (lmk, _landmarks(4.0, 6.0)):  # the same; half closed (a blink on its way)
        frames = source[None].copy()
        render_eyes(frames, target[None], source, lmk)
        assert np.array_equal(frames[0], source)


def test_an_eye_opened_wider_shows_more_of_a_round_iris_and_white_not_a_stretched_eye():
    source, lmk = _source()
    target = _landmarks(open_up=20.0)  # the upper lids raised (AU5)
    assert EyeFrame.of(target, EYES[0]).opening() > 1.3 * EyeFrame.of(lmk, EYES[0]).opening()
    frames = source[None].copy()
    render_eyes(frames, target[None], source, lmk)
    out = frames[0].mean(-1)
    centre_x, radius = 15 + WIDTH / 2, IRIS_RADIUS * WIDTH
    # Row 70, under the source's upper lid (skin there), now inside the eye: the iris's hidden top over its
    # centre, white beside it outside the iris's circle.
    assert source[70, int(centre_x)].mean() == np.float32(SKIN)
    assert out[70, int(centre_x)] < 0.3
    assert out[70, int(centre_x + radius + 3)] > SKIN + 0.1
    # The iris keeps its size: dark down the middle over no more than its diameter (a warp would stretch it).
    dark_rows = np.flatnonzero(out[:, int(centre_x)] < 0.3)
    assert dark_rows.max() - dark_rows.min() + 1 <= 2 * radius + 2
    # Outside the eyes nothing changes.
    assert np.array_equal(frames[0][:50], source[:50]) and np.array_equal(frames[0][100:], source[100:])
