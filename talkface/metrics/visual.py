"""Visual measures on real photos with no ground truth (DESIGN.md "Sharpness kept") and on paste-back seams.

- Sharpness kept: variance of the Laplacian of the grey image in a square box around the mouth
  (points 48-67) or the eyes (36-47), side 1.6 x the points' larger extent, on a generated frame
  (box from that frame's landmarks) divided by the same on the photo (box from the photo's). 1 = as
  sharp as the photo; a face pasted back from an upsampled small crop scores well below 1.
- Seam visibility: mean gradient magnitude of the generated frame in a thin band along the paste
  mask's boundary, divided by the photo's in the same band. A visible seam (a colour step or a grain
  change) adds edges there (> 1); a soft patch removes them (< 1); a seamless paste is ~1.
"""

from __future__ import annotations

import cv2
import numpy as np

from talkface.landmarks import indices

MOUTH_POINTS = list(range(48, 68))
EYE_POINTS = list(range(36, 48))
BOX_SCALE = 1.6
MIN_BOX_SIDE = 8
SEAM_BAND = (0.1, 0.9)  # the mask's transition zone counts as its boundary


def region_box(landmarks: np.ndarray, points: list[int], shape: tuple[int, ...],
               scale: float = BOX_SCALE) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), exclusive ends, of the square around `points` of (68, 2) landmarks, side `scale` x
    their larger extent, clipped to an image of `shape`."""
    pts = np.asarray(landmarks, np.float64)[points]
    if not np.isfinite(pts).all():
        raise ValueError("region_box: landmarks contain NaN or inf")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    half = max(float(np.max(hi - lo)) * scale, MIN_BOX_SIDE) / 2
    cx, cy = (lo + hi) / 2
    h, w = shape[:2]
    x0, y0 = max(0, int(round(cx - half))), max(0, int(round(cy - half)))
    x1, y1 = min(w, int(round(cx + half))), min(h, int(round(cy + half)))
    if x1 - x0 < 3 or y1 - y0 < 3:
        raise ValueError(f"region_box: box ({x0}, {y0}, {x1}, {y1}) is outside the {w}x{h} image")
    return x0, y0, x1, y1


def _grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image, np.uint8), cv2.COLOR_RGB2GRAY)
    return image.astype(np.float32)


def laplacian_variance(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Variance of the 3x3 Laplacian of the grey image inside box (computed with the box's own border)."""
    x0, y0, x1, y1 = box
    patch = _grey(np.asarray(image)[y0:y1, x0:x1])
    return float(cv2.Laplacian(patch, cv2.CV_32F)[1:-1, 1:-1].var())


def sharpness_ratio(frame: np.ndarray, frame_landmarks: np.ndarray, photo: np.ndarray,
                    photo_landmarks: np.ndarray, points: list[int]) -> float:
    """Laplacian variance around `points` on a generated frame / the same on the photo."""
    reference = laplacian_variance(photo, region_box(photo_landmarks, points, photo.shape))
    generated = laplacian_variance(frame, region_box(frame_landmarks, points, frame.shape))
    return generated / max(reference, 1e-6)


def mouth_sharpness(frame, frame_landmarks, photo, photo_landmarks) -> float:
    return sharpness_ratio(frame, frame_landmarks, photo, photo_landmarks, MOUTH_POINTS)


def eye_sharpness(frame, frame_landmarks, photo, photo_landmarks) -> float:
    return sharpness_ratio(frame, frame_landmarks, photo, photo_landmarks, EYE_POINTS)


def _gradient_magnitude(image: np.ndarray) -> np.ndarray:
    grey = _grey(image)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy)


def seam_band(alpha: np.ndarray, band: tuple[float, float] = SEAM_BAND) -> np.ndarray:
    """Boolean band where a paste mask alpha (H, W) in [0, 1] is neither fully frame nor fully pasted."""
    alpha = np.asarray(alpha, np.float32)
    return (alpha > band[0]) & (alpha < band[1])


def seam_visibility(frame: np.ndarray, photo: np.ndarray, alpha: np.ndarray) -> float:
    """Mean gradient magnitude of frame in the paste mask's boundary band / the photo's there."""
    if frame.shape[:2] != photo.shape[:2] or alpha.shape != photo.shape[:2]:
        raise ValueError(f"seam_visibility: frame {frame.shape}, photo {photo.shape}, alpha {alpha.shape} differ")
    band = seam_band(alpha)
    if not band.any():
        raise ValueError("seam_visibility: the mask has no boundary band")
    ys, xs = np.nonzero(band)
    y0, y1, x0, x1 = max(ys.min() - 2, 0), ys.max() + 3, max(xs.min() - 2, 0), xs.max() + 3
    inside = band[y0:y1, x0:x1]
    generated = _gradient_magnitude(frame[y0:y1, x0:x1])[inside].mean()
    reference = _gradient_magnitude(photo[y0:y1, x0:x1])[inside].mean()
    return float(generated / max(reference, 1e-6))


def widest_mouth_frames(track: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` frames of a (T, 68, 2) track with the widest inner-lip opening, in order."""
    opening = np.asarray(indices.mouth_opening(np.asarray(track, np.float64)))
    order = np.argsort(-opening, kind="stable")[:count]
    return np.sort(order)
