"""RNNoise (audio2lmk.denoise) and the voice gate that also listens to the denoised copy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audio2lmk import voice_activity
from audio2lmk.denoise import Denoised, denoise
from audio2lmk.voice_activity import CHUNK, heard_speech_chunks, speech_chunks, speech_probability
from scripts.audio2lmk_chatter import SOUNDS, at_level
from talkface.media import read_audio

SR = 16000
EXAMPLE_SPEECH = Path(__file__).resolve().parents[2] / "examples" / "speech.wav"


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.mark.parametrize("n", [0, 1, 479, 480, SR + 7])
def test_any_length_comes_back_as_long_with_a_probability_per_10_ms(n):
    out = denoise(np.random.default_rng(n).uniform(-0.1, 0.1, n).astype(np.float32))
    assert out.wave.shape == (n,) and out.wave.dtype == np.float32 and np.isfinite(out.wave).all()
    assert out.speech_probability.shape == (-(-n // 160),)
    assert np.all((out.speech_probability >= 0) & (out.speech_probability <= 1))


def test_speech_is_kept_and_noise_and_music_are_suppressed():
    words = read_audio(EXAMPLE_SPEECH, SR)
    noise = (0.05 * np.random.default_rng(0).standard_normal(3 * SR)).astype(np.float32)
    pop = at_level(SOUNDS["pop loop"](np.random.default_rng(7))).astype(np.float32)
    clean = denoise(words)
    assert rms(clean.wave) > 0.8 * rms(words)
    assert rms(denoise(noise).wave) < 0.05 * rms(noise)
    assert rms(denoise(pop).wave) < 0.2 * rms(pop)
    # in time with the input: the denoised speech follows the clean speech sample for sample
    assert np.corrcoef(clean.wave, words)[0, 1] > 0.9
    assert clean.speech_probability.mean() > 0.5 > denoise(noise).speech_probability.mean()


def fake_listeners(monkeypatch, raw: np.ndarray, denoised: np.ndarray, rnnoise: np.ndarray) -> np.ndarray:
    """Detector probabilities per chunk for the recording and its denoised copy (marked by its sign), RNNoise's
    per 10 ms; returns a recording of the right length."""
    monkeypatch.setattr(voice_activity.rnnoise, "denoise", lambda w: Denoised(-w, rnnoise))
    monkeypatch.setattr(voice_activity, "speech_probability", lambda w: raw if w[0] > 0 else denoised)
    return np.ones(len(raw) * CHUNK, np.float32)


def test_what_only_the_denoised_copy_hears_counts_when_sustained_and_rnnoise_agrees(monkeypatch):
    n = 100  # chunks of 32 ms
    raw, denoised = np.full(n, 0.1, np.float32), np.full(n, 0.1, np.float32)
    raw[0:10] = 0.9  # heard in the recording: always speech
    denoised[20:40] = 0.9  # 0.64 s in the copy, RNNoise agreeing: speech
    denoised[50:60] = 0.9  # 0.32 s: too short
    denoised[70:90] = 0.9  # 0.64 s, RNNoise disagreeing: not speech
    rnnoise = np.full(n * 32 // 10 + 1, 0.9, np.float32)
    rnnoise[70 * 32 // 10:90 * 32 // 10] = 0.2
    heard = heard_speech_chunks(fake_listeners(monkeypatch, raw, denoised, rnnoise))
    np.testing.assert_array_equal(np.flatnonzero(heard), np.r_[0:10, 20:40])


@pytest.mark.parametrize("sound, seed", [("pop loop", 1), ("pop loop", 2), ("FM bells", 9), ("plucked strings", 1)])
def test_music_the_denoised_copy_takes_for_speech_keeps_the_gate_shut(sound, seed):
    music = at_level(SOUNDS[sound](np.random.default_rng(seed)))
    assert speech_chunks(speech_probability(denoise(music).wave)).any()  # the copy alone would open the mouth
    assert not heard_speech_chunks(music).any()


def test_a_voice_under_loud_crackle_is_heard_in_the_denoised_copy():
    words = read_audio(EXAMPLE_SPEECH, SR)
    rain = at_level(SOUNDS["rain"](np.random.default_rng(7)))[:len(words)]
    words = words[:len(rain)]
    mixed = (words + rain * rms(words) / rms(rain) * 10 ** (5 / 20)).astype(np.float32)  # speech 5 dB under it
    in_clean = speech_chunks(speech_probability(words)).mean()
    in_raw = speech_chunks(speech_probability(mixed)).mean()
    assert in_raw < 0.7 * in_clean  # the detector alone misses much of the voice
    assert heard_speech_chunks(mixed).mean() > 0.9 * in_clean


def test_a_denoised_copy_handed_in_is_the_one_listened_to(monkeypatch):
    """A synth makes the copy in its background child (talkface.speech): the gate must not make it again."""
    from audio2lmk import denoise as module

    def made_again(_):
        raise AssertionError("denoised again")

    monkeypatch.setattr(module, "denoise", made_again)
    words = read_audio(EXAMPLE_SPEECH, SR)[:2 * SR]
    quiet = Denoised(np.zeros_like(words), np.zeros(len(words) // 160, np.float32))  # a copy where no one speaks
    np.testing.assert_array_equal(heard_speech_chunks(words, quiet), speech_chunks(speech_probability(words)))


def test_without_rnnoise_the_gate_listens_to_the_recording_only(monkeypatch):
    from audio2lmk import denoise as module

    def missing():
        raise OSError("RNNoise library not found")

    monkeypatch.setattr(module, "_library", missing)
    words = read_audio(EXAMPLE_SPEECH, SR)[:2 * SR]
    assert not module.available()
    with pytest.warns(RuntimeWarning, match="listens to the recording only"):
        heard = heard_speech_chunks(words)
    np.testing.assert_array_equal(heard, speech_chunks(speech_probability(words)))
