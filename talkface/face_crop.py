"""Aligned face crops and feathered paste-back.

A crop is a similarity of the frame chosen from the stable landmarks (brows, eyes, nose,
jaw sides) of one reference frame, so it stays fixed over a clip and lip motion shows as
motion inside the crop. The template places the normalised face frame (see
landmarks.normalize: eye centres at (-/+0.5, 0), unit interocular) in the crop.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from talkface.errors import TalkfaceError
from talkface.landmarks.normalize import MEAN_SHAPE, STABLE_WEIGHTS, fit_similarity

# Normalised-frame window shown by the crop: x in [-1.5, 1.5], y in [-0.8, 2.2]. The mean
# face spans x +/-1.15 (ear to ear) and y -0.37 (brows) to 1.84 (chin), so this leaves
# forehead above and room below the chin for an open jaw. Eyes land at 27% of the height.
CROP_SPAN = 3.0
CROP_LEFT = -CROP_SPAN / 2
CROP_TOP = -0.8

# Default paste-back mask: an ellipse over cheeks, eyes, mouth and chin (normalised units).
_MASK_CENTRE = (0.0, 0.72)
_MASK_AXES = (1.18, 1.25)


@dataclass(frozen=True)
class CropTransform:
    matrix: np.ndarray  # (2, 3) float64, frame pixels -> crop pixels
    size: int

    @property
    def inverse_matrix(self) -> np.ndarray:
        """(2, 3) crop pixels -> frame pixels."""
        return cv2.invertAffineTransform(self.matrix)

    @property
    def scale(self) -> float:
        """Crop pixels per frame pixel."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    def to_crop(self, pts: np.ndarray) -> np.ndarray:
        return _affine(self.matrix, pts)

    def to_frame(self, pts: np.ndarray) -> np.ndarray:
        return _affine(self.inverse_matrix, pts)


def _affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts)
    out = pts @ m[:, :2].T + m[:, 2]
    return out.astype(np.result_type(pts.dtype, np.float32), copy=False)


def _normalised_to_crop(size: int) -> np.ndarray:
    """(2, 3) normalised face frame -> crop pixels (pixel i centred at coordinate i)."""
    k = size / CROP_SPAN
    return np.array([[k, 0.0, -k * CROP_LEFT - 0.5], [0.0, k, -k * CROP_TOP - 0.5]])


def crop_transform(landmarks: np.ndarray, size: int = 128) -> CropTransform:
    """Crop placement from one frame's (68, 2) landmarks; reuse it for the whole clip."""
    landmarks = np.asarray(landmarks)
    if landmarks.shape != (68, 2):
        raise TalkfaceError(f"crop_transform: expected (68, 2) landmarks of one frame, got {landmarks.shape}")
    to_norm = fit_similarity(landmarks, MEAN_SHAPE, STABLE_WEIGHTS).matrix
    to_crop = _normalised_to_crop(size)
    matrix = to_crop[:, :2] @ to_norm
    matrix[:, 2] += to_crop[:, 2]
    return CropTransform(matrix, size)


def crop_face(frame: np.ndarray, transform: CropTransform) -> np.ndarray:
    """(size, size, 3) uint8 crop of a (H, W, 3) uint8 frame (bilinear, border replicated)."""
    src = np.asarray(frame)
    matrix = transform.matrix.copy()
    factor = transform.scale
    if factor < 0.5:
        # Bilinear warping aliases when shrinking a lot (large photos): shrink by area first.
        h, w = src.shape[:2]
        nw, nh = max(1, round(w * factor)), max(1, round(h * factor))
        src = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_AREA)
        fx, fy = nw / w, nh / h
        # Small pixel u <-> frame x = (u + 0.5) / f - 0.5 (cv2.resize's pixel-centre rule).
        lin = matrix[:, :2]
        matrix = np.concatenate(
            [lin / [fx, fy], (lin @ [0.5 / fx - 0.5, 0.5 / fy - 0.5] + matrix[:, 2])[:, None]], axis=1
        )
    size = transform.size
    return cv2.warpAffine(src, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _feather(hard: np.ndarray, size: int) -> np.ndarray:
    k = 2 * max(1, round(size / 20)) + 1  # truncated kernel: the mask ends k // 2 px past the shape
    return cv2.GaussianBlur(hard.astype(np.float32) / 255.0, (k, k), 0)


def default_mask(size: int) -> np.ndarray:
    """(size, size) float32 soft ellipse over the template face; zero near the crop border."""
    m = _normalised_to_crop(size)
    sub = 16  # cv2 drawing with 4 fractional bits
    centre = (round((m[0, 0] * _MASK_CENTRE[0] + m[0, 2]) * sub), round((m[1, 1] * _MASK_CENTRE[1] + m[1, 2]) * sub))
    axes = (round(m[0, 0] * _MASK_AXES[0] * sub), round(m[1, 1] * _MASK_AXES[1] * sub))
    hard = np.zeros((size, size), np.uint8)
    cv2.ellipse(hard, centre, axes, 0, 0, 360, 255, thickness=-1, lineType=cv2.LINE_AA, shift=4)
    return _feather(hard, size)


def face_mask(landmarks_crop: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 mask: convex hull of the 68 crop landmarks, dilated and blurred."""
    return hull_mask([landmarks_crop], size, max(1, round(size / 32)))


def hull_mask(point_sets: list[np.ndarray], size: int, grow: float) -> np.ndarray:
    """(size, size) float32 mask: union of the convex hulls of each (P, 2) crop point set, dilated by
    `grow` px and blurred."""
    hard = np.zeros((size, size), np.uint8)
    for pts in point_sets:
        hull = cv2.convexHull(np.round(np.asarray(pts, dtype=np.float64) * 16).astype(np.int32))
        cv2.fillConvexPoly(hard, hull, 255, lineType=cv2.LINE_AA, shift=4)
    r = max(1, round(grow))
    hard = cv2.dilate(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return _feather(hard, size)


def _crop_roi(frame_shape: tuple[int, ...], transform: CropTransform) -> tuple[slice, slice, np.ndarray, tuple[int, int]] | None:
    """The frame region a crop covers: (rows, cols, crop->roi matrix, roi (w, h)), or None if off-frame."""
    size = transform.size
    h, w = frame_shape[:2]
    edge = [[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]]
    corners = transform.to_frame(np.array(edge))
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, [w, h])
    if x1 <= x0 or y1 <= y0:
        return None
    back = transform.inverse_matrix
    back[:, 2] -= (x0, y0)
    return slice(y0, y1), slice(x0, x1), back, (int(x1 - x0), int(y1 - y0))


def _to_roi(image: np.ndarray, back: np.ndarray, roi_size: tuple[int, int], border: int) -> np.ndarray:
    return cv2.warpAffine(image, back, roi_size, flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)


def _check_crop(frame: np.ndarray, crop: np.ndarray, size: int) -> None:
    if crop.shape != (size, size, frame.shape[2]):
        raise TalkfaceError(f"paste_back: crop must be {(size, size, frame.shape[2])}, got {crop.shape}")


def paste_back(
    frame: np.ndarray, crop: np.ndarray, transform: CropTransform, mask: np.ndarray | None = None
) -> np.ndarray:
    """Blend a (size, size, 3) crop back into a copy of frame through a soft mask.

    mask: (size, size) in [0, 1] in crop coordinates (default_mask if None). Pixels where
    the warped mask is 0 keep the frame's exact values, so no seam and no background change.
    """
    frame = np.asarray(frame)
    _check_crop(frame, crop, transform.size)
    mask = default_mask(transform.size) if mask is None else np.asarray(mask, dtype=np.float32)
    out = frame.copy()
    roi = _crop_roi(frame.shape, transform)
    if roi is None:
        return out
    rows, cols, back, roi_size = roi
    warped = _to_roi(crop, back, roi_size, cv2.BORDER_REPLICATE).astype(np.float32)
    alpha = _to_roi(mask, back, roi_size, cv2.BORDER_CONSTANT)
    region = out[rows, cols].astype(np.float32)
    out[rows, cols] = np.clip(np.rint(region + (warped - region) * alpha[..., None]), 0, 255).astype(frame.dtype)
    return out


class FacePaster:
    """Pastes generated crops of one source photo back into it without losing the photo's resolution.

    A 128² crop of a face that is larger in the photo loses its fine detail (skin, hair, eyes). The
    detail layer (photo minus its own crop pasted back) is added back wherever the generated crop
    did not change from the source crop, so only the moving parts (lips, jaw) come at crop resolution.
    """

    CHANGE_LEVEL = 6.0  # grey levels of change at which the photo's own detail is fully dropped

    def __init__(self, frame: np.ndarray, transform: CropTransform, source_crop: np.ndarray):
        self.frame = np.asarray(frame)
        self.transform = transform
        self.source_crop = np.asarray(source_crop, dtype=np.float32)
        self.roi = _crop_roi(self.frame.shape, transform)
        if self.roi is not None:
            rows, cols, back, roi_size = self.roi
            self.region = self.frame[rows, cols].astype(np.float32)
            self.detail = self.region - _to_roi(self.source_crop, back, roi_size, cv2.BORDER_REPLICATE)
        self._blur = 2 * max(1, round(transform.size / 64)) + 1

    def paste(self, crop: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        _check_crop(self.frame, crop, self.transform.size)
        out = self.frame.copy()
        if self.roi is None:
            return out
        rows, cols, back, roi_size = self.roi
        mask = default_mask(self.transform.size) if mask is None else np.asarray(mask, dtype=np.float32)
        change = np.abs(crop.astype(np.float32) - self.source_crop).max(axis=-1)
        change = cv2.GaussianBlur(cv2.dilate(change, None), (self._blur, self._blur), 0)
        keep = np.clip(1.0 - change / self.CHANGE_LEVEL, 0.0, 1.0)
        generated = _to_roi(crop, back, roi_size, cv2.BORDER_REPLICATE).astype(np.float32)
        generated += _to_roi(keep, back, roi_size, cv2.BORDER_REPLICATE)[..., None] * self.detail
        alpha = _to_roi(mask, back, roi_size, cv2.BORDER_CONSTANT)[..., None]
        blended = self.region + (generated - self.region) * alpha
        out[rows, cols] = np.clip(np.rint(blended), 0, 255).astype(out.dtype)
        return out
