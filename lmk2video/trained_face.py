"""Recognising the face a learned lmk2video generator was trained on.

A generator trained on one person's videos (GRID s1 for the shipped one) has learned that person's whole face in
motion: where the hair outline, ears, collar and jaw shading go as the head and mouth move. On that face its
own frames are right everywhere (on the 98 s1 test clips 1.4 dB over the mouth-only path); on anyone else they
paint its training face's look, so there only its mouth interior is used (lmk2video.learned.correction_field). Which case a photo is, is decided the way face verification decides it:
the dlib face descriptor of the photo against the mean descriptor of the training clips, at dlib's published
same-person distance (talkface.metrics.SAME_PERSON_THRESHOLD, 0.6). The sidecar key `trained_face` records the mean
descriptor; a checkpoint without it treats every face as unknown.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict

import numpy as np

from talkface.metrics.identity import SAME_PERSON_THRESHOLD, FaceDescriber

SIDECAR_KEY = "trained_face"


FRAMES = 100  # training clips described (first frame of each): the mean settles long before


def fit_trained_face(faces: list[tuple[np.ndarray, np.ndarray]], speaker: str, fitted_on: str) -> dict:
    """The sidecar entry from (crop, its (68, 2) landmarks) frames of one speaker's training clips."""
    describer = FaceDescriber()
    descriptors = np.stack([describer.describe(crop, landmarks) for crop, landmarks in faces])
    return trained_face_record(descriptors, speaker, fitted_on)


def trained_face_record(descriptors: np.ndarray, speaker: str, fitted_on: str) -> dict:
    """The sidecar entry from the (K, 128) descriptors of training frames of one speaker."""
    descriptors = np.asarray(descriptors, np.float64)
    mean = descriptors.mean(axis=0)
    spread = np.linalg.norm(descriptors - mean, axis=1)
    return {"speaker": speaker, "fitted_on": fitted_on, "n_frames": len(descriptors),
            "descriptor": [round(float(v), 6) for v in mean], "max_distance_in_training": float(spread.max()),
            "threshold": SAME_PERSON_THRESHOLD}


def distance_to_trained_face(meta: dict, crop: np.ndarray, landmarks: np.ndarray) -> float | None:
    """Descriptor distance of the face in `crop` (at its (68, 2) `landmarks`) to the checkpoint's training face;
    None when the sidecar records none."""
    record = meta.get(SIDECAR_KEY)
    if not record:
        return None
    descriptor = describe(crop, landmarks)
    return float(np.linalg.norm(descriptor.astype(np.float64) - np.asarray(record["descriptor"], np.float64)))


KEEP = 16  # faces whose descriptors are kept: a batch renders one photo for many recordings
_described: OrderedDict[bytes, np.ndarray] = OrderedDict()
_lock = threading.Lock()  # one net per process, its buffers not shared between threads (the app's requests)


def describe(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The dlib descriptor of the face in `crop` at `landmarks`; a face described lately is not described again
    (0.17 s), and the net is loaded once per process (0.15 s)."""
    crop, landmarks = np.ascontiguousarray(crop), np.ascontiguousarray(landmarks, np.float64)
    key = hashlib.blake2b(f"{crop.shape}{crop.dtype}".encode() + crop.tobytes() + landmarks.tobytes()).digest()
    with _lock:
        if key not in _described:
            _described[key] = _describer().describe(crop, landmarks)
            if len(_described) > KEEP:
                _described.popitem(last=False)
        return _described[key].copy()


@functools.lru_cache(maxsize=1)
def _describer() -> FaceDescriber:
    return FaceDescriber()


def is_trained_face(meta: dict, crop: np.ndarray, landmarks: np.ndarray) -> bool:
    """Whether the face in `crop` is the person the checkpoint was trained on."""
    distance = distance_to_trained_face(meta, crop, landmarks)
    return distance is not None and distance < meta[SIDECAR_KEY].get("threshold", SAME_PERSON_THRESHOLD)
