"""Landmark tracks on disk: .npz with keys `landmarks` (T,68,2), `fps`, `image_size` (h, w)."""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkface.errors import TalkfaceError
from talkface.landmarks.indices import interocular
from talkface.safe_output import atomic_output, check_output, write_error

MAX_FPS = 1000.0  # beyond any camera; a larger value is a damaged file
MAX_COORD = 1e6  # pixels; coordinates beyond this are damage, not a face


@dataclass(frozen=True)
class Track:
    landmarks: np.ndarray  # (T, 68, 2) float32, pixels of an image of image_size
    fps: float
    image_size: tuple[int, int]  # (h, w)


def save_track(
    path: str | os.PathLike, landmarks: np.ndarray, fps: float, image_size: tuple[int, int]
) -> None:
    """Write atomically (temp file in the same folder, then rename): no half-written track."""
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2):
        raise TalkfaceError(f"{path}: landmarks must be (T, 68, 2), got {landmarks.shape}")
    path = check_output(path)
    with atomic_output(path) as tmp:
        try:
            with open(tmp, "wb") as f:
                np.savez(f, landmarks=landmarks, fps=np.float64(fps), image_size=np.array(image_size, dtype=np.int64))
        except OSError as err:
            raise write_error(path, err) from None


def check_landmarks(landmarks: np.ndarray, name: str = "track") -> np.ndarray:
    """A (T>=1, 68, 2) float32 track of finite face shapes, or a one-line TalkfaceError naming `name`."""
    landmarks = np.asarray(landmarks)
    if landmarks.dtype.kind not in "iuf" or landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2):
        raise TalkfaceError(f"{name}: landmarks must be a (T, 68, 2) number array, got {landmarks.dtype} "
                            f"{landmarks.shape}")
    if len(landmarks) == 0:
        raise TalkfaceError(f"{name}: the track has no frames")
    landmarks = landmarks.astype(np.float32)
    if not np.isfinite(landmarks).all():
        bad = int(np.argmax(~np.isfinite(landmarks).all(axis=(1, 2))))
        raise TalkfaceError(f"{name}: landmarks contain NaN or infinite values (first at frame {bad})")
    if np.abs(landmarks).max() > MAX_COORD:
        raise TalkfaceError(f"{name}: landmark coordinates out of range (beyond {MAX_COORD:g} pixels)")
    flat = interocular(landmarks) < 1e-3
    if flat.any():
        raise TalkfaceError(f"{name}: frame {int(np.argmax(flat))} is not a face shape (its eye centres coincide)")
    return landmarks


def _field(data, key: str, path) -> np.ndarray:
    if key not in data.files:
        raise TalkfaceError(f"{path}: not a landmark track (no '{key}' array; expected landmarks, fps, image_size)")
    try:
        return data[key]
    except ValueError:  # an object array: it would need pickle, which is never loaded
        raise TalkfaceError(f"{path}: '{key}' is not a numeric array") from None


def load_track(path: str | os.PathLike) -> Track:
    """A checked track: (T>=1, 68, 2) finite coordinates, 0 < fps <= MAX_FPS, a positive image size;
    one-line TalkfaceError naming the file otherwise."""
    path = Path(path)
    if not path.exists():
        raise TalkfaceError(f"{path}: landmark track not found")
    if not path.is_file():
        raise TalkfaceError(f"{path}: not a file")
    if not zipfile.is_zipfile(path):
        raise TalkfaceError(f"{path}: not a landmark track (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            landmarks, fps, size = (_field(data, key, path) for key in ("landmarks", "fps", "image_size"))
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise TalkfaceError(f"{path}: not a readable landmark track ({str(err).splitlines()[0] if str(err) else 'corrupt'})") \
            from None
    landmarks = check_landmarks(landmarks, str(path))
    if fps.dtype.kind not in "iuf" or fps.size != 1 or not np.isfinite(float(fps.reshape(-1)[0])) \
            or not 0 < float(fps.reshape(-1)[0]) <= MAX_FPS:
        raise TalkfaceError(f"{path}: fps must be a number in (0, {MAX_FPS:g}], got {fps.reshape(-1)[:1].tolist()}")
    if size.dtype.kind not in "iuf" or size.size != 2 or not np.isfinite(size).all() or (size <= 0).any():
        raise TalkfaceError(f"{path}: image_size must be two positive numbers (h, w), got {size.tolist()}")
    h, w = (int(v) for v in size.reshape(-1))
    return Track(landmarks, float(fps.reshape(-1)[0]), (h, w))
