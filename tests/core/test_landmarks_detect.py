"""Detector plumbing that needs no corpus: model files, errors, the FAN guard."""
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from talkface.errors import NoFaceError, TalkfaceError
from talkface.landmarks.detect import (
    FACE_RECOGNITION_RESNET,
    SHAPE_PREDICTOR_68,
    FanDetector,
    detect_landmarks,
    dlib_model_path,
    get_detector,
)
from talkface.landmarks.track import track_video


def test_dlib_model_files_are_found_without_importing_their_package():
    for name in (SHAPE_PREDICTOR_68, FACE_RECOGNITION_RESNET):
        path = dlib_model_path(name)
        assert path.is_file() and path.parent.name == "models"
    assert "face_recognition_models" not in sys.modules
    with pytest.raises(TalkfaceError, match="nothing.dat: dlib model file not found"):
        dlib_model_path("nothing.dat")


def test_blank_images_and_videos_have_no_face():
    blank = np.full((120, 160, 3), 90, np.uint8)
    assert get_detector().detect(blank) == []
    with pytest.raises(NoFaceError, match="photo.jpg: no face found"):
        detect_landmarks(blank, name="photo.jpg")
    with pytest.raises(NoFaceError, match="no face found in any of its 3 frames"):
        track_video(np.stack([blank] * 3))


def test_bad_images_and_names_are_rejected():
    with pytest.raises(TalkfaceError, match="uint8"):
        get_detector().detect(np.zeros((50, 50, 3), np.float32))
    with pytest.raises(TalkfaceError, match="uint8"):
        get_detector().detect(np.zeros((50, 50, 4), np.uint8))
    with pytest.raises(TalkfaceError, match="unknown landmark detector 'mtcnn'"):
        get_detector("mtcnn")
    assert get_detector() is get_detector("dlib")


def test_fan_without_its_weights_says_how_to_get_them(monkeypatch, tmp_path):
    # A stand-in face_alignment package: only the tables the guard reads.
    fa = types.ModuleType("face_alignment")
    api = types.ModuleType("face_alignment.api")
    api.default_model_urls = {"2DFAN-4": "https://example.org/fan/2DFAN4-abc.zip"}
    sfd = types.ModuleType("face_alignment.detection.sfd.sfd_detector")
    sfd.models_urls = {"s3fd": "https://example.org/fan/s3fd-def.pth"}
    fa.api = api
    for name, module in {
        "face_alignment": fa,
        "face_alignment.api": api,
        "face_alignment.detection": types.ModuleType("face_alignment.detection"),
        "face_alignment.detection.sfd": types.ModuleType("face_alignment.detection.sfd"),
        "face_alignment.detection.sfd.sfd_detector": sfd,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    sys.modules["face_alignment.detection.sfd"].sfd_detector = sfd
    monkeypatch.setattr("torch.hub.get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "s3fd-def.pth").write_bytes(b"")  # one of two present
    with pytest.raises(TalkfaceError) as err:
        FanDetector()
    message = str(err.value)
    assert "2DFAN4-abc.zip" in message and "s3fd-def.pth" not in message
    assert str(tmp_path / "checkpoints") in message and "\n" not in message


def test_fan_without_the_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "face_alignment", None)  # import fails
    with pytest.raises(TalkfaceError, match="pip install face-alignment"):
        FanDetector()


def test_the_shipped_hog_detector_is_dlibs_own():
    import dlib

    from talkface.landmarks.detect import _hog_detector
    from talkface.media import read_image

    photo = read_image(Path(__file__).resolve().parents[2] / "examples" / "face.png")
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    noise = np.random.default_rng(0).integers(0, 255, (240, 320), dtype=np.uint8)
    for image in (gray, cv2.resize(gray, (200, 200)), noise):
        for upsample in (0, 1):
            ours = _hog_detector().run(image, upsample, -0.5)
            theirs = dlib.get_frontal_face_detector().run(image, upsample, -0.5)
            assert list(ours[0]) == list(theirs[0]) and np.allclose(ours[1], theirs[1]) and ours[2] == theirs[2]
