"""Folds an expression puts in the skin, drawn where the acting units put them: the attention-and-colour idea of
GANimation without learned weights (no expressive images of other people exist here to learn them from).

A warp moves skin but does not crease it. Three folds carry most of what a viewer reads as a real expression:
the nasolabial fold of a smile (lip corners pulled up and out, AU12) with crow's feet at the outer eye corners
(the cheeks pushed up, AU6), the vertical lines between brows pulled together (AU4, a frown) with the shadow the
lowered brows cast on the lids, and horizontal lines across a forehead whose brows go up (AU1 + 2, surprise).
Each is a soft dark line (the brow shadow a soft area) whose strength follows how far the expression moved the points that make it (the face with the
expression against the same frame without it), so it appears only where those units act, grows with their
intensity, and is zero for speech and head motion. The colour change is a darkening of the photo's own pixels
(its texture and colour stay), at most MAX_DARKENING.
"""

from __future__ import annotations

import cv2
import numpy as np

from talkface.landmarks.normalize import to_normalised

MAX_DARKENING = 0.16  # the deepest fold line takes at most this share of the skin's brightness
LINE_WIDTH = 0.018  # fold line thickness, interoculars
SOFTNESS = 0.012  # blur sigma of the lines, interoculars
# Full-strength moves (interoculars, normalised frame): a fold is fully drawn once its points moved this far.
SMILE_FULL = 0.12  # lip corners up (plus half their move outwards)
FROWN_FULL = 0.06  # inner brows together (a lowered brow alone, as in a smile, makes no frown lines)
RAISE_FULL = 0.10  # brows up
CROWS_FEET_ANGLES = (-0.45, 0.0, 0.45)  # radians from the outward eye line, lines fanning from the outer eye corners
FOREHEAD_LINES = (0.3, 0.45, 0.6)  # heights of the forehead lines above the brows, interoculars


def fold_strengths(rest: np.ndarray, expressed: np.ndarray) -> dict[str, float]:
    """How strongly each fold shows, 0 to 1, from the move of its points between the face at rest and expressed
    (both (68, 2) pixels), measured in the rest face's normalised frame."""
    rest_norm, sim = to_normalised(np.asarray(rest, np.float64))
    moved = sim.apply(np.asarray(expressed, np.float64))
    d = moved - rest_norm
    corners_up = -(d[48, 1] + d[54, 1]) / 2
    corners_out = (d[54, 0] - d[48, 0]) / 2
    together = (d[21, 0] - d[22, 0]) / 2
    raised = -d[17:27, 1].mean()
    return {
        "smile": float(np.clip((corners_up + 0.5 * max(corners_out, 0.0)) / SMILE_FULL, 0.0, 1.0)),
        "frown": float(np.clip(together / FROWN_FULL, 0.0, 1.0)),
        "raise": float(np.clip(raised / RAISE_FULL, 0.0, 1.0)),
    }


def _bezier(a: np.ndarray, control: np.ndarray, b: np.ndarray, n: int = 16) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * control + t ** 2 * b


def _brow_arch(brows: np.ndarray, origin: np.ndarray, x_unit: np.ndarray, down: np.ndarray, n: int = 24
               ) -> np.ndarray:
    """(n, 2): a smooth arch through the brows (a parabola fitted in the eye-line frame), from the second point
    of one brow to the second last of the other."""
    u = (brows - origin) @ x_unit
    v = (brows - origin) @ down
    fit = np.polyfit(u, v, 2)
    us = np.linspace(u[1], u[-2], n)
    return origin + us[:, None] * x_unit + np.polyval(fit, us)[:, None] * down


def fold_lines(face: np.ndarray, strengths: dict[str, float]) -> list[tuple[np.ndarray, float]]:
    """(polyline (n, 2) pixels, strength) of each fold to draw on the expressed face (68, 2); a closed polygon
    (first point repeated last) is an area to shade."""
    face = np.asarray(face, np.float64)
    eyes = face[36:42].mean(0), face[42:48].mean(0)
    across = eyes[1] - eyes[0]
    iod = float(np.linalg.norm(across))
    x_unit = across / max(iod, 1e-6)
    down = np.array([-x_unit[1], x_unit[0]])  # image down, perpendicular to the eye line
    lines = []
    if strengths["smile"] > 0:
        for wing, corner, side in ((31, 48, -1.0), (35, 54, 1.0)):
            out = side * x_unit
            start = face[wing] + iod * (0.10 * out - 0.02 * down)
            end = face[corner] + iod * (0.09 * out + 0.10 * down)
            bulge = (start + end) / 2 + iod * 0.07 * out
            lines.append((_bezier(start, bulge, end), strengths["smile"]))
        for eye_corner, side in ((36, -1.0), (45, 1.0)):
            for angle in CROWS_FEET_ANGLES:
                ray = side * x_unit * np.cos(angle) + down * np.sin(angle)
                start = face[eye_corner] + iod * 0.07 * ray
                lines.append((np.stack([start, start + iod * 0.1 * ray]), 0.7 * strengths["smile"]))
    if strengths["frown"] > 0:
        centre = (face[21] + face[22]) / 2
        for side in (-1.0, 1.0):
            base = centre + iod * (side * 0.05 * x_unit + 0.03 * down)
            lines.append((np.stack([base, base - iod * 0.18 * down]), strengths["frown"]))
        for brow, lid in ((range(17, 22), (39, 38, 37, 36)), (range(22, 27), (45, 44, 43, 42))):
            area = np.concatenate([face[list(brow)], face[list(lid)] - iod * 0.03 * down])
            lines.append((np.concatenate([area, area[:1]]), 0.5 * strengths["frown"]))
    if strengths["raise"] > 0:
        arch = _brow_arch(face[17:27], eyes[0], x_unit, down)
        for height in FOREHEAD_LINES:
            lines.append((arch - iod * height * down, strengths["raise"] * (1.2 - height)))
    return lines


def fold_map(shape: tuple[int, int], rest: np.ndarray, expressed: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Darkening in [0, MAX_DARKENING] over the folds' box: (map (h, w) float32, (rows, cols) slices of an image
    of `shape`), for the face at `rest` (68, 2) moved to `expressed` (68, 2), pixel coordinates."""
    empty = np.zeros((0, 0), np.float32), (slice(0, 0), slice(0, 0))
    lines = fold_lines(expressed, fold_strengths(rest, expressed))
    if not lines:
        return empty
    face = np.asarray(expressed, np.float64)
    iod = float(np.linalg.norm(face[42:48].mean(0) - face[36:42].mean(0)))
    sigma = max(SOFTNESS * iod, 0.5)
    margin = int(np.ceil(3 * sigma + LINE_WIDTH * iod)) + 2
    points = np.concatenate([line for line, _ in lines])
    x0, y0 = np.maximum(np.floor(points.min(0)).astype(int) - margin, 0)
    x1, y1 = np.ceil(points.max(0)).astype(int) + margin
    x1, y1 = min(x1, shape[1]), min(y1, shape[0])
    if x1 <= x0 or y1 <= y0:
        return empty
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    width = max(1, int(round(LINE_WIDTH * iod)))
    for line, strength in lines:
        pts = np.round((line - [x0, y0]) * 16).astype(np.int32)
        layer = np.zeros_like(out)
        if len(line) > 3 and np.array_equal(line[0], line[-1]):
            cv2.fillPoly(layer, [pts], 1.0, lineType=cv2.LINE_AA, shift=4)
            layer = cv2.GaussianBlur(layer, (0, 0), 4 * sigma)
        else:
            cv2.polylines(layer, [pts], False, 1.0, thickness=width, lineType=cv2.LINE_AA, shift=4)
        out = np.maximum(out, layer * float(strength))
    out = cv2.GaussianBlur(out, (0, 0), sigma) * MAX_DARKENING
    return out, (slice(y0, y1), slice(x0, x1))


def shade_folds(frame: np.ndarray, rest: np.ndarray, expressed: np.ndarray) -> np.ndarray:
    """The frame (H, W, 3) uint8, already moved to `expressed`, darkened along the folds the expression makes."""
    darkening, (rows, cols) = fold_map(frame.shape[:2], rest, expressed)
    if darkening.size == 0 or float(darkening.max()) <= 1e-4:
        return frame
    out = np.array(frame, copy=True)
    region = out[rows, cols].astype(np.float32)
    out[rows, cols] = np.clip(np.rint(region * (1.0 - darkening[..., None])), 0, 255).astype(out.dtype)
    return out
