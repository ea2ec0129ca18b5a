"""The pretrained speech encoder as audio2lmk's input (audio2lmk.speech_encoder, issue 32): its frames placed at the
video frames, windows for long audio against one pass, the training cache, and one clear line for a missing or
different encoder. Tests that run the encoder skip when its pinned wheel (moonshine-cpp) is not installed."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audio2lmk.encoder_cache import cache_dir, encoded_clip
from audio2lmk.inputs import n_inputs, net_input, rows_per_frame
from audio2lmk.features import model_mel
from audio2lmk.learned import LearnedAudio2Lmk, load_checkpoint
from audio2lmk.models import Audio2LmkNet
from audio2lmk.speech_encoder import (ENCODERS, RECEPTIVE, STRIDE, SpeechEncoder, at_video_frames, check_encoder,
                                      locate, n_encoder_frames)
from audio2lmk.train import Audio2LmkConfig, train
from talkface.audio import FPS, SAMPLE_RATE
from talkface.checkpoint import save_model
from talkface.errors import CheckpointError
from talkface.media import read_audio
from talkface.speech import Speech
from test_audio2lmk_learned import face, make_prepared_set, speech_like, write_grid_splits

SPEC = ENCODERS["moonshine"]
SPEECH = Path(__file__).resolve().parents[2] / "talkface" / "examples" / "speech.wav"
needs_encoder = pytest.mark.skipif(importlib.util.find_spec(SPEC.module) is None,
                                   reason=f"the speech encoder's wheel is not installed (pip install "
                                          f"{SPEC.package}=={SPEC.version})")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def encoder():
    if importlib.util.find_spec(SPEC.module) is None:
        pytest.skip(f"the speech encoder's wheel is not installed (pip install {SPEC.package}=={SPEC.version})")
    return SpeechEncoder(SPEC, threads=1)


def test_video_frames_interpolate_the_encoder_frames_at_their_window_centres():
    n_enc = 100
    centres = (np.arange(n_enc) * STRIDE + (RECEPTIVE - 1) / 2) / SAMPLE_RATE  # seconds
    encoded = np.stack([centres, np.sin(centres)], axis=1).astype(np.float32)  # channel 0: time itself
    frames = at_video_frames(encoded, 55)
    wanted = (np.arange(55) + 0.5) / FPS
    assert frames.shape == (55, 2)
    inside = (wanted >= centres[0]) & (wanted <= centres[-1])
    np.testing.assert_allclose(frames[inside, 0], wanted[inside], atol=1e-5)
    assert np.all(frames[~inside & (wanted < centres[0]), 0] == encoded[0, 0])  # held before the first centre


def test_encoder_kinds_are_one_row_per_video_frame():
    mel = model_mel(speech_like(0.4), 10)
    encoded = np.random.default_rng(0).standard_normal((10, SPEC.dim)).astype(np.float32)
    for kind, width in (("moonshine", 4 + SPEC.dim), ("normmel+moonshine", 4 * 81 + SPEC.dim)):
        x = net_input(kind, mel, None, encoded)
        assert rows_per_frame(kind) == 1 and n_inputs(kind) == width and x.shape == (10, 1, width)
        np.testing.assert_array_equal(x[:, 0, -SPEC.dim:], encoded)
        net = Audio2LmkNet(kind="lstm", hidden=8, n_components=4, features=kind)
        net.set_feature_statistics(x[:, 0].mean(axis=0), x[:, 0].std(axis=0))
        assert net(torch.as_tensor(x)[None], torch.zeros(1)).shape == (1, 10, 4)
    with pytest.raises(ValueError):
        n_inputs("phones+moonshine")


@needs_encoder
def test_frame_count_and_shape_follow_the_audio(encoder):
    for n in (RECEPTIVE, 16000, 48000 + 123):
        assert len(encoder.encode(np.zeros(n, np.float32))) == n_encoder_frames(n)
    frames = encoder.frames(np.zeros(100, np.float32), 1)  # shorter than one encoder window: padded
    assert frames.shape == (1, SPEC.dim) and np.isfinite(frames).all()


@needs_encoder
def test_a_click_changes_the_encoder_frames_whose_window_holds_it(encoder):
    """The stem's timing (frame i sees samples [384 i, 384 i + 895)) that at_video_frames places frames by."""
    for at in (16000, 16000 + 200, 24321):
        wave = np.zeros(3 * SAMPLE_RATE, np.float32)
        wave[at] = 1.0
        change = np.linalg.norm(np.diff(encoder.encode(wave), axis=0), axis=1)
        holding = [i for i in range(len(change) + 1) if i * STRIDE <= at < i * STRIDE + RECEPTIVE]
        assert set(np.argsort(change)[-2:] + 1) <= set(holding) | {holding[-1] + 1}  # entering and leaving them


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@needs_encoder
def test_windows_are_the_one_pass_frames_up_to_the_stated_tolerance(encoder):
    """Short audio (one window) is the one-pass run exactly. Longer audio goes in windows of 4 s with 2 s of context
    on each side, aligned with the one pass (no lag fits better than 0) and, channels standardised as the nets see
    them, a median cosine of at least 0.85 per frame with one pass over 22 s (measured 0.89). The encoder attends
    over its whole input, so any other context moves its features as much: the 7-s example alone against the same
    7 s inside the 22 s reads 0.93; a one-frame shift of the one pass 0.96."""
    speech = read_audio(SPEECH, SAMPLE_RATE)
    np.testing.assert_array_equal(encoder.encode(speech), encoder._run(speech))
    wave = np.concatenate([speech, speech[::-1] * 0.5, speech])
    whole, streamed = encoder._run(wave), encoder.encode(wave)
    chunks = list(encoder.encoder_chunks(wave))
    assert len(chunks) > 3 and max(len(c) for c in chunks) <= 4 * SAMPLE_RATE // STRIDE + 1
    assert streamed.shape == whole.shape
    mean, std = whole.mean(axis=0), whole.std(axis=0)
    a, b = (streamed - mean) / std, (whole - mean) / std
    by_lag = {lag: np.median(_cosines(a[2 + lag:len(a) - 2 + lag], b[2:-2])) for lag in (-2, -1, 0, 1, 2)}
    assert max(by_lag, key=by_lag.get) == 0 and by_lag[0] >= 0.85


@needs_encoder
def test_training_cache_is_computed_once_per_clip_and_encoder(encoder, tmp_path):
    wave = speech_like(1.2)
    folder = cache_dir(tmp_path, "moonshine")
    first = encoded_clip(encoder, folder, "clip", wave, 30, (0.0, 30.0))
    assert first["clean"].shape == first["noisy"].shape == (30, SPEC.dim) and first["noisy_mel"].shape == (30, 4, 80)
    assert folder.name.endswith(SPEC.sha256[:12]) and (folder / "clip.npz").is_file()
    again = encoded_clip(encoder, folder, "clip", None, 30, (0.0, 30.0))  # no audio: read from the cache
    np.testing.assert_array_equal(again["noisy"], first["noisy"])
    assert np.abs(first["noisy"] - first["clean"]).mean() > 0.01  # the noisy copy is another input


def test_a_missing_or_different_encoder_is_one_clear_line(tmp_path):
    with pytest.raises(CheckpointError, match=r"^ck: needs the speech encoder of nope-pkg==1\.0, which is not "
                                              r"installed \(pip install nope-pkg==1\.0\)$"):
        locate(dataclasses.replace(SPEC, package="nope-pkg", module="nope_pkg_xyz", version="1.0"), "ck")
    numpy_version = importlib.metadata.version("numpy")
    other = dataclasses.replace(SPEC, package="numpy", module="numpy", version="0.0", file="__init__.py")
    with pytest.raises(CheckpointError, match=f"numpy {numpy_version} is installed"):
        locate(other, "ck")
    wrong_hash = dataclasses.replace(other, version=numpy_version, sha256="0" * 64)
    with pytest.raises(CheckpointError, match=r"__init__\.py is not the speech encoder it was trained on"):
        locate(wrong_hash, "ck")
    assert check_encoder("normmel", None, "ck") is None  # inputs without an encoder need none


def test_a_checkpoint_recording_another_encoder_file_does_not_load(tmp_path):
    net = Audio2LmkNet(kind="lstm", hidden=8, n_components=4, features="moonshine")
    path = save_model(tmp_path / "a2l", net, speech_encoder={**SPEC.identity(), "sha256": "0" * 64})
    assert json.loads(path.with_suffix(".json").read_text())["speech_encoder"]["package"] == SPEC.package
    with pytest.raises(CheckpointError, match=f"^{path}: .*speech encoder"):
        load_checkpoint(path)


@needs_encoder
def test_training_smoke_on_encoder_features_and_inference_reads_them(tmp_path):
    ids = ["bbaf2n", "bbaf3s", "bgaa6n", "lrae3s", "pgwr6p"]
    make_prepared_set(tmp_path / "prepared", ids)
    write_grid_splits(tmp_path / "grid", ids, ["lwaz5a"])
    config = Audio2LmkConfig(prepared=str(tmp_path / "prepared"), grid_root=str(tmp_path / "grid"),
                             out_dir=str(tmp_path / "run"), features="moonshine", model="lstm",
                             encoder_cache=str(tmp_path / "encoder"), hidden=16, n_components=4, batch_size=2,
                             val_fraction=0.2, max_epochs=2, threads=1)
    best = train(config)
    meta = json.loads(best.with_suffix(".json").read_text())
    assert meta["speech_encoder"] == SPEC.identity() and meta["config"]["features"] == "moonshine"
    assert len(list(cache_dir(tmp_path / "encoder", "moonshine").glob("*.npz"))) == len(ids)
    model = load_checkpoint(best)
    assert isinstance(model, LearnedAudio2Lmk)
    speech = Speech.of(speech_like(1.0), SAMPLE_RATE)
    track = model(speech, face(40.0, 0.0, (64.0, 50.0), 0), blink=False, head_motion=False)
    assert track.shape == (25, 68, 2) and np.isfinite(track).all()
