"""Face detection and 68-point landmarks: dlib (default, offline) or FAN (optional).

dlib's model files ship in the `face_recognition_models` wheel; they are located through
the import system without importing that package (its __init__ needs pkg_resources).
Loaded models are cached per process because loading the predictor takes ~0.5 s. dlib's HOG
face detector is read from data/frontal_face_detector.svm, the same detector saved by
`dlib.get_frontal_face_detector().save(...)`: identical detections, loaded in 1 ms instead of the
~0.4 s dlib takes to decode its built-in copy.
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import dlib
import numpy as np

from talkface.errors import NoFaceError, TalkfaceError

SHAPE_PREDICTOR_68 = "shape_predictor_68_face_landmarks.dat"
HOG_DETECTOR = Path(__file__).parent / "data" / "frontal_face_detector.svm"
FACE_RECOGNITION_RESNET = "dlib_face_recognition_resnet_model_v1.dat"

MIN_FACE_PIXELS = 20  # a side shorter than this cannot hold a face the detector finds
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels


@dataclass(frozen=True)
class Face:
    box: Box
    landmarks: np.ndarray  # (68, 2) float32, (x, y) pixels

    @property
    def area(self) -> float:
        return _box_area(self.box)


def _box_area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


class FaceDetector(Protocol):
    """What tracking needs from a backend: full detection, and landmarks inside a given box."""

    def detect(self, image_rgb: np.ndarray, min_faces: int = 1) -> list[Face]: ...

    def predict_shape(self, image: np.ndarray, box: Box) -> np.ndarray: ...


def dlib_model_path(name: str) -> Path:
    """Path of a dlib model file shipped by face_recognition_models (e.g. FACE_RECOGNITION_RESNET)."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        path = Path(loc) / "models" / name
        if path.is_file():
            return path
    raise TalkfaceError(
        f"{name}: dlib model file not found; install it with `pip install face_recognition_models`"
    )


@functools.lru_cache(maxsize=None)
def _hog_detector() -> dlib.fhog_object_detector:
    return dlib.fhog_object_detector(str(HOG_DETECTOR))


@functools.lru_cache(maxsize=None)
def _shape_predictor() -> dlib.shape_predictor:
    return dlib.shape_predictor(str(dlib_model_path(SHAPE_PREDICTOR_68)))


def _as_gray(image: np.ndarray) -> np.ndarray:
    """uint8 RGB (H,W,3) or grey (H,W) -> contiguous grey; dlib's HOG and predictor use intensity."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise TalkfaceError(
            f"expected a uint8 RGB (H,W,3) or grey (H,W) image, got {image.dtype} {image.shape}"
        )
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(image)


def _rect_iou(a, b) -> float:
    w = min(a.right(), b.right()) - max(a.left(), b.left()) + 1
    h = min(a.bottom(), b.bottom()) - max(a.top(), b.top()) + 1
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.width() * a.height() + b.width() * b.height() - inter)


def _dlib_shape(gray: np.ndarray, box: Box) -> np.ndarray:
    rect = dlib.rectangle(*(int(round(v)) for v in box))
    shape = _shape_predictor()(gray, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


class DlibDetector:
    """HOG face detector + dlib's 68-point shape predictor (iBUG 300-W)."""

    def __init__(self, max_side: int = 640):
        self.max_side = max_side  # larger images are detected on a downscaled copy

    def _boxes(self, gray: np.ndarray, min_faces: int = 1) -> list[Box]:
        scale = min(1.0, self.max_side / max(gray.shape))
        small = gray
        if scale < 1.0:
            size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
            small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
            scale = size[0] / gray.shape[1]
        rects = list(_hog_detector()(small, 0))
        if len(rects) < min_faces:
            # ~4x slower, so only when faces are too small for one pass or fewer than asked for were found;
            # it finds the large faces again, so those are kept once.
            rects += [r for r in _hog_detector()(small, 1) if all(_rect_iou(r, q) < 0.5 for q in rects)]
        # dlib's right/bottom are inclusive pixel indices.
        return [
            (r.left() / scale, r.top() / scale, (r.right() + 1) / scale - 1, (r.bottom() + 1) / scale - 1)
            for r in rects
        ]

    def boxes(self, image_rgb: np.ndarray, min_faces: int = 1) -> list[Box]:
        """Face boxes, largest first, without landmarks (no predictor is loaded)."""
        return sorted(self._boxes(_as_gray(image_rgb), min_faces), key=_box_area, reverse=True)

    def detect(self, image_rgb: np.ndarray, min_faces: int = 1) -> list[Face]:
        """Faces, largest first; the slower upsampled pass runs when the quick one finds fewer than min_faces."""
        gray = _as_gray(image_rgb)
        # The shape is refined at full resolution even when detection ran downscaled.
        return [Face(box, _dlib_shape(gray, box)) for box in self.boxes(gray, min_faces)]

    def predict_shape(self, image: np.ndarray, box: Box) -> np.ndarray:
        return _dlib_shape(_as_gray(image), box)


def _fan_weight_files() -> list[tuple[str, str]]:
    """(file name, URL) of the weights face-alignment would download for this torch version."""
    import torch
    from face_alignment import api
    from face_alignment.detection.sfd import sfd_detector

    # Same version key face-alignment uses to choose its 2DFAN-4 build.
    v = torch.__version__
    version = v.rsplit(".", 2)[0] if "dev" in v else v.rsplit(".", 1)[0]
    tables = getattr(api, "models_urls", {})
    fan_url = tables.get(version, api.default_model_urls)["2DFAN-4"]
    sfd_url = sfd_detector.models_urls["s3fd"]
    return [(url.rsplit("/", 1)[1], url) for url in (fan_url, sfd_url)]


class FanDetector:
    """face-alignment's 2D FAN with its S3FD detector; used only when its weights are on disk."""

    def __init__(self, device: str | None = None):
        try:
            import face_alignment
            import torch
        except ImportError as err:
            raise TalkfaceError(
                f"FAN landmarks need the face-alignment package ({err}); "
                "install it with `pip install face-alignment`, or use the dlib detector"
            ) from err
        checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
        missing = [(n, u) for n, u in _fan_weight_files() if not (checkpoints / n).is_file()]
        if missing:
            # talkface never downloads weights at run time: say where they go instead.
            urls = " and ".join(u for _, u in missing)
            raise TalkfaceError(
                f"FAN weights missing from {checkpoints}: download {urls} into that folder "
                "(or run face-alignment once with network access), or use the dlib detector"
            )
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        kind = getattr(face_alignment.LandmarksType, "TWO_D", None) or face_alignment.LandmarksType._2D
        self._fa = face_alignment.FaceAlignment(kind, device=device, face_detector="sfd")

    def detect(self, image_rgb: np.ndarray, min_faces: int = 1) -> list[Face]:
        image = np.asarray(image_rgb)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        lmks, _, boxes = self._fa.get_landmarks_from_image(image, return_bboxes=True)
        if lmks is None:
            return []
        faces = [Face(tuple(float(v) for v in b[:4]), l[:, :2].astype(np.float32)) for l, b in zip(lmks, boxes)]
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def predict_shape(self, image: np.ndarray, box: Box) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        lmks = self._fa.get_landmarks_from_image(image, detected_faces=[np.array([*box, 1.0])])
        return lmks[0][:, :2].astype(np.float32)


def get_detector(name: str = "dlib") -> FaceDetector:
    """A detector by name, "dlib" (default) or "fan"; one shared instance per name."""
    if name not in ("dlib", "fan"):
        raise TalkfaceError(f"unknown landmark detector {name!r}; choose 'dlib' or 'fan'")
    return _shared_detector(name)


@functools.lru_cache(maxsize=None)
def _shared_detector(name: str) -> FaceDetector:
    return DlibDetector() if name == "dlib" else FanDetector()


def detect_landmarks(
    image: np.ndarray,
    detector: FaceDetector | None = None,
    face_index: int | None = None,
    *,
    name: str = "image",
) -> np.ndarray:
    """(68,2) float32 landmarks of the largest face, or of the face_index-th largest.

    `name` only labels error messages (e.g. the file the image came from).
    """
    index = _check_face_index(image, face_index, name)
    faces = (detector or get_detector()).detect(image, min_faces=index + 1)
    return _chosen(faces, index, name).landmarks


def face_box(image: np.ndarray, face_index: int | None = None, *, name: str = "image") -> Box:
    """The box of the face detect_landmarks would choose (dlib), found without loading the landmark model:
    a photo without a face is reported at once. predict_shape(image, face_box(image)) == detect_landmarks(image)."""
    index = _check_face_index(image, face_index, name)
    return _chosen(get_detector("dlib").boxes(image, min_faces=index + 1), index, name)


def _check_face_index(image: np.ndarray, face_index: int | None, name: str) -> int:
    index = 0 if face_index is None else face_index
    if index < 0:
        raise TalkfaceError(f"{name}: face index {index} is negative (0 = the largest face)")
    h, w = np.asarray(image).shape[:2]
    if min(h, w) < MIN_FACE_PIXELS:
        raise NoFaceError(f"{name}: no face found (the image is only {w}x{h} pixels)")
    return index


def _chosen(found: list, index: int, name: str):
    """found[index], or the one-line error saying why there is none."""
    if not found:
        raise NoFaceError(f"{name}: no face found")
    if index >= len(found):
        raise NoFaceError(f"{name}: face index {index} out of range: {len(found)} face(s) found "
                          f"(0 = the largest)")
    return found[index]


def predict_shape(image: np.ndarray, box: Box) -> np.ndarray:
    """dlib's 68 landmarks inside a given face box (no detection); ~1 ms, used for tracking."""
    return _dlib_shape(_as_gray(image), box)
