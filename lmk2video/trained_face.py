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
import threading

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
    with _DESCRIBER_LOCK:  # one net per process, its buffers not shared between threads (the app's requests)
        descriptor = _describer().describe(crop, landmarks)
    return float(np.linalg.norm(descriptor.astype(np.float64) - np.asarray(record["descriptor"], np.float64)))


@functools.lru_cache(maxsize=1)
def _describer() -> FaceDescriber:
    """Loaded on first use (0.15 s) and kept: a batch worker asks for every job."""
    return FaceDescriber()


_DESCRIBER_LOCK = threading.Lock()


def is_trained_face(meta: dict, crop: np.ndarray, landmarks: np.ndarray) -> bool:
    """Whether the face in `crop` is the person the checkpoint was trained on."""
    distance = distance_to_trained_face(meta, crop, landmarks)
    return distance is not None and distance < meta[SIDECAR_KEY].get("threshold", SAME_PERSON_THRESHOLD)
