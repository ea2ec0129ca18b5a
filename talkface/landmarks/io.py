"""Landmark tracks on disk: .npz with keys `landmarks` (T,68,2), `fps`, `image_size` (h, w)."""
from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkface.errors import TalkfaceError


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
    path = Path(path)
    if not path.parent.is_dir():
        raise TalkfaceError(f"{path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, landmarks=landmarks, fps=np.float64(fps), image_size=np.array(image_size, dtype=np.int64))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_track(path: str | os.PathLike) -> Track:
    try:
        with np.load(path, allow_pickle=False) as data:
            landmarks = data["landmarks"].astype(np.float32)
            fps = float(data["fps"])
            h, w = (int(v) for v in data["image_size"])
    except FileNotFoundError as err:
        raise TalkfaceError(f"{path}: landmark track not found") from err
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as err:
        raise TalkfaceError(f"{path}: not a readable landmark track ({err})") from err
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2):
        raise TalkfaceError(f"{path}: landmarks must be (T, 68, 2), got {landmarks.shape}")
    return Track(landmarks, fps, (h, w))
