"""Landmark tracking over a video: sparse face detection, shape prediction in between.

HOG detection costs ~10x the 68-point shape predictor, so faces are detected every
`detect_every` frames and, between detections, the predictor runs in a box derived from
the previous frame's landmarks. The landmarks -> box mapping is calibrated on the first
detection, from the stable points only, so that an opening mouth does not move the box.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from talkface.errors import NoFaceError, TalkfaceError
from talkface.landmarks.detect import Box, Face, FaceDetector, get_detector
from talkface.landmarks.indices import MOUTH, STABLE_POINTS

# Points that move with speech (chin/lower jaw and lips) get at most light smoothing.
_SPEECH_POINTS = np.array([*range(4, 13), *MOUTH])
_STEADY_POINTS = np.array(STABLE_POINTS)
_MIN_IOU = 0.3  # a re-detection further than this from the tracked face is ignored
_REFINE_SHIFT = 0.05  # the shape is predicted again when its box moved by more than this share of its size ...
_REFINE_PASSES = 2    # ... at most this many more times


class _BoxModel:
    """Box = stable-point centroid + offset, sized by the stable points' spread (calibrated once)."""

    def __init__(self, landmarks: np.ndarray, box: Box):
        centre, spread = self._frame(landmarks)
        x0, y0, x1, y1 = box
        self.offset = (np.array([(x0 + x1) / 2, (y0 + y1) / 2]) - centre) / spread
        self.half = np.array([(x1 - x0) / 2, (y1 - y0) / 2]) / spread

    @staticmethod
    def _frame(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
        pts = landmarks[_STEADY_POINTS].astype(np.float64)
        centre = pts.mean(0)
        return centre, float(np.sqrt(((pts - centre) ** 2).sum(1).mean()))

    def box(self, landmarks: np.ndarray) -> Box:
        centre, spread = self._frame(landmarks)
        c = centre + self.offset * spread
        h = self.half * spread
        return (c[0] - h[0], c[1] - h[1], c[0] + h[0], c[1] + h[1])


def _iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _first_face(frames: Sequence[np.ndarray], detector: FaceDetector, name: str) -> tuple[int, Face]:
    for t in range(len(frames)):
        faces = detector.detect(frames[t])
        if faces:
            return t, faces[0]
    raise NoFaceError(f"{name}: no face found in any of its {len(frames)} frames")


def _follow(
    frames: Sequence[np.ndarray],
    order: Iterable[int],
    start: int,
    start_face: Face,
    model: _BoxModel,
    detector: FaceDetector,
    detect_every: int,
    out: np.ndarray,
) -> None:
    """Track from frame `start` through `order` (increasing or decreasing frame indices)."""
    prev = start_face.landmarks
    for t in order:
        box = model.box(prev)
        if abs(t - start) % detect_every == 0:
            # Re-detect to stop drift; take the face overlapping the tracked one, else keep the box.
            near = [f for f in detector.detect(frames[t]) if _iou(f.box, box) >= _MIN_IOU]
            if near:
                out[t] = max(near, key=lambda f: _iou(f.box, box)).landmarks
                prev = out[t]
                continue
        out[t] = detector.predict_shape(frames[t], box)
        prev = out[t]


def smooth_track(landmarks: np.ndarray, stable_sigma: float = 1.5, speech_sigma: float = 0.5) -> np.ndarray:
    """Zero-phase (centred Gaussian) temporal smoothing: no lag, so lips stay in sync.

    Brows, eyes, nose and jaw sides only move with the head and get `stable_sigma` frames;
    lips and chin carry speech and get the lighter `speech_sigma` (0 disables).
    """
    out = np.array(landmarks, dtype=np.float32, copy=True)
    for points, sigma in ((_STEADY_POINTS, stable_sigma), (_SPEECH_POINTS, speech_sigma)):
        if sigma > 0 and len(out) > 1:
            out[:, points] = gaussian_filter1d(out[:, points], sigma, axis=0, mode="nearest")
    return out


def track_video(
    frames: Sequence[np.ndarray],
    detector: FaceDetector | None = None,
    detect_every: int = 5,
    *,
    stable_sigma: float = 1.5,
    speech_sigma: float = 0.5,
    name: str = "video",
) -> np.ndarray:
    """(T,68,2) float32 landmarks of the largest face in frames (T,H,W,3) uint8 RGB.

    Starts at the first frame with a face, tracks forwards and (if that was not frame 0)
    backwards; re-detects every `detect_every` frames. Raises NoFaceError if no frame has one.
    """
    if detect_every < 1:
        raise TalkfaceError(f"track_video: detect_every must be >= 1, got {detect_every}")
    if len(frames) == 0:
        raise TalkfaceError(f"{name}: no frames to track")
    detector = detector or get_detector()
    start, face = _first_face(frames, detector, name)
    model = _BoxModel(face.landmarks, face.box)
    out = np.empty((len(frames), 68, 2), dtype=np.float32)
    out[start] = face.landmarks
    _follow(frames, range(start + 1, len(frames)), start, face, model, detector, detect_every, out)
    _follow(frames, range(start - 1, -1, -1), start, face, model, detector, detect_every, out)
    return smooth_track(out, stable_sigma, speech_sigma)


class StreamTracker:
    """Frame-by-frame tracking for videos too long to hold: `update(frame)` -> (68, 2) landmarks or None.

    Same scheme as track_video (detect every `detect_every` frames, shape predictor in between), but
    forwards only and aware of losing the face: a re-detection that finds nothing near the tracked face
    marks the frame lost, and while lost every frame is searched until a face comes back (the one
    overlapping the last known box, else the `face_index`-th largest). Frames before the first face are lost.
    """

    def __init__(self, detector: FaceDetector | None = None, detect_every: int = 5, face_index: int | None = None,
                 name: str = "video"):
        if detect_every < 1:
            raise TalkfaceError(f"StreamTracker: detect_every must be >= 1, got {detect_every}")
        self.detector = detector or get_detector()
        self.detect_every, self.face_index, self.name = detect_every, face_index or 0, name
        self.model: _BoxModel | None = None
        self.prev: np.ndarray | None = None   # last tracked landmarks; None while lost
        self.last_box: Box | None = None
        self.since_detect = 0
        self.n_faces_seen = 0                 # most faces found in one detection (for the face-index check)

    def _acquire(self, frame: np.ndarray) -> np.ndarray | None:
        faces = self.detector.detect(frame)
        self.n_faces_seen = max(self.n_faces_seen, len(faces))
        if not faces:
            return None
        if self.last_box is not None:
            near = [f for f in faces if _iou(f.box, self.last_box) >= _MIN_IOU]
            if near:
                face = max(near, key=lambda f: _iou(f.box, self.last_box))
                return face.landmarks
        if self.face_index >= len(faces):
            return None
        face = faces[self.face_index]
        if self.model is None:
            self.model = _BoxModel(face.landmarks, face.box)
        return face.landmarks

    def _predict(self, frame: np.ndarray, box: Box) -> np.ndarray:
        """The shape predictor run in the previous frame's box, then again in the box of what it found while
        that box still moves: the predictor only pulls part of the way towards a face that moved far within
        the box, so a fast head (a dancer, a turn) would otherwise leave the landmarks trailing behind it."""
        found = self.detector.predict_shape(frame, box)
        for _ in range(_REFINE_PASSES):
            moved = self.model.box(found)
            size = max(box[2] - box[0], box[3] - box[1])
            if max(abs(moved[0] + moved[2] - box[0] - box[2]), abs(moved[1] + moved[3] - box[1] - box[3])) / 2 \
                    <= _REFINE_SHIFT * size:
                break
            box = moved
            found = self.detector.predict_shape(frame, box)
        return found

    def update(self, frame: np.ndarray) -> np.ndarray | None:
        if self.prev is None:
            found = self._acquire(frame)
            self.since_detect = 0
        else:
            self.since_detect += 1
            box = self.model.box(self.prev)
            if self.since_detect % self.detect_every == 0:
                self.last_box = box
                found = self._acquire(frame)
            else:
                found = self._predict(frame, box)
        self.prev = found
        if found is not None:
            self.last_box = self.model.box(found)
        return found


def smooth_runs(landmarks: np.ndarray, found: np.ndarray, **sigmas) -> np.ndarray:
    """smooth_track over each run of consecutive found frames separately (lost frames are left as they are)."""
    out = np.array(landmarks, dtype=np.float32, copy=True)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], found.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        out[start:stop] = smooth_track(out[start:stop], **sigmas)
    return out


def nearest_found(found: np.ndarray) -> np.ndarray:
    """(T,) index of the nearest frame where the face was found (itself when found)."""
    idx = np.flatnonzero(found)
    t = np.arange(len(found))
    pos = np.clip(np.searchsorted(idx, t), 1, max(1, len(idx) - 1))
    left, right = idx[np.minimum(pos - 1, len(idx) - 1)], idx[np.minimum(pos, len(idx) - 1)]
    return np.where(np.abs(t - left) <= np.abs(right - t), left, right)


def track_stream(frames: Iterable[np.ndarray], detector: FaceDetector | None = None, detect_every: int = 5,
                 face_index: int | None = None, name: str = "video",
                 on_face: Callable[[int, np.ndarray, np.ndarray], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Track a stream of frames holding one frame at a time (StreamTracker) -> (landmarks (T, 68, 2) float32,
    found (T,) bool). Each run of found frames is smoothed on its own; a frame where the face was lost holds
    the nearest found frame's landmarks. on_face(t, frame, landmarks) sees every found frame as it passes.
    Raises NoFaceError if no frame has the face."""
    tracker = StreamTracker(detector, detect_every, face_index, name)
    raw, found = [], []
    for t, frame in enumerate(frames):
        lmk = tracker.update(frame)
        found.append(lmk is not None)
        raw.append(lmk if lmk is not None else np.full((68, 2), np.nan, np.float32))
        if lmk is not None and on_face is not None:
            on_face(t, frame, lmk)
    found = np.array(found, bool)
    if not found.any():
        if face_index and tracker.n_faces_seen:
            raise NoFaceError(f"{name}: --face-index {face_index}: the video shows at most "
                              f"{tracker.n_faces_seen} face(s) (0 = the largest)")
        raise NoFaceError(f"{name}: no face found in any of its {len(found)} frames")
    landmarks = smooth_runs(np.stack(raw), found)
    return landmarks[nearest_found(found)].astype(np.float32), found
