"""Dubbing (`talkface dub`): timeline, fades, streamed reading, mouth bank, tracking with lost faces, bad input,
and on GRID clips (skipped without the corpus) the whole job: size, fps, length, untouched pixels."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf
from imageio_ffmpeg import get_ffmpeg_exe

from talkface.dub import (MAX_MOTION_GAIN, MOTION_GAIN, fade_weights, follow_pose, generator_region, matched_gain,
                          pingpong_timeline)
from talkface.errors import MediaError
from talkface.landmarks.detect import Face
from talkface.landmarks.indices import interocular
from talkface.landmarks.normalize import MEAN_SHAPE
from talkface.landmarks.track import StreamTracker, track_video
from talkface.media import read_video, write_video
from talkface.mouth_bank import MouthBank, fetch_weights, mouth_shapes
from talkface.video_stream import FrameSpill, iter_frames, probe_video

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "talkface.cli", *map(str, args)], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code, err, *fragments):
    assert code == 1, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("talkface: error:"), err
    for fragment in fragments:
        assert str(fragment) in lines[0], lines[0]


def ffmpeg(*args):
    subprocess.run([get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


# -- timeline and fades -------------------------------------------------------------------------
def test_pingpong_timeline_never_jumps_and_turns_at_calm_frames():
    cost = np.full(100, 1.0)
    cost[85], cost[40] = 0.0, 0.0  # the calmest frames in the tail and before it
    src, loop = pingpong_timeline(100, 400, cost, max_segment=60)
    assert len(src) == 400 and src.min() >= 0 and src.max() < 100
    assert np.all(np.abs(np.diff(src)) == 1)  # no cut anywhere, only reversals
    assert loop == (40, 85)
    turns = np.flatnonzero(np.diff(np.sign(np.diff(src)))) + 1
    assert set(src[turns]) == {40, 85}
    np.testing.assert_array_equal(src[:86], np.arange(86))


def test_pingpong_timeline_short_speech_is_a_cut():
    src, loop = pingpong_timeline(100, 30, np.zeros(100), 50)
    np.testing.assert_array_equal(src, np.arange(30))
    assert loop is None
    src, loop = pingpong_timeline(1, 5, np.zeros(1), 50)
    np.testing.assert_array_equal(src, np.zeros(5))


def test_fade_weights_ramp_around_lost_frames():
    found = np.ones(40, bool)
    found[20:23] = False
    alpha = fade_weights(found, fade=4)
    assert np.all(alpha[20:23] == 0)
    assert alpha[0] == 1 and alpha[-1] == 1
    np.testing.assert_allclose(alpha[15:20], [1.0, 0.8, 0.6, 0.4, 0.2])  # fades out before ...
    np.testing.assert_allclose(alpha[23:28], [0.2, 0.4, 0.6, 0.8, 1.0])  # ... and back in after
    assert np.all(fade_weights(np.ones(5, bool)) == 1)


def test_follow_pose_carries_the_rest_mouth_onto_a_turned_head():
    rest = MEAN_SHAPE.astype(np.float64)
    mouth = rest[48:68] + [0.0, 0.05]  # an opened mouth on the rest face
    squeeze = np.array([[0.8, 0.1], [0.0, 1.05]])  # a head turned (narrower) and tilted: not a similarity
    frames = np.stack([rest, rest @ squeeze.T + [0.02, -0.01]])
    out = follow_pose(rest, frames, np.stack([mouth, mouth]))
    np.testing.assert_allclose(out[0], mouth, atol=1e-9)  # the rest pose itself: unchanged
    np.testing.assert_allclose(out[1], mouth @ squeeze.T + [0.02, -0.01], atol=1e-9)


# -- streamed reading -----------------------------------------------------------------------------
def test_iter_frames_matches_read_video_and_spill_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (12, 48, 64, 3), dtype=np.uint8)
    frames = np.stack([cv2.GaussianBlur(f, (9, 9), 3) for f in frames])
    path = write_video(tmp_path / "v.mp4", frames, 25.0, crf=0, pix_fmt="yuv444p")
    info = probe_video(path)
    assert (info.width, info.height, info.fps) == (64, 48, 25.0)
    streamed = np.stack(list(iter_frames(info)))
    np.testing.assert_array_equal(streamed, read_video(path).frames)
    assert len(list(iter_frames(info, stop=5))) == 5
    with FrameSpill(48, 64) as spill:
        for f in streamed:
            spill.append(f)
        np.testing.assert_array_equal(spill[7], streamed[7])
        with pytest.raises(IndexError):
            spill[12]


def test_rotated_video_comes_upright(tmp_path):
    plain = tmp_path / "plain.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-t", "0.4", "-c:v", "libx264", "-pix_fmt", "yuv420p", plain)
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", plain, "-c", "copy", rotated)
    info = probe_video(rotated)
    assert info.rotation == 90 and (info.width, info.height) == (64, 96)
    frames = list(iter_frames(info))
    assert len(frames) == 10 and frames[0].shape == (96, 64, 3)


def test_variable_frame_rate_is_read_at_a_constant_rate(tmp_path):
    vfr = tmp_path / "vfr.mp4"
    # 20 frames whose timestamps speed up half way: 0.08 s apart, then 0.02 s apart.
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-frames:v", "20",
           "-vf", "setpts='if(lt(N,10),N*2,20+(N-10)/2)/25/TB'", "-fps_mode", "vfr",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", vfr)
    info = probe_video(vfr)
    frames = list(iter_frames(info))
    # Frame n lies at n / fps seconds: the count follows the duration, not the number of coded frames.
    assert abs(len(frames) - info.duration * info.fps) <= 2


def test_probe_rejects_images_audio_and_non_media(tmp_path):
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.full((64, 64, 3), 100, np.uint8))
    with pytest.raises(MediaError, match="still image"):
        probe_video(image)
    audio = tmp_path / "speech.wav"
    sf.write(audio, np.zeros(1600, np.float32), 16000)
    with pytest.raises(MediaError, match="no video stream"):
        probe_video(audio)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video " * 50)
    with pytest.raises(MediaError, match="not a readable video"):
        probe_video(text)


# -- mouth bank -----------------------------------------------------------------------------------
def _face(opening: float, frame_size: int = 200) -> np.ndarray:
    """A (68, 2) face in frame pixels with the lower lip lowered by `opening` interoculars."""
    pts = MEAN_SHAPE.astype(np.float32).copy()
    pts[[*range(55, 60), *range(65, 68)]] += [0.0, opening]
    return pts * 40 + frame_size / 2


def test_mouth_bank_keeps_distinct_mouths_and_fetch_picks_the_match():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    bank = MouthBank(size=64)
    openings = [0.0, 0.0, 0.2, 0.4]
    for i, o in enumerate(openings):
        bank.offer(frame, _face(o), i)
    assert len(bank) == 3  # the same mouth twice is kept once
    assert all(c.shape == (64, 64, 3) for c in bank.crops)
    targets = mouth_shapes(np.stack([_face(0.2), _face(0.4), _face(0.0)]))
    own = mouth_shapes(np.stack([_face(0.0)] * 3))  # the frames themselves show a closed mouth
    weights, best = fetch_weights(targets, bank.shapes, own, k=2, time_sigma=0)
    np.testing.assert_allclose(weights.sum(1), 1, rtol=1e-5)
    assert bank.frame_index[int(np.argmax(weights[0, 1:]))] == 2
    assert bank.frame_index[int(np.argmax(weights[1, 1:]))] == 3
    assert weights[2, 0] >= weights[2, 1:].max()  # a mouth the frame already shows: the frame itself counts most
    assert np.all(best < 1e-4)
    assert np.count_nonzero(weights[0]) <= 2


def test_mouth_bank_drops_the_entries_of_occluded_frames():
    frame = np.random.default_rng(2).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    bank = MouthBank(size=64)
    for i, o in enumerate([0.0, 0.2, 0.4]):
        bank.offer(frame, _face(o), i)
    bank.drop({1, 7})
    assert bank.frame_index == [0, 2] and len(bank.crops) == len(bank.landmarks) == len(bank.shapes) == 2
    np.testing.assert_allclose(bank.shapes, mouth_shapes(np.stack([_face(0.0), _face(0.4)])), atol=1e-6)
    bank.offer(frame, _face(0.4), 9)  # its cell still points at the kept entry
    assert len(bank) == 2
    bank.drop({0, 2})  # never emptied
    assert len(bank) == 2


# -- tracking with a lost face --------------------------------------------------------------------
class FakeDetector:
    """Finds a face at a known place in frames whose first pixel is non-zero; the predictor returns it."""

    def __init__(self):
        self.face = _face(0.0)
        lo, hi = self.face.min(0), self.face.max(0)
        self.box = (*lo, *hi)

    def detect(self, frame):
        return [Face(self.box, self.face)] if frame[0, 0, 0] else []

    def predict_shape(self, frame, box):
        return self.face


def test_stream_tracker_marks_lost_frames_and_reacquires():
    frames = [np.full((8, 8, 3), 0 if 10 <= t < 14 or t < 2 else 1, np.uint8) for t in range(30)]
    tracker = StreamTracker(detector=FakeDetector(), detect_every=2)
    found = np.array([tracker.update(f) is not None for f in frames])
    assert not found[:2].any()            # no face yet
    assert found[2:10].all()
    assert not found[10:14].any()         # detection at 10 and 12 finds nothing: lost until it comes back
    assert found[14:].all()


# -- the command on bad input ---------------------------------------------------------------------
@pytest.mark.slow
def test_dub_bad_inputs_give_one_line_and_leave_nothing(tmp_path, speech):
    out = tmp_path / "out.mp4"
    wall = tmp_path / "wall.mp4"
    write_video(wall, [np.full((96, 128, 3), 90, np.uint8)] * 10, 25.0)
    code, _, err = run_cli("dub", "--video", wall, "--audio", speech, "--out", out, "--quiet")
    assert_one_line_error(code, err, wall, "no face")
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), cv2.imread(str(EXAMPLES / "face.png")))
    code, _, err = run_cli("dub", "--video", image, "--audio", speech, "--out", out, "--quiet")
    assert_one_line_error(code, err, image, "still image")
    code, _, err = run_cli("dub", "--video", speech, "--audio", speech, "--out", out, "--quiet")
    assert_one_line_error(code, err, speech, "no video stream")
    code, _, err = run_cli("dub", "--video", wall, "--audio", wall, "--out", out, "--quiet")
    assert_one_line_error(code, err, wall)  # a video without an audio track given as the speech
    code, _, err = run_cli("dub", "--video", wall, "--audio", speech, "--out", tmp_path / "nope" / "o.mp4")
    assert_one_line_error(code, err, "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.png", "speech.wav", "wall.mp4"]


# -- whole job on GRID --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dubber():
    from talkface.dub import Dubber
    return Dubber()


@pytest.mark.slow
def test_dub_grid_clip_keeps_size_fps_background_and_follows_the_speech_length(grid_root, dubber, tmp_path):
    video = grid_root / "s1" / "bbaf2n.mp4"
    other = read_video(grid_root / "s1" / "bbaf3s.mp4")
    original = read_video(video).frames
    # Shorter speech: the video is cut at its end.
    out = tmp_path / "short.mp4"
    result = dubber.dub(video, other.audio[:24000], out)
    dubbed = read_video(out)
    assert dubbed.frames.shape[1:] == original.shape[1:] and dubbed.fps == 25.0
    assert len(dubbed.frames) == 38 and result.n_frames == 38 and not result.looped
    assert result.lost_frames == 0 and result.occluded_frames == 0  # nothing in front of his face
    assert dubbed.audio is not None and abs(len(dubbed.audio) - 24000) < 1600
    # Longer speech: the video plays on back and forth, without a cut.
    longer = np.concatenate([other.audio, other.audio])
    frames, result = dubber.dub(video, longer, None)
    assert len(frames) == round(len(longer) / 16000 * 25) > 140 and result.looped
    # Background far from the mouth is the video's own (in memory: no encoding loss).
    top = slice(0, 60)
    np.testing.assert_array_equal(frames[10][top], original[10][top])
    # The mouth region changed (the speech differs from the clip's own).
    diff = [np.abs(f.astype(int) - o.astype(int))[150:230, 140:220].mean() for f, o in zip(frames[:75], original)]
    assert np.mean(diff) > 1.0


def test_dub_leaves_frames_with_a_lost_face_untouched(grid_root, dubber, tmp_path):
    original = read_video(grid_root / "s1" / "bbaf2n.mp4")
    frames = original.frames.copy()
    frames[40:46] = 128  # the face is cut away for six frames
    path = write_video(tmp_path / "cut.mp4", frames, 25.0, crf=0, pix_fmt="yuv444p")
    decoded = np.stack(list(iter_frames(probe_video(path))))
    out, result = dubber.dub(path, read_video(grid_root / "s1" / "bbaf3s.mp4").audio, None)
    assert result.lost_frames >= 6
    for t in range(40, 46):
        np.testing.assert_array_equal(out[t], decoded[t])
    assert np.abs(out[20].astype(int) - decoded[20]).max() > 0  # edited elsewhere


@pytest.mark.slow
def test_dub_leaves_frames_with_a_hand_over_the_chin_untouched(grid_root, dubber, tmp_path):
    original = read_video(grid_root / "s1" / "bbaf2n.mp4")
    landmarks = track_video(original.frames)
    frames = original.frames.copy()
    for t in range(30, 45):  # a skin-coloured blob over chin and lower lip for 0.6 s; dlib still finds the face
        io = float(interocular(landmarks[t]))
        centre = np.round(landmarks[t, 57] + 0.6 * (landmarks[t, 8] - landmarks[t, 57])).astype(int)
        cheek = np.round((landmarks[t, 3] + landmarks[t, 31]) / 2).astype(int)
        colour = np.median(frames[t, cheek[1] - 3:cheek[1] + 3, cheek[0] - 3:cheek[0] + 3].reshape(-1, 3), 0) * 1.08
        cv2.ellipse(frames[t], tuple(int(c) for c in centre), (int(0.8 * io), int(0.45 * io)), 10, 0, 360,
                    colour.clip(0, 255).tolist(), -1)
    path = write_video(tmp_path / "hand.mp4", frames, 25.0, crf=0, pix_fmt="yuv444p")
    decoded = np.stack(list(iter_frames(probe_video(path))))
    out, result = dubber.dub(path, read_video(grid_root / "s1" / "bbaf3s.mp4").audio, None)
    assert result.lost_frames == 0 and result.occluded_frames >= 15
    for t in range(30, 45):
        np.testing.assert_array_equal(out[t], decoded[t])
    assert np.abs(out[10].astype(int) - decoded[10]).max() > 0  # edited elsewhere
    assert np.abs(out[60].astype(int) - decoded[60]).max() > 0


def test_dub_face_index_beyond_the_faces_is_one_line(grid_root, speech, tmp_path):
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("dub", "--video", grid_root / "s1" / "bbaf2n.mp4", "--audio", speech, "--out", out,
                           "--face-index", "3", "--quiet")
    assert_one_line_error(code, err, "--face-index 3", "at most 1 face")
    assert not out.exists()


def test_dub_interrupted_leaves_no_output_and_no_decoder(grid_root, tmp_path):
    import os
    import signal
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "talkface.cli", "dub", "--video", grid_root / "s1" / "bbaf2n.mp4",
                             "--audio", grid_root / "s1" / "bbaf3s.mp4", "--out", out], stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = b""
    while b"dub:" not in seen:  # the render pass has started: the encoder is writing
        chunk = proc.stderr.read1(4096)
        assert chunk, seen.decode(errors="replace")
        seen += chunk
    proc.send_signal(signal.SIGINT)
    seen += proc.communicate()[1]
    assert proc.returncode == 130, seen.decode(errors="replace")
    assert os.listdir(tmp_path) == []
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert left.strip() == ""  # no encoder still writing into the folder


@pytest.mark.slow
def test_dub_face_index_picks_the_other_face(grid_root, dubber, tmp_path):
    clip = read_video(grid_root / "s1" / "bbaf2n.mp4")
    small = [cv2.resize(f, (270, 216), interpolation=cv2.INTER_AREA) for f in clip.frames]
    pair = [np.concatenate([f, np.pad(s, ((36, 36), (0, 0), (0, 0)), mode="edge")], axis=1)
            for f, s in zip(clip.frames, small)]  # the large face left, a smaller one right
    path = write_video(tmp_path / "two.mp4", pair, 25.0, crf=0, pix_fmt="yuv444p")
    decoded = np.stack(list(iter_frames(probe_video(path))))
    speech = read_video(grid_root / "s1" / "bbaf3s.mp4").audio
    for index, edited, kept in ((None, slice(0, 360), slice(360, 630)), (1, slice(360, 630), slice(0, 360))):
        frames, _ = dubber.dub(path, speech, None, face_index=index)
        changed = [np.abs(f.astype(int) - d)[:, edited].max() for f, d in zip(frames, decoded)]
        np.testing.assert_array_equal(np.stack(frames)[:, :, kept], decoded[:len(frames), :, kept])
        assert max(changed) > 10


def test_dub_rests_the_mouth_on_music_unless_any_sound(grid_root, dubber):
    from scripts.audio2lmk_chatter import SOUNDS, at_level
    from talkface.landmarks.indices import mouth_opening

    track = dubber.track(probe_video(grid_root / "s1" / "bbaf2n.mp4"))
    music = at_level(SOUNDS["pop loop"](np.random.default_rng(0))[:3 * 16000]).astype(np.float32)
    gated = mouth_opening(dubber.plan(track, music).target)
    sung = mouth_opening(dubber.plan(track, music, voice_gate=False).target)
    assert np.std(gated) < 0.3 * np.std(sung), (np.std(gated), np.std(sung))


def test_motion_gain_scales_the_speech_mouth_about_the_rest_mouth(grid_root, dubber):
    from talkface.landmarks.indices import mouth_opening

    track = dubber.track(probe_video(grid_root / "s1" / "bbaf2n.mp4"))
    speech = read_video(grid_root / "s1" / "bbaf3s.mp4").audio[:2 * 16000]
    openings = {}
    for gain in (1.0, 2.0):
        dubber.motion_gain = gain
        try:
            openings[gain] = mouth_opening(dubber.plan(track, speech).target)
        finally:
            dubber.motion_gain = MOTION_GAIN
    ratio = np.std(openings[2.0]) / np.std(openings[1.0])
    assert 1.7 < ratio < 2.3, ratio  # twice the motion about a closed rest mouth: about twice the opening's spread


def test_dub_expression_lifts_the_lip_corners_and_keeps_the_speech(grid_root, dubber):
    """A dub with `happy`: the new speech's mouth with its corners up; the opening still follows the speech."""
    from talkface.expression.spec import expression_plan
    from talkface.landmarks.indices import interocular, mouth_opening

    track = dubber.track(probe_video(grid_root / "s1" / "bbaf2n.mp4"))
    speech = read_video(grid_root / "s1" / "bbaf3s.mp4").audio[:2 * 16000]
    plain = dubber.plan(track, speech).target
    happy = dubber.plan(track, speech, expression=expression_plan("happy:0.8")).target
    corners_up = (plain[:, [48, 54], 1] - happy[:, [48, 54], 1]).mean(1) / interocular(plain)
    assert (corners_up > 0.05).mean() > 0.9
    assert np.corrcoef(mouth_opening(plain), mouth_opening(happy))[0, 1] > 0.9
    np.testing.assert_allclose(happy[:, :4], plain[:, :4], atol=1e-3)  # the video's own head and upper jaw


def _talking(opening_range: float, n: int = 100, seed: int = 0) -> np.ndarray:
    """(n, 68, 2) mean faces whose inner lower lip drops by up to `opening_range` interoculars."""
    track = np.repeat(MEAN_SHAPE[None].astype(np.float64), n, axis=0) * 100.0
    drop = np.random.default_rng(seed).uniform(0.0, 1.0, n) * opening_range * interocular(track[0])
    track[:, 65:68, 1] += drop[:, None]
    return track


def test_matched_gain_opens_the_speech_as_far_as_the_person_in_the_video():
    speech = _talking(0.10)
    assert matched_gain(_talking(0.15, seed=1), speech) == pytest.approx(1.5, rel=0.1)
    assert matched_gain(_talking(0.05, seed=1), speech) == 1.0  # never narrower than the model's motion
    assert matched_gain(_talking(0.50, seed=1), speech) == MAX_MOTION_GAIN  # a laugh or a cut is not speech
    assert matched_gain(_talking(0.15, seed=1), _talking(0.002)) == 1.0  # a silent or gated speech track


def test_cli_spells_the_dub_defaults_as_the_module_does():
    from talkface import cli, dub

    assert cli.MOTION_GAIN == dub.MOTION_GAIN and cli.MOUTHS == dub.MOUTHS


def test_auto_mouth_is_generate_on_the_generators_own_face_and_fetch_elsewhere(monkeypatch):
    """mouth="auto" asks the face check once per video (its most closed bank mouth, the generator's sidecar) and
    gives generate on the generator's training face, fetch on any other; an explicit mode never asks."""
    import talkface.dub as dub
    from talkface.dub import Dubber, Track

    bank = MouthBank(64)
    rng = np.random.default_rng(0)
    for t, opening in enumerate((0.3, 0.0, 0.6)):  # entry 1 has the most closed mouth
        lmk = MEAN_SHAPE * 40 + 32
        lmk[[62, 66], 1] += np.array([-1, 1]) * opening * 10
        bank.offer(rng.integers(0, 255, (64, 64, 3), np.uint8), lmk.astype(np.float32), t)
    asked = []

    def verdict(answer):
        def check(meta, crop, landmarks):
            asked.append((meta, landmarks))
            return answer
        return check

    for answer, expected in ((True, "generate"), (False, "fetch")):
        monkeypatch.setattr(dub, "is_trained_face", verdict(answer))
        asked.clear()
        dubber = Dubber.__new__(Dubber)
        dubber.mouth, dubber.lmk2video = "auto", type("Net", (), {"meta": {"trained_face": "sidecar"}})()
        track = Track(None, np.zeros((3, 68, 2)), np.ones(3, bool), bank, np.zeros(3, bool))
        assert dubber.mouth_for(track) == expected and dubber.mouth_for(track) == expected
        assert len(asked) == 1 and asked[0][0] == {"trained_face": "sidecar"}
        np.testing.assert_array_equal(asked[0][1], bank.landmarks[int(np.argmin(
            [lm[66, 1] - lm[62, 1] for lm in bank.landmarks]))])
        for explicit in ("generate", "fetch", "mix"):
            dubber.mouth = explicit
            assert dubber.mouth_for(Track(None, np.zeros((3, 68, 2)), np.ones(3, bool), bank, np.zeros(3, bool))) == explicit
        assert len(asked) == 1


@pytest.mark.slow
def test_auto_mouth_recognises_s1_and_not_another_face(grid_root, dubber, tmp_path):
    """The shipped generator was trained on s1: an s1 clip is dubbed with generate, the bundled example's face
    (made into a short video) with fetch."""
    assert dubber.mouth == "auto"
    s1 = dubber.track(probe_video(grid_root / "s1" / "bbaf2n.mp4"))
    photo = cv2.cvtColor(cv2.imread(str(EXAMPLES / "face.png")), cv2.COLOR_BGR2RGB)
    other = dubber.track(probe_video(write_video(tmp_path / "other.mp4", [photo] * 10, 25.0)))
    assert (dubber.mouth_for(s1), dubber.mouth_for(other)) == ("generate", "fetch")


def test_generator_region_per_mouth_mode():
    chin = np.zeros((8, 8), np.float32)
    chin[2:8, 1:7] = 1.0
    lips = np.zeros((8, 8), np.float32)
    lips[4:6, 2:6] = 1.0
    np.testing.assert_array_equal(generator_region("generate", chin, lips, 0.0), chin)
    # fetch: the generator only inside the lips and only as far as no frame shows the mouth
    np.testing.assert_array_equal(generator_region("fetch", chin, lips, 0.0), 0.0 * lips)
    np.testing.assert_allclose(generator_region("fetch", chin, lips, 0.25), 0.25 * lips)
    # mix: chin and skin always the generator's; the lips the fetched ones where a frame shows them
    mixed = generator_region("mix", chin, lips, 0.25)
    outside = (chin > 0) & (lips == 0)
    assert np.all(mixed[outside] == 1.0) and np.all(mixed[lips > 0] == 0.25) and np.all(mixed[chin == 0] == 0.0)
    np.testing.assert_array_equal(generator_region("mix", chin, lips, 1.0), chin)


@pytest.mark.slow
def test_dub_mix_keeps_the_generators_chin_and_the_videos_own_lips(grid_root, dubber):
    """Self-dub of a GRID clip (its own speech, so its own frames hold every mouth): mix mode equals generate
    away from the lips and differs inside them, where its lips are the video's own (closer to the real ones)."""
    from talkface.dub import GENERATOR_FROM

    video = grid_root / "s1" / "bbaf2n.mp4"
    original = read_video(video)
    track = dubber.track(probe_video(video))
    plan = dubber.plan(track, original.audio[:32000], fit="trim")
    rendered, shipped = {}, dubber.mouth
    for mouth in ("generate", "mix"):
        dubber.mouth = mouth
        try:
            rendered[mouth] = np.stack(list(dubber.frames(track, plan))).astype(int)
        finally:
            dubber.mouth = shipped
    real = original.frames[plan.source_index].astype(int)
    close = np.flatnonzero(plan.best < GENERATOR_FROM)
    assert len(close) > 10
    lips_err, chin_same = {}, []
    for t in close:
        x0, y0 = np.floor(plan.target[t, 48:60].min(0)).astype(int)
        x1, y1 = np.ceil(plan.target[t, 48:60].max(0)).astype(int)
        for mouth, frames in rendered.items():
            lips_err.setdefault(mouth, []).append(np.abs(frames[t, y0:y1, x0:x1] - real[t, y0:y1, x0:x1]).mean())
        # the chin well below the lips: the generator's in both modes
        jaw = plan.target[t, 8].astype(int)
        below = slice(y1 + (jaw[1] - y1) // 2, jaw[1] - 2), slice(x0, x1)
        chin_same.append(np.abs(rendered["mix"][t][below] - rendered["generate"][t][below]).max())
    assert np.mean(lips_err["mix"]) < np.mean(lips_err["generate"]), lips_err
    assert max(chin_same) <= 1, chin_same


@pytest.mark.slow
def test_dub_learned_fetch_blend_changes_only_the_lips(grid_root, dubber):
    """--fetch-blend learned re-weights the same fetched frames pixel by pixel: the output differs from the shape
    blend's, and only around the lips (elsewhere by at most the paste's rounding)."""
    from lmk2video.fetch_attention import SHIPPED, load_fetch_attention

    if not SHIPPED.is_file():
        pytest.skip("no shipped fetch-attention checkpoint")
    video = grid_root / "s1" / "bbaf2n.mp4"
    original = read_video(video)
    track = dubber.track(probe_video(video))
    plan = dubber.plan(track, original.audio[:16000], fit="trim")
    rendered, shipped = {}, (dubber.mouth, dubber.attention)
    dubber.mouth = "fetch"
    try:
        for blend in ("shape", "learned"):
            dubber.attention = load_fetch_attention(blend)
            rendered[blend] = np.stack(list(dubber.frames(track, plan))).astype(int)
    finally:
        dubber.mouth, dubber.attention = shipped
    diff = np.abs(rendered["shape"] - rendered["learned"]).max(-1)
    assert (diff > 2).sum() > 100
    for t in range(len(diff)):
        lo, hi = plan.target[t, 48:60].min(0), plan.target[t, 48:60].max(0)
        margin = 0.25 * (hi[0] - lo[0]) + 12
        far = np.ones(diff.shape[1:], bool)
        far[max(0, int(lo[1] - margin)):int(hi[1] + margin) + 1, max(0, int(lo[0] - margin)):int(hi[0] + margin) + 1] = False
        # the paste's multiband blend carries a change's low frequencies a little further, by a level or two
        assert diff[t][far].max() <= 2, (t, diff[t][far].max())


def test_dub_says_how_wide_it_moved_the_mouth(grid_root, speech, tmp_path):
    video = grid_root / "s1" / "bbaf2n.mp4"
    code, out, err = run_cli("dub", "--video", video, "--audio", speech, "--out", tmp_path / "a.mp4", "--trim", "--quiet")
    assert code == 0, err
    gain = float(out.split("mouth motion x")[1].split()[0])
    assert 1.0 <= gain <= 2.0 and "(matched to the video)" in out
    code, out, err = run_cli("dub", "--video", video, "--audio", speech, "--out", tmp_path / "b.mp4", "--trim", "--quiet",
                             "--motion-gain", "1.3")
    assert code == 0, err
    assert "mouth motion x1.30," in out or out.rstrip().endswith("mouth motion x1.30")
    assert "matched" not in out
