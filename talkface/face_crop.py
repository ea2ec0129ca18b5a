"""Aligned face crops and seam-free paste-back.

A crop is a similarity of the frame chosen from the stable landmarks (brows, eyes, nose,
jaw sides) of one reference frame, so it stays fixed over a clip and lip motion shows as
motion inside the crop. The template places the normalised face frame (see
landmarks.normalize: eye centres at (-/+0.5, 0), unit interocular) in the crop.

Paste-back API (all blending is multi-band, talkface.blend, and only inside the crop's region):
- `FacePaster(frame, transform, source_crop)`, for crops generated from that frame's own crop:
  `.paste(crop)` keeps the frame's exact pixels wherever the crop did not change;
  `.paste_moved(painted, coords)` moves the frame itself at full resolution by a mesh warp's
  coordinates and adds what the generator painted (what the pipeline uses);
  `.frame_alpha()` is the paste mask in frame pixels.
- `auto_crop_size(landmarks)`: the crop size that keeps a face at its own resolution.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from talkface.blend import multiband_blend
from talkface.errors import TalkfaceError
from talkface.landmarks.normalize import MEAN_SHAPE, STABLE_WEIGHTS, fit_similarity

# Normalised-frame window shown by the crop: x in [-1.5, 1.5], y in [-0.8, 2.2]. The mean
# face spans x +/-1.15 (ear to ear) and y -0.37 (brows) to 1.84 (chin), so this leaves
# forehead above and room below the chin for an open jaw. Eyes land at 27% of the height.
CROP_SPAN = 3.0
CROP_LEFT = -CROP_SPAN / 2
CROP_TOP = -0.8
MIN_AUTO_SIZE = 128  # the learned generator's own crop size
MAX_CROP_SIZE = 512  # above this the face is worked on downscaled (cost grows with the square)

DETAIL_SIGMA = 1.0  # photo pixels: finer than this is the grain paste_moved carries by nearest pixel
# Crop pixels: across the paste mask's edge, detail finer than this is moved less and less (its motion fades),
# coarser detail is cross-faded between the moved and the still photo. Cross-fading fine detail would mix two
# shifted copies of it (a soft band: the seam measure 0.90 on a 2048-px photo); cross-fading the coarse layer
# keeps the edge's PSNR against real frames (docs/results.md, "The paste's edge").
FADE_SIGMA = 1.5
PASTE_INSET = 0.015  # paste_mask fades out over this fraction of the crop at each side (the motion is ~0 there)


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


def crop_face(frame: np.ndarray, transform: CropTransform, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """(size, size, 3) uint8 crop of a (H, W, 3) uint8 frame (bilinear, or `interpolation`; border replicated)."""
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
    return cv2.warpAffine(src, matrix, (size, size), flags=interpolation, borderMode=cv2.BORDER_REPLICATE)


def _feather(hard: np.ndarray, size: int) -> np.ndarray:
    k = 2 * max(1, round(size / 20)) + 1  # truncated kernel: the mask ends k // 2 px past the shape
    return cv2.GaussianBlur(hard.astype(np.float32) / 255.0, (k, k), 0)


def paste_mask(size: int) -> np.ndarray:
    """(size, size) float32 mask over the whole crop, fading to 0 towards its border.

    The warp keeps the crop border in place, so the generated crop meets the photo there by itself: the
    mask can cover everything, and no ellipse is left where a face moved inside a fixed paste region.
    """
    inset = max(2, round(size * PASTE_INSET))
    hard = np.zeros((size, size), np.uint8)
    cv2.rectangle(hard, (inset, inset), (size - 1 - inset, size - 1 - inset), 255, thickness=-1)
    k = 2 * inset + 1
    return cv2.GaussianBlur(hard.astype(np.float32) / 255.0, (k, k), 0)


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


def _to_roi(image: np.ndarray, back: np.ndarray, roi_size: tuple[int, int], border: int,
            interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    return cv2.warpAffine(image, back, roi_size, flags=interpolation, borderMode=border, borderValue=0)


def _check_crop(frame: np.ndarray, crop: np.ndarray, size: int) -> None:
    if crop.shape != (size, size, frame.shape[2]):
        raise TalkfaceError(f"FacePaster: crop must be {(size, size, frame.shape[2])}, got {crop.shape}")


class FacePaster:
    """Pastes generated crops of one source photo back into it at the photo's own resolution.

    Only the change a crop makes to the source crop is carried into the photo: where nothing moved the
    output is the photo's own pixels (not its crop resampled back), and where something moved, the photo's
    fine detail at the old place (photo minus its crop pasted back) is dropped so it does not ghost. The
    change is blended in band by band (multi-band blending) through `mask` (paste_mask by default), so
    colour, grain and sharpness meet the photo without a seam. All work happens inside the crop's
    bounding box in the photo (its ROI): the cost per frame follows the face, not the photo.

    For a video (dubbing), make one FacePaster per frame: its constructor is cheap next to a paste.
    """

    CHANGE_LEVEL = 6.0  # grey levels of change at which the photo's own detail is fully dropped

    def __init__(self, frame: np.ndarray, transform: CropTransform, source_crop: np.ndarray,
                 mask: np.ndarray | None = None):
        self.frame = np.asarray(frame)
        self.transform = transform
        self.source_crop = np.asarray(source_crop, dtype=np.float32)
        size = transform.size
        self.mask = paste_mask(size) if mask is None else np.asarray(mask, dtype=np.float32)
        self.roi = _crop_roi(self.frame.shape, transform)
        self._blur = 2 * max(1, round(size / 64)) + 1
        if self.roi is not None:
            rows, cols, back, roi_size = self.roi
            self.region = self.frame[rows, cols].astype(np.float32)
            self.detail = self.region - _to_roi(self.source_crop, back, roi_size, cv2.BORDER_REPLICATE, cv2.INTER_CUBIC)
            self.alpha = _to_roi(self.mask, back, roi_size, cv2.BORDER_CONSTANT)
            self._moving = None  # set up on the first paste_moved

    def _moving_setup(self):
        """Per-photo constants of paste_moved: ROI pixel grid, its crop coordinates, photo split in bands."""
        if self._moving is None:
            h, w = self.region.shape[:2]
            x0, y0 = self.roi[1].start, self.roi[0].start
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
            in_crop = self.transform.to_crop(np.stack([xs + x0, ys + y0], axis=-1)).astype(np.float32)
            to_photo = np.linalg.inv(self.transform.matrix[:, :2]).astype(np.float32)  # crop -> photo vectors
            low = cv2.GaussianBlur(self.region, (0, 0), DETAIL_SIGMA)
            coarse = cv2.GaussianBlur(self.region, (0, 0), max(FADE_SIGMA / self.transform.scale, DETAIL_SIGMA))
            self._moving = (xs, ys, in_crop, to_photo, coarse, low - coarse, self.region - low)
        return self._moving
    def frame_alpha(self) -> np.ndarray:
        """(H, W) float32: the paste mask in photo pixels (0 outside the crop's reach)."""
        out = np.zeros(self.frame.shape[:2], np.float32)
        if self.roi is not None:
            rows, cols = self.roi[:2]
            out[rows, cols] = self.alpha
        return out

    def paste_moved(self, painted: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """A copy of the photo with its face moved and painted, resampled once from the photo itself.

        coords (size, size, 2): for each crop pixel, the source-crop coordinates a mesh warp reads it from
        (WarpGenerator.motion); painted (size, size, 3) float32: what the generator added on top of that
        warp (mouth interior, learned correction; 0 elsewhere). The motion is carried to photo pixels and
        the photo is read there directly -- its smooth layer bicubically, its finest layer (grain, pores,
        paint cracks) by nearest pixel so it keeps its contrast -- so the face moves at the photo's full
        resolution whatever the crop size; the painted part is added at crop resolution. Across the paste mask's
        edge the coarse layer (and the paint) is blended multi-band into the still photo, while the finer layers
        are moved by the motion faded by the mask, so no two shifted copies of the grain are mixed (FADE_SIGMA).
        """
        size = self.transform.size
        if coords.shape != (size, size, 2) or painted.shape != (size, size, 3):
            raise TalkfaceError(f"paste_moved: coords must be {(size, size, 2)} and painted {(size, size, 3)}, "
                                f"got {coords.shape} and {painted.shape}")
        out = self.frame.copy()
        if self.roi is None:
            return out
        rows, cols, back, roi_size = self.roi
        xs, ys, in_crop, to_photo, coarse, mid, fine = self._moving_setup()
        grid = np.stack(np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32)), -1)
        shift = np.ascontiguousarray(coords - grid, np.float32)  # crop pixels, 0 at the crop border
        shift = cv2.remap(shift, in_crop[..., 0], in_crop[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        shift = shift @ to_photo.T
        moved = cv2.remap(coarse, xs + shift[..., 0], ys + shift[..., 1], cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)
        moved += _to_roi(np.ascontiguousarray(painted, np.float32), back, roi_size, cv2.BORDER_CONSTANT,
                         cv2.INTER_CUBIC)
        shift *= self.alpha[..., None]
        map_x, map_y = xs + shift[..., 0], ys + shift[..., 1]
        detail = cv2.remap(mid, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        detail += cv2.remap(fine, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        blended = detail + multiband_blend(coarse, moved, self.alpha)
        out[rows, cols] = np.clip(np.rint(blended), 0, 255).astype(out.dtype)
        return out

    def paste(self, crop: np.ndarray) -> np.ndarray:
        """A copy of the photo with `crop` ((size, size, 3) uint8, a generated version of source_crop) pasted in."""
        _check_crop(self.frame, crop, self.transform.size)
        out = self.frame.copy()
        if self.roi is None:
            return out
        rows, cols, back, roi_size = self.roi
        change = crop.astype(np.float32) - self.source_crop
        moved = cv2.GaussianBlur(cv2.dilate(np.abs(change).max(axis=-1), None), (self._blur, self._blur), 0)
        lost = np.clip(moved / self.CHANGE_LEVEL, 0.0, 1.0)  # 1 where the photo's own detail is dropped
        diff = _to_roi(change, back, roi_size, cv2.BORDER_CONSTANT, cv2.INTER_CUBIC)
        diff -= _to_roi(lost, back, roi_size, cv2.BORDER_CONSTANT)[..., None] * self.detail
        blended = multiband_blend(self.region, self.region + diff, self.alpha)
        out[rows, cols] = np.clip(np.rint(blended), 0, 255).astype(out.dtype)
        return out


def check_crop_size(size: int | str) -> int | str:
    """'auto' or a crop size in pixels (a multiple of 8 in [64, MAX_CROP_SIZE])."""
    if size == "auto":
        return size
    try:
        value = int(size)
    except (TypeError, ValueError):
        raise TalkfaceError(f"--size {size}: not 'auto' or a number of pixels") from None
    if value > MAX_CROP_SIZE:
        raise TalkfaceError(f"--size {value}: the face is worked on at most {MAX_CROP_SIZE} px "
                            f"(larger faces are pasted back at the photo's full resolution anyway); use --size auto")
    if value < 64 or value % 8:
        raise TalkfaceError(f"--size {value}: must be a multiple of 8 from 64 to {MAX_CROP_SIZE}, or auto")
    return value


def auto_crop_size(landmarks: np.ndarray) -> int:
    """The crop size at which a face of (68, 2) landmarks keeps its own resolution: one crop pixel per photo
    pixel, rounded up to a multiple of 8, at least MIN_AUTO_SIZE and at most MAX_CROP_SIZE."""
    probe = crop_transform(landmarks, 1)
    native = 1.0 / max(probe.scale, 1e-9)  # photo pixels across the crop window
    return int(min(max(8 * np.ceil(native / 8), MIN_AUTO_SIZE), MAX_CROP_SIZE))
