"""Mouth crops: one fixed box per clip, centred on the mouth and sized by its width.

The same path serves real and generated videos (`mouth_crops_from_video`), so a WER gap between them
comes from the pixels, not from a different crop.
"""

from __future__ import annotations

import cv2
import numpy as np

from talkface.errors import TalkfaceError
from talkface.face_crop import crop_face, crop_transform
from talkface.landmarks.indices import MOUTH
from talkface.landmarks.track import track_video

MOUTH_SIZE = (24, 48)     # (height, width) of a mouth crop
BOX_WIDTH = 1.7           # box width in mouth widths (corner to corner); room for cheeks and lip motion
FACE_CROP_SIZE = 128      # face crop size mouth_crops_from_video works in (that of the prepared data)
_LEFT_CORNER, _RIGHT_CORNER = 48, 54


def mouth_affine(crop_landmarks: np.ndarray, size: tuple[int, int] = MOUTH_SIZE) -> np.ndarray:
    """(2, 3) affine, face-crop pixels -> mouth-crop pixels, from the clip's median mouth position and width.

    The median over frames (not one frame) keeps the box steady when a single frame is tracked badly.
    """
    lmk = np.asarray(crop_landmarks, dtype=np.float64)
    if lmk.ndim != 3 or lmk.shape[1:] != (68, 2) or len(lmk) == 0:
        raise TalkfaceError(f"mouth_affine: expected (T, 68, 2) landmarks, got {lmk.shape}")
    centre = np.median(lmk[:, MOUTH].mean(1), axis=0)
    width = np.median(np.linalg.norm(lmk[:, _RIGHT_CORNER] - lmk[:, _LEFT_CORNER], axis=1))
    h, w = size
    scale = w / (BOX_WIDTH * max(width, 1.0))  # mouth-crop pixels per face-crop pixel
    # Box centre -> centre of the output image (pixel i centred at coordinate i).
    return np.array([[scale, 0.0, (w - 1) / 2 - scale * centre[0]],
                     [0.0, scale, (h - 1) / 2 - scale * centre[1]]])


def mouth_crops(crops: np.ndarray, crop_landmarks: np.ndarray, size: tuple[int, int] = MOUTH_SIZE) -> np.ndarray:
    """(T, H, W) float32 grey mouth crops of face crops (T, N, N, 3) uint8, standardised per clip.

    Per-clip zero mean / unit variance removes lighting and skin-tone offsets between videos.
    """
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise TalkfaceError(f"mouth_crops: expected (T, N, N, 3) face crops, got {crops.shape}")
    if len(crop_landmarks) != len(crops):
        raise TalkfaceError(f"mouth_crops: {len(crops)} crops but {len(crop_landmarks)} landmark frames")
    box = mouth_affine(crop_landmarks, size)
    h, w = size
    out = np.stack([
        cv2.warpAffine(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), box, (w, h),
                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        for frame in crops]).astype(np.float32)
    return (out - out.mean()) / max(float(out.std()), 1e-3)


def mouth_crops_from_video(frames: np.ndarray, size: tuple[int, int] = MOUTH_SIZE, detector=None,
                           name: str = "video") -> np.ndarray:
    """(T, H, W) float32 mouth crops of any video's frames (T, H, W, 3) uint8 RGB.

    Same placement as `talkface prepare`: landmarks tracked over the clip, a face crop fixed by the first
    frame's landmarks, then `mouth_crops`. Raises NoFaceError when no frame has a face.
    """
    landmarks = track_video(frames, detector=detector, name=name)
    transform = crop_transform(landmarks[0], size=FACE_CROP_SIZE)
    crops = np.stack([crop_face(frame, transform) for frame in frames])
    return mouth_crops(crops, transform.to_crop(landmarks), size)
