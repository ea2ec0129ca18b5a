"""Soft masks of face regions, in crop pixels, drawn from each frame's landmarks."""

from __future__ import annotations

import cv2
import numpy as np

from talkface.landmarks.indices import INNER_LIPS, LEFT_BROW, LEFT_EYE, MOUTH, RIGHT_BROW, RIGHT_EYE, interocular

EYE_AREAS = (list(RIGHT_EYE) + list(RIGHT_BROW), list(LEFT_EYE) + list(LEFT_BROW))
EYE_MARGIN = 0.15  # dilation around each eye + brow hull, in interocular distances
MOUTH_AREAS = (list(INNER_LIPS),)
MOUTH_MARGIN = 0.05
LIP_AREAS = (list(MOUTH),)
LIP_MARGIN = 0.05
LOWER_FACE = [*range(3, 14), *range(31, 36)]  # jaw from cheek to cheek and the bottom of the nose
LOWER_FACE_FEATHER = 0.1  # interoculars: blur across the lower face's edge


def eye_masks(landmarks: np.ndarray, size: int, margin: float = EYE_MARGIN) -> np.ndarray:
    """(T, 68, 2) crop landmarks -> (T, size, size) float32 in [0, 1]: 1 over each eye and its brow
    (their convex hull grown by margin x interocular), feathered to 0 over about as far again."""
    return hull_masks(landmarks, size, EYE_AREAS, margin)


def mouth_masks(landmarks: np.ndarray, size: int, margin: float = MOUTH_MARGIN) -> np.ndarray:
    """(T, 68, 2) crop landmarks -> (T, size, size) float32: 1 inside the inner lips (grown by margin x
    interocular), feathered like eye_masks."""
    return hull_masks(landmarks, size, MOUTH_AREAS, margin)


def lip_masks(landmarks: np.ndarray, size: int, margin: float = LIP_MARGIN) -> np.ndarray:
    """(T, 68, 2) crop landmarks -> (T, size, size) float32: 1 over the lips and the opening between them
    (the outer-lip hull grown by margin x interocular), feathered like eye_masks."""
    return hull_masks(landmarks, size, LIP_AREAS, margin)


def lower_face_masks(landmarks: np.ndarray, size: int, feather: float = LOWER_FACE_FEATHER) -> np.ndarray:
    """(T, 68, 2) crop landmarks -> (T, size, size) float32: 1 over the lower face (lips, chin, jaw and the
    cheeks below the nose: the hull of LOWER_FACE), 1/2 on its edge, fading out over about feather x interocular."""
    out = np.zeros((len(landmarks), size, size), np.float32)
    for i, points in enumerate(np.asarray(landmarks, np.float32)):
        hard = np.zeros((size, size), np.uint8)
        cv2.fillConvexPoly(hard, cv2.convexHull(points[LOWER_FACE]).round().astype(np.int32), 1)
        out[i] = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), max(0.5, float(interocular(points)) * feather))
    return out


def hull_masks(landmarks: np.ndarray, size: int, areas, margin: float) -> np.ndarray:
    """1 over the convex hull of each landmark group in `areas`, grown by margin x interocular and
    feathered to 0 over about as far again; (T, size, size) float32."""
    out = np.zeros((len(landmarks), size, size), np.float32)
    for i, points in enumerate(np.asarray(landmarks, np.float32)):
        hard = np.zeros((size, size), np.uint8)
        for area in areas:
            cv2.fillConvexPoly(hard, cv2.convexHull(points[area]).round().astype(np.int32), 1)
        grow = max(1, int(round(float(interocular(points)) * margin)))
        hard = cv2.dilate(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
        out[i] = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), grow / 2 + 0.5)
    return np.clip(out, 0.0, 1.0)
