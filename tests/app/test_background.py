"""A cold synth finds the face's landmarks and the speech's phones in a forked child while the models load
(talkface.background); the result must be exactly what the one-process path gives."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from talkface.background import Background, can_fork
from talkface.errors import NoFaceError
from talkface.landmarks.detect import detect_landmarks, face_box, predict_shape
from talkface.media import read_image
from talkface.speech import Speech

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is not available on this platform")


def _square(x):
    return x * x


def _fail(message):
    raise NoFaceError(message)


def _sleep_and_tell(seconds):
    time.sleep(seconds)
    return os.getpid()


def _own_pid():
    return os.getpid()


@needs_fork
def test_forked_work_returns_its_value_from_another_process():
    with Background(_own_pid, fork=True) as work:
        assert work.forked
        assert work.result() != os.getpid()
        assert not work.forked  # reaped once the result is read
    with Background(_square, np.arange(4), fork=True) as work:
        np.testing.assert_array_equal(work.result(), np.arange(4) ** 2)
        np.testing.assert_array_equal(work.result(), np.arange(4) ** 2)  # asked again: the same answer


@needs_fork
def test_an_error_in_the_child_is_raised_in_the_parent_with_its_message():
    with Background(_fail, "photo.png: no face found", fork=True) as work:
        with pytest.raises(NoFaceError, match="photo.png: no face found"):
            work.result()


@needs_fork
def test_leaving_the_block_early_kills_and_reaps_the_child():
    with Background(_sleep_and_tell, 30, fork=True) as work:
        pid = work._pid
        assert pid is not None
    with pytest.raises(ChildProcessError):  # already reaped: no zombie left behind
        os.waitpid(pid, os.WNOHANG)


def test_without_fork_the_work_runs_here_when_asked():
    work = Background(_own_pid, fork=False)
    assert not work.forked
    assert work.result() == os.getpid()


def test_no_fork_once_torch_has_started_its_threads():
    import torch  # noqa: F401  (imported here on purpose)

    assert not can_fork()


def test_face_box_then_shape_is_exactly_detect_landmarks():
    image = read_image(EXAMPLES / "face.png")
    np.testing.assert_array_equal(predict_shape(image, face_box(image)), detect_landmarks(image))
    with pytest.raises(NoFaceError, match="blank.png: no face found"):
        face_box(np.full((200, 200, 3), 128, np.uint8), name="blank.png")
    with pytest.raises(NoFaceError, match="face index 3 out of range: 1 face"):
        face_box(image, 3)


@pytest.mark.parametrize("stage", ["phonetic", "auto"])
def test_phones_given_to_audio2lmk_change_nothing(stage):
    from audio2lmk.phonemes import PhoneDecoder
    from talkface.media import read_audio
    from talkface.stages import load_audio2lmk

    wave = read_audio(EXAMPLES / "speech.wav", 16000)[:16000 * 2]
    landmarks = detect_landmarks(read_image(EXAMPLES / "face.png"))
    _, model = load_audio2lmk(stage)
    own = model(Speech.of(wave, 16000), landmarks)
    given = model(Speech.of(wave, 16000).knowing(phones=PhoneDecoder()(wave, 16000)), landmarks)
    np.testing.assert_array_equal(own, given)


@needs_fork
def test_cold_cli_synth_gives_the_same_track_as_one_process(tmp_path):
    """The CLI starts without torch, so it forks; this test's process has torch, so it does not."""
    from talkface.landmarks.io import load_track
    from talkface.media import read_audio
    from talkface.pipeline import SAMPLE_RATE, Synthesizer

    speech = tmp_path / "speech.wav"
    wave = read_audio(EXAMPLES / "speech.wav", SAMPLE_RATE)[:SAMPLE_RATE * 2]
    import soundfile

    soundfile.write(speech, wave, SAMPLE_RATE)
    out, track_file = tmp_path / "out.mp4", tmp_path / "track.npz"
    subprocess.run([sys.executable, "-m", "talkface.cli", "synth", "--image", str(EXAMPLES / "face.png"),
                    "--audio", str(speech), "--out", str(out), "--save-landmarks", str(track_file), "--quiet"],
                   check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    synth = Synthesizer()
    image = read_image(EXAMPLES / "face.png")
    source = synth.source_face(image)
    expected = synth.landmarks_from_audio(read_audio(speech, SAMPLE_RATE), SAMPLE_RATE, source)
    np.testing.assert_array_equal(load_track(track_file).landmarks, expected)
