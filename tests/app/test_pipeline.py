"""The photo + speech pipeline on the bundled example photo (a real face, shipped with the project)."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from talkface.errors import NoFaceError
from talkface.landmarks.indices import mouth_opening
from talkface.landmarks.io import load_track
from talkface.media import read_audio, read_image, read_video
from talkface.pipeline import Synthesizer, n_video_frames, retarget, track_starts_on

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def photo():
    return cv2.resize(read_image(EXAMPLES / "face.png"), (256, 256), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def synth():
    return Synthesizer(audio2lmk="phonetic", lmk2video="warp")


def vowel_bursts(seconds=2.0, sr=16000):
    """Loud harmonic bursts separated by silence."""
    t = np.arange(int(seconds * sr)) / sr
    voiced = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((150, 300, 450, 700, 1100), 1))
    gate = (np.sin(2 * np.pi * 1.5 * t) > 0.3).astype(np.float32)
    return (0.3 * voiced * gate).astype(np.float32)


def test_frame_count_follows_the_audio_length():
    assert n_video_frames(47648, 16000) == 74  # a GRID clip's 2.978 s of audio (its video has 75 frames)
    assert n_video_frames(48000, 16000) == 75
    assert n_video_frames(16000, 16000) == 25
    assert n_video_frames(44100 * 3, 44100) == 75


def test_synthesize_writes_a_video_as_long_as_the_audio(synth, photo, tmp_path):
    wave = vowel_bursts(2.0)
    result = synth.synthesize(photo, wave, 16000, tmp_path / "out.mp4", save_landmarks=tmp_path / "track.npz")
    video = read_video(tmp_path / "out.mp4")
    assert len(video.frames) == 50 == result.n_frames
    assert video.frames.shape[1:3] == photo.shape[:2]  # the photo's resolution
    assert video.audio is not None and abs(len(video.audio) / 16000 - 2.0) < 0.1
    track = load_track(tmp_path / "track.npz")
    assert track.landmarks.shape == (50, 68, 2) and track.fps == 25


def test_silence_gives_a_still_closed_mouth_and_unchanged_background(synth, photo):
    source = synth.source_face(photo)
    track = synth.landmarks_from_audio(np.zeros(16000, np.float32), 16000, source, blink=False, head_motion=False)
    assert np.ptp(mouth_opening(track)) < 1e-3
    frames = np.stack(list(synth.render(source, track)))
    assert np.abs(frames.astype(int) - frames[0]).max() <= 1  # every frame the same
    corner = (slice(0, 20), slice(0, 20))
    np.testing.assert_array_equal(frames[:, corner[0], corner[1]], np.broadcast_to(photo[corner], (25, 20, 20, 3)))


def test_animate_with_the_photos_own_landmarks_reproduces_the_photo(synth, photo, tmp_path):
    source = synth.source_face(photo)
    track = np.repeat(source.landmarks[None], 5, axis=0)
    assert track_starts_on(track, source.landmarks)
    frames = np.stack(list(synth.render(source, track)))
    err = np.abs(frames.astype(float) - photo).mean()
    assert err < 1.0


def test_retarget_moves_another_face_like_the_driver(photo):
    from talkface.landmarks.normalize import MEAN_SHAPE
    driver = np.repeat((MEAN_SHAPE * 50 + 100)[None], 3, axis=0).astype(np.float32)
    driver[1, 57] += (0, 10)  # lower lip down by 0.2 interocular
    driver[2] += (7, 0)       # head moved right
    target_face = (MEAN_SHAPE * 80 + (200, 150)).astype(np.float32)
    out = retarget(driver, target_face)
    np.testing.assert_allclose(out[0], target_face, atol=1e-3)
    np.testing.assert_allclose(out[1, 57] - target_face[57], (0, 16), atol=1e-2)  # scaled to the new face
    np.testing.assert_allclose(out[2] - target_face, np.broadcast_to((11.2, 0), (68, 2)), atol=1e-2)


def test_largest_face_or_face_index_and_no_face(synth, photo):
    small = cv2.resize(photo, (160, 160))
    canvas = np.full((300, 480, 3), 200, np.uint8)
    canvas[20:276, 0:256] = photo
    canvas[80:240, 300:460] = small
    big = synth.source_face(canvas)
    other = synth.source_face(canvas, face_index=1)
    assert big.landmarks[:, 0].mean() < 256 < other.landmarks[:, 0].mean()
    with pytest.raises(NoFaceError):
        synth.source_face(np.full((200, 200, 3), 90, np.uint8))


def test_huge_photo_keeps_its_size_and_detail(synth):
    huge = cv2.resize(read_image(EXAMPLES / "face.png"), (2400, 2400), interpolation=cv2.INTER_CUBIC)
    source = synth.source_face(huge)
    track = np.repeat(source.landmarks[None], 2, axis=0)
    frame = next(iter(synth.render(source, track)))
    assert frame.shape == huge.shape
    assert np.abs(frame.astype(float) - huge).mean() < 1.0  # not blurred down to crop resolution


def test_speech_opens_the_mouth_and_pauses_close_it(synth, photo):
    from talkface.media import read_audio
    source = synth.source_face(photo)
    wave = np.concatenate([np.zeros(16000, np.float32), read_audio(EXAMPLES / "speech.wav")[:3 * 16000]])
    track = synth.landmarks_from_audio(wave, 16000, source, blink=False, head_motion=False)
    opening = mouth_opening(track)
    assert np.ptp(opening[:12]) < 1e-3  # silence well before speech: still (the mouth may anticipate the onset)
    assert opening[30:].max() > opening[:12].mean() + 0.05  # speech opens the mouth visibly


def test_auto_stages_are_the_shipped_learned_models_when_present():
    import audio2lmk
    import lmk2video
    from talkface.stages import load_audio2lmk, load_lmk2video

    name, _ = load_audio2lmk("auto")
    assert name == ("learned:audio2lmk.safetensors" if audio2lmk.SHIPPED_CHECKPOINT.is_file() else "phonetic")
    name, _ = load_lmk2video("auto")
    assert name == ("learned:lmk2video.safetensors" if lmk2video.SHIPPED_CHECKPOINT.is_file() else "warp")
    assert load_lmk2video("warp")[0] == "warp"


def test_the_warp_stage_loads_and_renders_without_torch():
    """The training-free renderer is numpy and OpenCV: a render with it (`talkface edit`) never pays torch's import."""
    import subprocess
    import sys

    code = f"""
import sys
import numpy as np
from talkface.media import read_image
from talkface.pipeline import Synthesizer

synth = Synthesizer(audio2lmk="phonetic", lmk2video="warp")
source = synth.source_face(read_image({str(EXAMPLES / "face.png")!r}))
target = source.landmarks.copy()
target[[*range(55, 60), *range(65, 68)], 1] += 12.0  # the mouth opens: the interior is painted
frame = next(iter(synth.render(source, target[None])))
assert frame.shape == source.image.shape and frame.dtype == np.uint8
assert np.abs(frame.astype(int) - source.image).max() > 50
print("torch" in sys.modules)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False", "torch was imported"


def test_crop_size_auto_follows_the_face_and_explicit_sizes_are_checked(synth, photo):
    from talkface.errors import TalkfaceError
    from talkface.pipeline import check_crop_size

    small = synth.source_face(photo)  # 256-px photo: a small face, the 128 floor
    big = synth.source_face(cv2.resize(photo, (1536, 1536), interpolation=cv2.INTER_CUBIC))
    assert small.transform.size == 128 and small.crop.shape == (128, 128, 3)
    assert 256 <= big.transform.size <= 512 and 0.999 <= big.transform.scale < 1.1
    assert check_crop_size("auto") == "auto" and check_crop_size("256") == 256
    with pytest.raises(TalkfaceError, match="at most 512"):
        check_crop_size(1024)
    with pytest.raises(TalkfaceError, match="multiple of 8"):
        check_crop_size(130)
    with pytest.raises(TalkfaceError, match="auto"):
        check_crop_size("big")


def test_moving_face_keeps_the_photos_sharpness(synth):
    """A face twice the 128 crop, talking: the mouth and eyes stay about as sharp as in the photo
    (a 128 crop pasted back would keep well under half of the Laplacian variance)."""
    from talkface.metrics.visual import eye_sharpness, mouth_sharpness

    photo = cv2.resize(read_image(EXAMPLES / "face.png"), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    grain = np.random.default_rng(0).normal(0, 6, photo.shape)  # photo grain the warp must carry
    photo = np.clip(photo + grain, 0, 255).astype(np.uint8)
    source = synth.source_face(photo)
    track = synth.landmarks_from_audio(vowel_bursts(1.0), 16000, source)
    frames = list(synth.render(source, track))
    assert np.mean([mouth_sharpness(f, t, photo, source.landmarks) for f, t in zip(frames, track)]) > 0.8
    assert np.mean([eye_sharpness(f, t, photo, source.landmarks) for f, t in zip(frames, track)]) > 0.8


def test_photo_beyond_h264_level_is_downscaled_with_a_note(synth):
    from talkface.pipeline import fit_photo
    from talkface.video_limits import fits_level

    wide = np.zeros((3000, 5000, 3), np.uint8)
    fitted, note = fit_photo(wide, 25.0, "big.jpg")
    assert fits_level(*fitted.shape[:2], 25.0) and fitted.shape[0] % 2 == 0 and fitted.shape[1] % 2 == 0
    assert note.startswith("big.jpg: 5000x3000 is beyond H.264 level 5.1")
    small, note = fit_photo(wide[:1000, :1000], 25.0)
    assert small.shape == (1000, 1000, 3) and note is None


def test_phones_are_decoded_only_for_a_stage_that_reads_them_and_denoising_only_for_the_voice_gate(photo):
    from audio2lmk.denoise import denoise
    from talkface.landmarks.detect import face_box
    from talkface.media import read_audio
    from talkface.pipeline import analyse_inputs

    wave = read_audio(EXAMPLES / "speech.wav")[:16000]
    box = face_box(photo)
    landmarks, phones, denoised = analyse_inputs(photo, box, wave, phones=False, denoised=False)
    assert landmarks.shape == (68, 2) and phones is None and denoised is None
    _, phones, denoised = analyse_inputs(photo, box, wave)
    assert len(phones) > 0  # the phonetic stage's default
    for got, expected in zip(denoised, denoise(wave)):
        np.testing.assert_array_equal(got, expected)


def test_music_rests_the_mouth_with_a_note_and_any_sound_moves_it(synth, photo, tmp_path, capsys):
    from scripts.audio2lmk_chatter import SOUNDS, at_level

    music = at_level(SOUNDS["plucked strings"](np.random.default_rng(0))[:3 * 16000]).astype(np.float32)
    source = synth.source_face(photo)
    gated = mouth_opening(synth.landmarks_from_audio(music, 16000, source, blink=False, head_motion=False))
    singing = mouth_opening(synth.landmarks_from_audio(music, 16000, source, blink=False, head_motion=False,
                                                       voice_gate=False))
    assert np.ptp(gated) < 1e-3 < 0.2 * np.ptp(singing)  # pocketsphinx hears phones in the strings

    synth.synthesize(photo, music, 16000, tmp_path / "music.mp4", audio_name="song.wav")
    note = capsys.readouterr().err
    assert "song.wav: no one heard speaking in 100% of the sound" in note and "--any-sound" in note
    synth.synthesize(photo, music, 16000, tmp_path / "sung.mp4", voice_gate=False)
    speech = read_audio(EXAMPLES / "speech.wav", 16000)
    synth.synthesize(photo, speech, 16000, tmp_path / "speech.mp4")
    assert "no one heard speaking" not in capsys.readouterr().err


def test_a_synth_analyses_its_speech_once_for_the_stage_and_the_note(synth, photo, tmp_path, monkeypatch):
    """talkface.speech: denoised once (beside the model loading), listened to once; the stage's voice gate and the
    unvoiced note read that one analysis."""
    from audio2lmk import denoise as rnnoise, voice_activity

    denoised, listened = [], []
    real_denoise, real_listen = rnnoise.denoise, voice_activity.heard_speech_chunks
    monkeypatch.setattr(rnnoise, "denoise", lambda w: denoised.append(len(w)) or real_denoise(w))
    monkeypatch.setattr(voice_activity, "heard_speech_chunks",
                        lambda w, copy=None: listened.append(copy is not None) or real_listen(w, copy))
    monkeypatch.setattr("talkface.background.can_fork", lambda: False)  # the "background" work runs here, counted
    speech = read_audio(EXAMPLES / "speech.wav", 16000)[:2 * 16000]
    result = synth.synthesize(photo, speech, 16000, tmp_path / "a.mp4")
    assert denoised == [len(speech)] and listened == [True] and result.unvoiced is not None
    result = synth.synthesize(photo, speech, 16000, tmp_path / "b.mp4", voice_gate=False)
    assert denoised == [len(speech)] and listened == [True] and result.unvoiced is None  # no gate: neither


def test_motion_gain_widens_jaw_and_lips_and_leaves_head_eyes_and_silence_alone(synth, photo):
    from talkface.landmarks.indices import STABLE_POINTS

    source = synth.source_face(photo)
    wave = np.concatenate([np.zeros(16000, np.float32), read_audio(EXAMPLES / "speech.wav")[:3 * 16000]])
    plain = synth.landmarks_from_audio(wave, 16000, source)  # blinks and head motion on
    wide = synth.landmarks_from_audio(wave, 16000, source, motion_gain=1.6)
    stable = list(STABLE_POINTS)
    np.testing.assert_array_equal(wide[:, stable], plain[:, stable])  # head motion, eyes, blinks: the same
    rest = mouth_opening(plain).min()
    # the lips also move sideways, so the inner-lip gap grows nearly, not exactly, 1.6 times as much
    np.testing.assert_allclose(mouth_opening(wide) - rest, 1.6 * (mouth_opening(plain) - rest), rtol=0.05, atol=1e-4)
    assert np.std(mouth_opening(wide)) / np.std(mouth_opening(plain)) == pytest.approx(1.6, rel=0.03)
    np.testing.assert_allclose(mouth_opening(wide)[:12], mouth_opening(plain)[:12], atol=1e-4)  # silence: closed
