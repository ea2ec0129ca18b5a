"""`talkface edit`: one photo, a new expression, the same photo back.

The face's 68 landmarks are found, the expression's displacement (learned from many people's expressions,
talkface/expression/) is added in the face's normalised frame, and the training-free warp moves the photo's own
pixels there, at the photo's resolution: lips that part show a painted mouth interior (teeth hanging from the
upper lip), and skin the expression compresses is shaded (talkface/expression/shading.py). Pixels outside the
face's paste region are the photo's own, bit for bit.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from talkface.errors import TalkfaceError
from talkface.expression.apply import express_face
from talkface.expression.shapes import shipped
from talkface.expression.spec import ExpressionPlan, expression_plan
from talkface.media import read_image, require_file
from talkface.safe_output import IMAGE_SUFFIXES, atomic_output, check_output
from talkface.landmarks.detect import detect_landmarks

FACES_REMEMBERED = 4


def still_plan(expression: str | None = None, intensity: float = 1.0,
               units: dict[int, float] | None = None) -> ExpressionPlan:
    """The plan of a photo edit from Python values (an expression name, its intensity, units)."""
    spec = None if expression is None else f"{expression}:{intensity:g}"
    unit_text = ",".join(f"{u}={v:g}" for u, v in (units or {}).items()) or None
    plan = expression_plan(spec, unit_text)
    if plan is None:
        raise TalkfaceError("edit: give an expression or action units")
    return plan


def require_still(plan: ExpressionPlan) -> None:
    if not plan.is_still:
        raise TalkfaceError("--expression: a photo takes one expression, not keyframes")


class Editor:
    """Photo -> the same photo with another expression. Models load on first use and are kept (the app keeps one)."""

    def __init__(self):
        self._synth = None
        self._faces: dict[tuple, np.ndarray] = {}  # the last photos' landmarks: a preview re-edits the same photo

    def landmarks(self, image: np.ndarray, face_index: int | None = None, name: str = "image") -> np.ndarray:
        """(68, 2) landmarks of the photo's face, remembered for the last few photos (by their pixels)."""
        key = (hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).hexdigest(), image.shape, face_index)
        if key not in self._faces:
            if len(self._faces) >= FACES_REMEMBERED:
                self._faces.pop(next(iter(self._faces)))
            self._faces[key] = detect_landmarks(image, face_index=face_index, name=name)
        return self._faces[key]

    @property
    def synthesizer(self):
        if self._synth is None:
            from talkface.pipeline import Synthesizer

            self._synth = Synthesizer(audio2lmk="phonetic", lmk2video="warp")
        return self._synth

    def target_landmarks(self, landmarks: np.ndarray, plan: ExpressionPlan) -> np.ndarray:
        """(68, 2) landmarks of the face with the plan's (still) expression."""
        from talkface.landmarks.normalize import to_normalised

        require_still(plan)
        neutral_norm, _ = to_normalised(np.asarray(landmarks, np.float64))
        return express_face(landmarks, plan.still_displacement(neutral_norm, shipped()))

    def edit(self, image: np.ndarray, plan: ExpressionPlan, face_index: int | None = None,
             name: str = "image") -> np.ndarray:
        require_still(plan)  # before any work
        landmarks = self.landmarks(image, face_index, name)
        if plan.is_neutral:
            return np.array(image, copy=True)
        target = self.target_landmarks(landmarks, plan)
        synth = self.synthesizer
        source = synth.source_face_at(image, landmarks)
        return next(iter(synth.render(source, target[None], expression_rest=landmarks[None])))

    def edit_files(self, image_path, out, plan: ExpressionPlan, face_index: int | None = None) -> Path:
        """Check the input and the output (before any model loads), edit, write the image atomically."""
        require_file(image_path)
        out = check_output(out, [image_path], IMAGE_SUFFIXES)
        image = read_image(image_path)
        edited = self.edit(image, plan, face_index, name=str(image_path))
        write_image(out, edited)
        return out


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """An RGB uint8 image to .png/.jpg (JPEG quality 95), written to a temp file and renamed."""
    import cv2

    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(path.suffix.lower(), np.ascontiguousarray(image[..., ::-1]), params)
    if not ok:
        raise TalkfaceError(f"{path}: could not encode the image")
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(data.tobytes())


_EDITOR: Editor | None = None


def edit_image(image: np.ndarray, expression: str | None = None, intensity: float = 1.0,
               units: dict[int, float] | None = None, face_index: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB photo -> the same photo with the expression (a name of talkface.expression.EXPRESSIONS)
    at `intensity` (0 to 1) and/or action units {unit: 0..1}."""
    global _EDITOR
    if _EDITOR is None:
        _EDITOR = Editor()
    return _EDITOR.edit(image, still_plan(expression, intensity, units), face_index)
