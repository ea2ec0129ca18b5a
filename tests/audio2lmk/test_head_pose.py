"""Speech-related head pose (audio2lmk.head_pose): measuring it on tracks, applying it, and the learned
model moving the whole face by it."""

from __future__ import annotations

import numpy as np
import torch

from audio2lmk.head_pose import apply_pose, posed_points, relative_pose
from audio2lmk.learned import LearnedAudio2Lmk
from talkface.landmarks.indices import STABLE_POINTS
from talkface.landmarks.normalize import MEAN_SHAPE, from_normalised, to_normalised
from talkface.speech import Speech
from test_audio2lmk_learned import SAMPLE_RATE, face, speech_like, tiny_net

STABLE = list(STABLE_POINTS)


def posed_track(source: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """A (T, 68, 2) image track: the source face moved by each pose in its normalised frame."""
    norm, sim = to_normalised(source)
    return from_normalised(apply_pose(np.repeat(norm[None], len(poses), axis=0), poses), sim)


def test_relative_pose_recovers_known_poses_on_any_image_placement():
    poses = np.array([[0.0, 0.0, 0.0, 0.0], [0.02, 0.03, 0.05, -0.04], [-0.01, -0.05, -0.02, 0.08]], np.float32)
    for scale, angle, shift in ((80.0, 0.0, (100.0, 90.0)), (210.0, 0.3, (400.0, 250.0))):
        track = posed_track(face(scale, angle, shift, 5), poses)
        assert np.allclose(relative_pose(track), poses, atol=1e-4)


def test_relative_pose_ignores_mouth_motion():
    source = face(100.0, 0.1, (200.0, 180.0), 6)
    track = np.repeat(source[None], 4, axis=0)
    track[1:, 48:68, 1] += 7.0  # lips and chin move, the head does not
    track[1:, 5:12, 1] += 7.0
    assert np.abs(relative_pose(track)).max() < 1e-5


def test_torch_posed_points_match_numpy_apply_pose():
    poses = np.random.default_rng(0).normal(0, 0.05, (2, 5, 4)).astype(np.float32)
    mean = np.repeat(np.repeat(MEAN_SHAPE[None, None], 2, 0), 5, 1)
    expected = np.stack([apply_pose(mean[b], poses[b]) for b in range(2)])
    got = posed_points(torch.as_tensor(poses)).numpy()
    assert got.shape == (2, 5, 68, 2)
    assert np.allclose(got, expected, atol=1e-5)
    zero = posed_points(torch.zeros(3, 4)).numpy()
    assert np.allclose(zero, MEAN_SHAPE[None], atol=1e-6)


def pose_net():
    net = tiny_net(head_pose=True)
    net.set_pose_scale(np.array([0.01, 0.02, 0.03, 0.03], np.float32))
    return net


def test_predicted_pose_moves_the_whole_face_only_when_head_motion_is_on():
    model = LearnedAudio2Lmk(pose_net())
    assert model.predicts_head_pose
    source = face(100.0, 0.1, (200.0, 180.0), 7)
    audio = speech_like(2.0)
    moving = model(Speech.of(audio, SAMPLE_RATE), source, blink=False, head_motion=True)
    still = model(Speech.of(audio, SAMPLE_RATE), source, blink=False, head_motion=False)
    assert np.array_equal(still[:, STABLE], np.repeat(source[None, STABLE], len(still), axis=0))
    assert np.abs(moving[:, STABLE] - source[STABLE]).max() > 0.5  # the head moves with the speech ...
    motion, pose = model.predict(audio)
    relative_to_photo = relative_pose(np.concatenate([source[None], moving]))[1:]
    assert np.allclose(relative_to_photo, pose, atol=1e-4)  # ... by exactly the predicted pose
    # the face's own motion is the same with and without the head pose
    assert np.allclose(to_normalised(moving)[0], to_normalised(still)[0], atol=1e-3)
    again = model(Speech.of(audio, SAMPLE_RATE), source, blink=False, head_motion=True, seed=9)
    assert np.array_equal(again, moving)  # deterministic: no random sway on top


def test_silence_keeps_the_head_where_the_photo_has_it():
    model = LearnedAudio2Lmk(pose_net())
    source = face(100.0, 0.1, (200.0, 180.0), 8)
    track = model(Speech.of(np.zeros(2 * SAMPLE_RATE, np.float32), SAMPLE_RATE), source, blink=False, head_motion=True)
    assert np.allclose(track, source[None], atol=1e-3)
