"""Training augmentation of the learned audio2lmk nets (log-mel domain)."""

from __future__ import annotations

import numpy as np

from audio2lmk.augment import add_noise, augment_mel, silence_like, warp_frequency
from audio2lmk.features import mel_energy, model_mel
from talkface.audio import SAMPLE_RATE
from talkface.audio_features import LOG_FLOOR


def tone_mel(freq_hz: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = (0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return model_mel(wave, int(seconds * 25))


def peak_bin(mel: np.ndarray) -> float:
    return float(np.median(mel[5:-5].argmax(axis=-1)))


def test_voice_warp_moves_a_tone_like_the_same_tone_at_the_scaled_frequency():
    mel = tone_mel(1000.0)
    assert np.array_equal(warp_frequency(mel, 1.0), mel)
    for alpha in (0.85, 1.15):
        assert abs(peak_bin(warp_frequency(mel, alpha)) - peak_bin(tone_mel(1000.0 * alpha))) <= 1
    assert warp_frequency(mel, 1.1).shape == mel.shape


def test_noise_lowers_snr_as_asked_and_silence_is_quiet():
    rng = np.random.default_rng(0)
    mel = tone_mel(500.0)
    noisy = add_noise(mel, 0.0, 1.0, rng)
    ratio = np.exp(noisy).sum(-1).mean() / np.exp(mel).sum(-1).mean()
    assert 1.6 < ratio < 2.5  # 0 dB: as much noise power as speech power
    far = add_noise(mel, 30.0, 1.0, rng)
    assert np.exp(far).sum(-1).mean() / np.exp(mel).sum(-1).mean() < 1.01
    assert np.all(noisy >= np.log(LOG_FLOOR))
    quiet = silence_like(mel, 12, rng)
    assert quiet.shape == (12, 4, 80)
    assert mel_energy(quiet).mean() < mel_energy(mel).mean()


def test_augment_mel_keeps_shape_and_floor_and_is_seeded():
    mel = tone_mel(700.0)
    a = augment_mel(mel, np.random.default_rng(3), 1.0, (0.0, 30.0), 10.0, voice_warp=0.1)
    b = augment_mel(mel, np.random.default_rng(3), 1.0, (0.0, 30.0), 10.0, voice_warp=0.1)
    assert a.shape == mel.shape and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, mel)
    assert a.min() >= np.log(LOG_FLOOR) - 1e-6


def test_random_channel_is_smooth_or_band_limited_and_keeps_the_floor():
    from audio2lmk.augment import random_channel
    mel = np.random.default_rng(0).normal(10.0, 0.5, (6, 4, 80)).astype(np.float32)  # loud: no bin hits the floor
    limited = smooth = 0
    for seed in range(20):
        out = random_channel(mel, np.random.default_rng(seed))
        gain = (out - mel)[0, 0]
        assert out.shape == mel.shape and out.min() >= np.log(LOG_FLOOR) - 1e-6
        assert np.allclose(out - mel, gain, atol=1e-4)  # the same filter on every frame
        steps = np.abs(np.diff(gain))
        if steps.max() > 2.0:  # a band edge: 30-80 dB down outside it
            limited += 1
            assert gain.min() < -6.0
        else:
            smooth += 1
            assert np.abs(gain).max() < 2.5 and steps.max() < 0.5
    assert limited >= 4 and smooth >= 4
