"""The voice-activity detector (audio2lmk.voice_activity): the numpy runner reproduces silero-vad's own TorchScript
model, handles any length and rate, and its per-frame gate follows the package's documented operating point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import butter, sosfilt

from audio2lmk.voice_activity import CHUNK, speech_chunks, speech_probability, voice_gate
from talkface.audio import to_mono_16k
from talkface.media import read_audio

SR = 16000
EXAMPLE_SPEECH = Path(__file__).resolve().parents[2] / "examples" / "speech.wav"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def mixed_signal(seconds: float = 3.0) -> np.ndarray:
    """Silence, a vowel-like buzz with formant-ish resonances, noise bursts and a sweep: probabilities of all sizes."""
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 110 + 30 * np.sin(2 * np.pi * 1.3 * t)
    buzz = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / SR) * np.exp(-((k * 120 - 700) / 400) ** 2) for k in range(1, 30))
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) * (t > 0.4)
    noise = rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 0.7 * t) > 0.6)
    sweep = np.sin(2 * np.pi * (200 + 800 * t) * t) * (t > 2.2)
    return (0.2 * syllables * buzz + 0.02 * noise + 0.05 * sweep).astype(np.float32)


def package_probabilities(wave16k: np.ndarray) -> np.ndarray:
    """The package's own model, fed chunk by chunk as its documentation shows (last chunk zero-padded)."""
    silero_vad = pytest.importorskip("silero_vad")
    model = silero_vad.load_silero_vad()
    n = -(-len(wave16k) // CHUNK)
    padded = np.zeros(n * CHUNK, np.float32)
    padded[:len(wave16k)] = wave16k
    with torch.no_grad():
        return np.array([model(torch.from_numpy(padded[i * CHUNK:(i + 1) * CHUNK]), SR).item() for i in range(n)])


@pytest.mark.parametrize("make", [mixed_signal, lambda: read_audio(EXAMPLE_SPEECH, SR)[:4 * SR]],
                         ids=["synthetic", "example speech"])
def test_probabilities_match_the_packages_own_model(make):
    wave = make()
    ours = speech_probability(wave, SR)
    theirs = package_probabilities(wave)
    assert ours.shape == theirs.shape == (-(-len(wave) // CHUNK),)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    assert ours.max() - ours.min() > 0.3  # a signal that exercises the detector, not one constant answer


@pytest.mark.parametrize("n", [0, 1, 511, 512, 513, 5000])
def test_any_length_gives_one_probability_per_started_chunk(n):
    prob = speech_probability(mixed_signal()[:n], SR)
    assert prob.shape == (max(1, -(-n // CHUNK)),) and prob.dtype == np.float32
    assert np.all((prob >= 0) & (prob <= 1))


def test_silence_and_noise_are_not_speech_and_speech_is():
    silence = np.zeros(2 * SR, np.float32)
    noise = (0.05 * np.random.default_rng(0).standard_normal(2 * SR)).astype(np.float32)
    assert speech_probability(silence).max() < 0.1 and speech_probability(noise).mean() < 0.1
    assert not voice_gate(silence, 50).any() and not voice_gate(noise, 50).any()
    words = read_audio(EXAMPLE_SPEECH, SR)[:3 * SR]
    assert voice_gate(words, 75).mean() > 0.7


def test_other_rates_and_stereo_are_resampled_to_16k():
    words = read_audio(EXAMPLE_SPEECH, SR)[:3 * SR]
    sos = butter(6, [300, 3400], btype="bandpass", fs=SR, output="sos")
    phone8k = sosfilt(sos, words)[::2].astype(np.float32)  # 8 kHz telephone speech
    np.testing.assert_array_equal(speech_probability(phone8k, 8000), speech_probability(to_mono_16k(phone8k, 8000)))
    assert speech_probability(phone8k, 8000).mean() > 0.5
    stereo = np.stack([words, words], axis=1)
    np.testing.assert_allclose(speech_probability(stereo, SR), speech_probability(words, SR), atol=1e-6)


def test_operating_point_hysteresis_gaps_and_short_segments():
    p = np.array([0.1, 0.6, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1])
    # on at 0.5, held down to 0.35, off below it; the run of 8 chunks (256 ms) is long enough to keep
    np.testing.assert_array_equal(speech_chunks(p), [0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    assert not speech_chunks(p[:8]).any()  # cut at 7 chunks (224 ms): too short
    assert not speech_chunks(np.full(20, 0.45)).any()  # never reaching 0.5: never on
    assert not speech_chunks(np.array([0.1, 0.9, 0.9, 0.9, 0.1, 0.1])).any()  # 96 ms: too short
    gap = np.array([0.9] * 8 + [0.1] * 3 + [0.9] * 8)  # a 96 ms dip inside speech is bridged
    assert speech_chunks(gap).all()
    long_gap = np.array([0.9] * 8 + [0.1] * 4 + [0.9] * 8)  # 128 ms is a pause
    assert speech_chunks(long_gap).sum() == 16


def test_gate_ramps_bridges_pauses_and_shuts_away_from_speech():
    words = read_audio(EXAMPLE_SPEECH, SR)[:2 * SR]
    pause = np.zeros(int(0.4 * SR), np.float32)
    wave = np.concatenate([np.zeros(SR, np.float32), words, pause, words, np.zeros(2 * SR, np.float32)])
    n = int(round(len(wave) / SR * 25))
    gate = voice_gate(wave, n)
    assert gate.shape == (n,) and gate.dtype == np.float32 and gate.min() >= 0 and gate.max() <= 1
    assert not gate[:10].any() and not gate[-30:].any()  # ~0.5 s from any speech: shut
    assert gate[30:130].min() > 0.9  # the speech and the 0.4 s pause between its parts: open
    assert np.abs(np.diff(gate)).max() < 0.2  # opens and closes over ~0.25 s: the lips never snap


def test_the_learned_mouth_is_closed_where_no_one_speaks_but_the_head_moves():
    from audio2lmk.learned import LearnedAudio2Lmk
    from test_audio2lmk_learned import tiny_net

    noise = (0.05 * np.random.default_rng(0).standard_normal(3 * SR)).astype(np.float32)
    gated = LearnedAudio2Lmk(tiny_net("lstm", head_pose=True))
    ungated = LearnedAudio2Lmk(tiny_net("lstm", head_pose=True), {"calibration": {"voice_gate": False}})
    motion, pose = gated.predict(noise)
    assert np.abs(ungated.predict(noise)[0]).max() > 1e-3  # the untrained net moves the mouth on noise
    assert not motion.any() and np.abs(pose).max() > 1e-4  # the gate closes the mouth only
    words = read_audio(EXAMPLE_SPEECH, SR)[:3 * SR]
    # 1.0-2.0 s of the example: inside speech the gate is fully open and changes nothing
    np.testing.assert_allclose(gated.predict(words)[0][25:50], ungated.predict(words)[0][25:50], atol=1e-6)


def test_only_stages_that_read_phones_get_them_decoded(tmp_path):

    from talkface.stages import audio2lmk_uses_phones

    assert audio2lmk_uses_phones("phonetic")
    assert not audio2lmk_uses_phones("auto")  # the shipped net: normmel inputs, voice gate
    for features, phone_gate, expected in [("cmnmel", True, True), ("phones+cepstra", False, True), ("mel", False, False)]:
        path = tmp_path / f"{features}_{phone_gate}.safetensors"
        path.write_bytes(b"")
        path.with_suffix(".json").write_text(json.dumps({"config": {"features": features},
                                                         "calibration": {"phone_gate": phone_gate}}))
        assert audio2lmk_uses_phones(str(path)) is expected
    assert audio2lmk_uses_phones(str(tmp_path / "no_sidecar.safetensors"))  # unreadable: decode, as before


def test_the_committed_weights_are_the_installed_packages(tmp_path):
    """audio2lmk/data/silero_vad.safetensors is what the export makes from the silero-vad wheel here (re-export
    with `python scripts/export_onnx.py --voice-activity` after upgrading it)."""
    pytest.importorskip("silero_vad")
    from safetensors.numpy import load_file

    from audio2lmk.export import export_voice_activity
    from audio2lmk.voice_activity import WEIGHTS, load_weights

    fresh = load_file(str(export_voice_activity(tmp_path / "vad.safetensors")))
    committed = load_weights()
    assert sorted(fresh) == sorted(committed) and len(committed) == 15
    for name, value in fresh.items():
        np.testing.assert_array_equal(committed[name], value, err_msg=name)
    recorded = json.loads(WEIGHTS.with_suffix(".json").read_text())
    assert recorded["source_sha256"] == json.loads((tmp_path / "vad.json").read_text())["source_sha256"]
    assert recorded["licence"] == "MIT" and "Silero Team" in recorded["licence_text"]
