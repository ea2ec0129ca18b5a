"""The stage contracts (talkface.contracts): both audio2lmk models and both lmk2video models conform, reject the
same bad input with the same one-line error, and the pipeline checks a stage's inputs before the stage runs."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from audio2lmk import LearnedAudio2Lmk, PhoneticAudio2Lmk
from lmk2video import LearnedGenerator, WarpGenerator
from lmk2video.learned_torch import TorchNet
from lmk2video.networks import Conditioning
from talkface.audio import SAMPLE_RATE
from talkface.contracts import Audio2Lmk, FrameStream, Lmk2Video, StageInputError
from talkface.speech import Speech
from talkface.errors import MediaError, TalkfaceError
from talkface.face_crop import crop_transform
from talkface.pipeline import SourceFace, Synthesizer
from tests.audio2lmk.test_audio2lmk_learned import face, speech_like, tiny_net
from tests.lmk2video.test_lmk2video_learned import face_image, face_landmarks, randomise_heads, tiny_generator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def audio2lmk_models():
    return [PhoneticAudio2Lmk(), LearnedAudio2Lmk(tiny_net())]


def lmk2video_models():
    g = tiny_generator(seed=2)
    randomise_heads(g)
    g.conditioning = Conditioning(64, 32, heatmaps="compact")
    net = TorchNet(g)  # an untrained torch net (the ONNX runner answers the same call: tests/lmk2video/test_learned_onnx.py)
    return [WarpGenerator(), LearnedGenerator(net), LearnedGenerator(net, mouth_only=False)]


def accepts(method, protocol_method) -> bool:
    """Every parameter of the contract is accepted by name, with the contract's default where it has one."""
    have = inspect.signature(method).parameters
    for name, param in list(inspect.signature(protocol_method).parameters.items())[1:]:  # after self
        if name not in have or (param.default is not inspect.Parameter.empty and have[name].default != param.default):
            return False
    return True


def test_every_stage_model_conforms_to_its_contract():
    for model in audio2lmk_models():
        assert isinstance(model, Audio2Lmk) and not isinstance(model, Lmk2Video)
        assert accepts(model.__call__, Audio2Lmk.__call__), type(model).__name__
    for model in lmk2video_models():
        assert isinstance(model, Lmk2Video) and not isinstance(model, Audio2Lmk)
        assert accepts(model.__call__, Lmk2Video.__call__) and accepts(model.stream, Lmk2Video.stream)
        assert accepts(model.overlay_stream, Lmk2Video.overlay_stream)


def test_both_audio2lmk_models_refuse_bad_input_alike():
    wave, source = speech_like(0.5), face(100.0, 0.0, (150.0, 150.0), 1)
    # the speech is made inside the check: bad samples are refused when a Speech is made of them
    cases = {"NaN landmarks": (lambda: Speech.of(wave, SAMPLE_RATE), np.full((68, 2), np.nan), 25.0),
             "68x3 landmarks": (lambda: Speech.of(wave, SAMPLE_RATE), np.zeros((68, 3)), 25.0),
             "zero fps": (lambda: Speech.of(wave, SAMPLE_RATE), source, 0.0),
             "zero rate": (lambda: Speech.of(wave, 0), source, 25.0),
             "NaN audio": (lambda: Speech.of(np.full(8000, np.nan, np.float32), SAMPLE_RATE), source, 25.0),
             "10 ms": (lambda: Speech.of(wave[:160], SAMPLE_RATE), source, 25.0),
             "samples, not a Speech": (lambda: wave, source, 25.0)}
    for case, (speech, points, fps) in cases.items():
        errors = []
        for model in audio2lmk_models():
            with pytest.raises(TalkfaceError) as err:
                model(speech(), points, fps=fps)
            errors.append((type(err.value), str(err.value)))
        assert errors[0] == errors[1], case
        assert "\n" not in errors[0][1] and issubclass(errors[0][0], (MediaError, StageInputError))


def test_both_lmk2video_models_refuse_bad_input_alike():
    lmk = face_landmarks(64)
    crop, targets = face_image(64, lmk), np.stack([lmk, lmk])
    cases = {"grey crop": (crop[..., 0], lmk, targets), "float crop": (crop.astype(np.float32), lmk, targets),
             "67 points": (crop, lmk[:67], targets), "flat targets": (crop, lmk, targets.reshape(2, -1)),
             "NaN target": (crop, lmk, np.where(np.arange(2)[:, None, None] == 1, np.nan, targets))}
    for case, args in cases.items():
        messages = set()
        for model in lmk2video_models():
            with pytest.raises(StageInputError) as err:
                model.stream(args[0], args[1])(args[2])
            messages.add(str(err.value))
        assert len(messages) == 1 and str(next(iter(messages))).startswith("lmk2video: "), case
    assert issubclass(StageInputError, ValueError)  # callers that caught numpy-style ValueErrors still do


def test_a_frame_stream_carries_its_state_from_chunk_to_chunk():
    seen = []

    def step(targets, state):
        count = (state or 0) + len(targets)
        seen.append(count)
        return np.full((len(targets), 2, 2, 3), count, np.uint8), count

    stream = FrameStream(step)
    assert stream(np.zeros((3, 68, 2)))[0, 0, 0, 0] == 3 and stream(np.zeros((2, 68, 2)))[0, 0, 0, 0] == 5
    assert seen == [3, 5] and stream.state == 5
    for model in lmk2video_models():  # both stages: chunk by chunk equals the whole track in one call
        lmk = face_landmarks(64)
        crop = face_image(64, lmk)
        targets = np.stack([face_landmarks(64, o) for o in np.linspace(0, 1, 5)])
        chunked = model.stream(crop, lmk)
        assert isinstance(chunked, FrameStream)
        parts = np.concatenate([chunked(targets[:2]), chunked(targets[2:])]).astype(int)
        assert np.abs(parts - model(crop, lmk, targets).astype(int)).max() <= 1


def test_every_lmk2video_overlay_is_its_frames_minus_the_moved_source():
    """What the render path pastes (the photo moved by the mesh motion + the stage's paint) is what the stage's
    own frames show, chunk by chunk, so moving the full-resolution photo instead changes nothing else."""
    lmk = face_landmarks(64)
    crop = face_image(64, lmk)
    targets = np.stack([face_landmarks(64, o) for o in np.linspace(0, 1, 5)])
    coords_ref, plain = WarpGenerator().motion(crop, lmk, targets)
    for model in lmk2video_models():
        overlay = model.overlay_stream(crop, lmk)
        parts = [overlay(targets[:2]), overlay(targets[2:])]
        coords = np.concatenate([c for c, _ in parts])
        painted = np.concatenate([p for _, p in parts])
        assert coords.shape == (5, 64, 64, 2) and painted.shape == (5, 64, 64, 3) and painted.dtype == np.float32
        np.testing.assert_allclose(coords, coords_ref, atol=1e-4)
        frames = model.stream(crop, lmk)(targets).astype(np.float32)
        assert np.abs(np.clip(plain + painted, 0, 255) - frames).max() <= 1.001, type(model).__name__  # rounding
        if isinstance(model, WarpGenerator):  # it paints the open mouth and nothing above it
            above_mouth = int(targets[:, 48:, 1].min()) - 2
            assert np.abs(painted).max() > 10 and np.abs(painted[:, :above_mouth]).max() < 1e-3


class Refusing:
    """A stage that must not be reached."""

    predicts_head_pose = False

    def __call__(self, *args, **kwargs):
        raise AssertionError("the stage ran on input the pipeline should have refused")

    def stream(self, *args, **kwargs):
        raise AssertionError("the stage ran on input the pipeline should have refused")

    overlay_stream = stream


def test_the_pipeline_checks_stage_inputs_before_any_stage_runs():
    synth = Synthesizer(audio2lmk="phonetic", lmk2video="warp", size=64)
    synth._stages = {"audio2lmk": ("refusing", Refusing()), "lmk2video": ("refusing", Refusing())}
    lmk = face_landmarks(64)
    transform = crop_transform(lmk, size=64)
    bad = SourceFace(face_image(64, lmk), np.full((68, 2), np.nan, np.float32), transform, face_image(64, lmk), lmk)
    with pytest.raises(StageInputError, match="source landmarks"):
        synth.landmarks_from_audio(speech_like(0.5), SAMPLE_RATE, bad)
    grey = SourceFace(face_image(64, lmk), lmk, transform, face_image(64, lmk)[..., 0], lmk)
    with pytest.raises(StageInputError, match="source crop"):
        next(synth.render(grey, np.stack([lmk, lmk])))
