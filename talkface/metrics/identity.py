"""Identity preservation: FMS with dlib's face-recognition ResNet (128-D descriptors).

FMS = percentage of generated frames whose descriptor lies within 0.6 (dlib's same-person
threshold) of the source face's descriptor. A frame where no face is found has no descriptor
(a NaN row) and counts as a failure in FMS; it is left out of the mean distance.
"""

from __future__ import annotations

import dlib
import numpy as np

from talkface.errors import NoFaceError
from talkface.landmarks.detect import FACE_RECOGNITION_RESNET, FaceDetector, detect_landmarks, dlib_model_path

SAME_PERSON_THRESHOLD = 0.6
DESCRIPTOR_DIM = 128


def _full_object_detection(landmarks: np.ndarray) -> dlib.full_object_detection:
    """Wrap (68, 2) landmarks as the dlib shape that the ResNet's face-chip alignment reads."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise NoFaceError("landmarks are NaN: no face was tracked in this frame")
    pts = np.rint(pts).astype(int)  # dlib.point is integer; dlib's own predictor rounds the same way
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    rect = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
    return dlib.full_object_detection(rect, [dlib.point(int(x), int(y)) for x, y in pts])


class FaceDescriber:
    """128-D dlib face descriptors of RGB uint8 images, from given landmarks or a detection."""

    def __init__(self, detector: FaceDetector | None = None):
        self.detector = detector  # None: talkface's default (dlib HOG + 68-point predictor)
        self.net = dlib.face_recognition_model_v1(str(dlib_model_path(FACE_RECOGNITION_RESNET)))

    def describe(self, image_rgb: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """(128,) float32 descriptor of the largest face, or of the face at ``landmarks`` (68, 2).

        Raises NoFaceError when no landmarks are given and the detector finds no face.
        """
        image = np.ascontiguousarray(image_rgb, dtype=np.uint8)
        if landmarks is None:
            landmarks = detect_landmarks(image, self.detector)
        shape = _full_object_detection(landmarks)
        return np.asarray(self.net.compute_face_descriptor(image, shape), dtype=np.float32)

    def describe_batch(self, frames: np.ndarray, landmarks_seq: np.ndarray | None = None) -> np.ndarray:
        """(T, 128) descriptors of (T, H, W, 3) frames; NaN rows where no face was found."""
        out = np.full((len(frames), DESCRIPTOR_DIM), np.nan, dtype=np.float32)
        for i, frame in enumerate(frames):
            try:
                out[i] = self.describe(frame, None if landmarks_seq is None else landmarks_seq[i])
            except NoFaceError:
                pass  # stays NaN: counted as a failure by fms()
        return out


def descriptor_distances(descriptors: np.ndarray, source_descriptor: np.ndarray) -> np.ndarray:
    """Euclidean distance of each (T, 128) descriptor to the source's -> (T,) (NaN where no face)."""
    return np.linalg.norm(np.asarray(descriptors, np.float64) - np.asarray(source_descriptor, np.float64), axis=-1)


def fms(
    gen_descriptors: np.ndarray, source_descriptor: np.ndarray, threshold: float = SAME_PERSON_THRESHOLD
) -> dict[str, float]:
    """FMS (percent of frames within threshold of the source), mean distance over found faces,
    and the number of frames without a face (which count against FMS)."""
    dist = descriptor_distances(np.atleast_2d(gen_descriptors), source_descriptor)
    found = np.isfinite(dist)
    return {
        "fms": float(100.0 * np.mean(dist <= threshold)),  # NaN <= t is False: a no-face frame fails
        "mean_distance": float(dist[found].mean()) if found.any() else float("nan"),
        "no_face_frames": int((~found).sum()),
    }
