"""Landmarks, tracking and crops on real GRID frames (skips without the corpus)."""
import cv2
import numpy as np
import pytest

from talkface.errors import NoFaceError
from talkface.face_crop import FacePaster, crop_face, crop_transform
from talkface.landmarks import detect_landmarks, get_detector, mouth_opening, track_video
from talkface.landmarks.indices import MOUTH, eye_centres, interocular

SPEAKING_CLIPS = ["bbaf2n", "bbbf6n", "bgbb3a", "bgia3s"]


def read_frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    assert frames, f"could not read {path}"
    return np.stack(frames)


def spoken_frames(align_path, n_frames):
    """Frame indices inside words (alignment units are 1/1000 of a frame)."""
    frames = []
    for line in align_path.read_text().split("\n"):
        if line.strip():
            start, end, word = line.split()
            if word not in ("sil", "sp"):
                frames += range(int(np.ceil(int(start) / 1000)), min(int(end) // 1000, n_frames))
    return frames


@pytest.fixture(scope="module")
def bbaf2n(grid_root):
    return read_frames(grid_root / "s1" / "bbaf2n.mp4")


class CountingDetector:
    def __init__(self, inner):
        self.inner, self.detections = inner, 0

    def detect(self, image):
        self.detections += 1
        return self.inner.detect(image)

    def predict_shape(self, image, box):
        return self.inner.predict_shape(image, box)


def test_landmarks_on_the_first_frame_sit_in_the_face(bbaf2n):
    faces = get_detector().detect(bbaf2n[0])
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    lmk = detect_landmarks(bbaf2n[0])
    assert lmk.shape == (68, 2) and lmk.dtype == np.float32
    np.testing.assert_array_equal(lmk, faces[0].landmarks)
    mouth = lmk[MOUTH].mean(0)
    width, height = x1 - x0, y1 - y0
    assert x0 + width / 3 < mouth[0] < x1 - width / 3  # middle third
    assert y0 + height / 2 < mouth[1] < y1 + 0.1 * height  # lower half
    right, left = eye_centres(lmk)
    assert right[0] < left[0] and abs(right[1] - left[1]) < 0.1 * interocular(lmk)
    assert 0.3 * width < interocular(lmk) < 0.5 * width


def test_no_face_in_a_blank_frame(bbaf2n):
    with pytest.raises(NoFaceError, match="grey.png: no face found"):
        detect_landmarks(np.full_like(bbaf2n[0], 128), name="grey.png")
    with pytest.raises(NoFaceError, match="face index 1 out of range: 1 face"):
        detect_landmarks(bbaf2n[0], face_index=1)


def test_track_is_complete_moves_the_mouth_and_matches_detection(bbaf2n):
    det = CountingDetector(get_detector())
    track = track_video(bbaf2n, det, detect_every=5)
    assert track.shape == (75, 68, 2) and track.dtype == np.float32
    assert np.isfinite(track).all()
    assert det.detections == 15  # sparse detection: frames 0, 5, ..., 70
    opening = mouth_opening(track)
    assert opening.max() - opening.min() > 0.1  # lips move (normalised by interocular)
    assert np.ptp(track[:, MOUTH, 1], axis=0).mean() > 3  # pixels
    # Tracking agrees with full detection on every frame (dlib's integer output: ~1 px).
    every = np.stack([detect_landmarks(f) for f in bbaf2n[::4]])
    assert np.abs(track[::4] - every).mean() < 1.0


@pytest.mark.parametrize("clip", SPEAKING_CLIPS)
def test_mouth_opens_more_in_words_than_in_leading_silence(grid_root, clip):
    frames = read_frames(grid_root / "s1" / f"{clip}.mp4")
    opening = mouth_opening(track_video(frames))
    speech = spoken_frames(grid_root / "alignments" / "s1" / f"{clip}.align", len(frames))
    assert min(speech) > 10  # frames 0-10 are silence in these clips
    silence = opening[:11]
    assert opening[speech].mean() > 1.5 * silence.mean()
    assert np.percentile(opening[speech], 90) > silence.max()


def test_crop_and_paste_on_a_real_frame(bbaf2n):
    lmk = detect_landmarks(bbaf2n[0])
    for size in (128, 256):
        t = crop_transform(lmk, size)
        crop = crop_face(bbaf2n[0], t)
        eyes = eye_centres(t.to_crop(lmk))
        assert abs(eyes[0, 1] - eyes[1, 1]) < 0.02 * size  # level eyes
        assert 0.2 * size < eyes[:, 1].mean() < 0.35 * size
        # The crop is itself a face the detector finds, at the same place.
        again = detect_landmarks(crop)
        assert np.abs(again - t.to_crop(lmk)).mean() < 0.03 * size
        # Pasting a changed mouth back changes the photo there and nowhere outside the paste mask.
        paster = FacePaster(bbaf2n[0], t, crop)
        np.testing.assert_allclose(paster.paste(crop).astype(int), bbaf2n[0].astype(int), atol=1)
        mouth = np.rint(t.to_crop(lmk)[48:68]).astype(int)
        changed = crop.copy()
        changed[mouth[:, 1].min():mouth[:, 1].max(), mouth[:, 0].min():mouth[:, 0].max()] = 0
        out = paster.paste(changed)
        x, y = np.rint(lmk[62]).astype(int)
        assert out[y, x].max() < 30
        alpha = paster.frame_alpha()
        np.testing.assert_array_equal(out[alpha == 0], bbaf2n[0][alpha == 0])


@pytest.mark.parametrize("factor", [0.35, 4.0])
def test_small_and_huge_images_give_the_same_landmarks(bbaf2n, factor):
    # 0.35x: the face (~43 px) needs HOG upsampling; 4x: detection runs on a 640 px copy
    # and the shape is refined at full resolution.
    base = detect_landmarks(bbaf2n[0])
    resample = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    image = cv2.resize(bbaf2n[0], None, fx=factor, fy=factor, interpolation=resample)
    lmk = detect_landmarks(image)
    back = (lmk + 0.5) / factor - 0.5  # cv2.resize's pixel-centre mapping
    assert np.abs(back - base).mean() < 1.5
