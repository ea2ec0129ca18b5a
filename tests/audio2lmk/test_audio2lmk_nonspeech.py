"""Non-speech training data of the learned audio2lmk nets (audio2lmk.nonspeech), the background mixing
(audio2lmk.augment) and how train.make_batch uses them. All signals are synthetic."""

from __future__ import annotations

import numpy as np
import pytest

from audio2lmk.augment import background_at, fit_length, mix_background
from audio2lmk.features import mel_energy
from audio2lmk.nonspeech import KINDS, nonspeech_bank, nonspeech_wave
from audio2lmk.train import Audio2LmkConfig, Clip, make_batch
from talkface.audio import SAMPLE_RATE
from talkface.audio_features import LOG_FLOOR


def flatness(wave: np.ndarray) -> float:
    """Spectral flatness (geometric / arithmetic mean of the power spectrum): ~0.5+ for noise, ~0 for tones."""
    power = np.abs(np.fft.rfft(wave[: 2 * SAMPLE_RATE])) ** 2 + 1e-12
    return float(np.exp(np.log(power).mean()) / power.mean())


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_finite_unit_level_and_seeded(kind):
    a = nonspeech_wave(kind, 2.0, np.random.default_rng(1))
    b = nonspeech_wave(kind, 2.0, np.random.default_rng(1))
    c = nonspeech_wave(kind, 2.0, np.random.default_rng(2))
    assert a.shape == (2 * SAMPLE_RATE,) and a.dtype == np.float32 and np.isfinite(a).all()
    assert abs(a.std() - 1.0) < 1e-3
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_tones_are_harmonic_and_noise_is_not():
    rng = np.random.default_rng(0)
    assert flatness(nonspeech_wave("tones", 2.0, rng)) < 0.05
    assert flatness(nonspeech_wave("hum", 2.0, rng)) < 0.05
    white_ish = [flatness(nonspeech_wave("noise", 2.0, np.random.default_rng(s))) for s in range(6)]
    assert max(white_ish) > 0.3  # some of the coloured noises are near white


def test_percussion_comes_in_bursts():
    wave = nonspeech_wave("percussion", 3.0, np.random.default_rng(4))
    frame_rms = np.sqrt((wave[: 3 * SAMPLE_RATE].reshape(-1, 160) ** 2).mean(axis=1))
    assert np.percentile(frame_rms, 95) > 5 * np.percentile(frame_rms, 20)


def test_bank_shapes_levels_and_seed():
    bank = nonspeech_bank(12, 2.0, seed=3)
    assert len(bank) == 12 and all(m.shape == (50, 4, 80) and m.dtype == np.float32 for m in bank)
    assert all(m.min() >= np.log(LOG_FLOOR) - 0.1 for m in bank)
    assert all(np.array_equal(a, b) for a, b in zip(bank, nonspeech_bank(12, 2.0, seed=3)))
    levels = [float(np.median(mel_energy(m))) for m in bank]
    assert max(levels) - min(levels) > 3.0  # loud music and faint room tone both occur


def test_mix_background_sets_the_snr_and_fit_length_tiles():
    rng = np.random.default_rng(0)
    speech = np.log(np.full((30, 4, 80), 0.01, np.float32))
    back = np.log(rng.uniform(0.5, 2.0, (30, 4, 80)).astype(np.float32))
    for snr in (0.0, 10.0):
        added = np.exp(mix_background(speech, back, snr)).sum(-1).mean() / np.exp(speech).sum(-1).mean() - 1
        assert added == pytest.approx(10 ** (-snr / 10), rel=1e-3)
    scaled = background_at(back, speech, 20.0)
    assert np.exp(scaled).sum(-1).mean() == pytest.approx(0.01 * 80 / 100, rel=1e-3)
    source = back[:7]
    tiled = fit_length(source, 30, rng)
    start = next(k for k in range(7) if np.array_equal(tiled[0], source[k]))
    assert tiled.shape == (30, 4, 80) and all(np.array_equal(tiled[k], source[(start + k) % 7]) for k in range(30))
    cut = fit_length(back, 10, rng)
    assert cut.shape == (10, 4, 80) and any(np.array_equal(cut, back[k:k + 10]) for k in range(21))


def synthetic_clip(seed: int, n: int = 30) -> Clip:
    rng = np.random.default_rng(seed)
    return Clip(f"c{seed}", rng.normal(-4, 2, (n, 4, 80)).astype(np.float32),
                rng.normal(0, 0.02, (n, 29, 2)).astype(np.float32), np.zeros((68, 2), np.float32),
                rng.normal(0, 0.01, (n, 4)).astype(np.float32), np.zeros((n, 68, 2), np.float32))


def test_make_batch_gives_nonspeech_items_a_resting_target_and_keeps_speech_targets():
    clips = [synthetic_clip(s) for s in range(4)]
    bank = nonspeech_bank(3, 2.0, seed=0)
    config = Audio2LmkConfig(features="normmel", max_pad_frames=0, nonspeech_prob=1.0)
    mel, level, motion, pose, words = make_batch(clips, config, np.random.default_rng(0), bank)
    assert mel.shape == (4, 30, 4, 81) and motion.shape == (4, 30, 29, 2)
    assert float(motion.abs().max()) == 0.0 and float(pose.abs().max()) == 0.0 and words == []
    config = Audio2LmkConfig(features="normmel", max_pad_frames=0, nonspeech_prob=0.0, background_prob=1.0,
                             babble_share=0.5)
    mixed, _, motion, pose, _ = make_batch(clips, config, np.random.default_rng(0), bank)
    clean, _, _, _, _ = make_batch(clips, Audio2LmkConfig(features="normmel", max_pad_frames=0),
                                np.random.default_rng(0), bank)
    for k, c in enumerate(clips):
        assert np.array_equal(motion[k].numpy(), c.motion) and np.array_equal(pose[k].numpy(), c.pose)
    assert not np.allclose(mixed.numpy(), clean.numpy())


def test_make_batch_without_a_bank_is_unchanged_by_the_new_options():
    clips = [synthetic_clip(s) for s in range(3)]
    base = make_batch(clips, Audio2LmkConfig(features="cmnmel"), np.random.default_rng(5))
    same = make_batch(clips, Audio2LmkConfig(features="cmnmel", nonspeech_prob=0.5), np.random.default_rng(5))
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(base[:4], same[:4])) and base[4] == same[4]
