"""Synthetic non-speech sounds for training the learned audio2lmk nets to keep the mouth closed on them.

A net fed a per-utterance normalised spectrum cannot tell music or steady noise from speech unless it has
been shown them with a closed, still mouth as the target. These generators make such sounds from seeded
random parameters (no recordings): music (melodies and chords of harmonic tones with random timbres,
vibrato and attack/decay envelopes, over percussive noise bursts at a random tempo), coloured noise with a
slow level drift, mains hum, and near-silent room tone. `nonspeech_bank` turns a batch of them into the
(T, 4, 80) log-mels the nets train on, stored like the prepared clips' mels (uint8 round trip).

Evaluation must use other generators than these (scripts/audio2lmk_chatter.py), or it only shows that the
net learnt these.
"""

from __future__ import annotations

import numpy as np

from audio2lmk.features import model_mel
from talkface.audio import FPS, SAMPLE_RATE
from talkface.audio_features import dequantise_mel, quantise_mel

KINDS = ("music", "tones", "percussion", "noise", "hum", "room")


def _adsr(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) attack / exponential decay to a sustain level / release envelope of one note."""
    t = np.arange(n) / SAMPLE_RATE
    attack = rng.uniform(0.003, 0.12)
    decay = rng.uniform(0.05, 0.6)
    sustain = rng.uniform(0.1, 1.0)
    env = np.where(t < attack, t / attack, sustain + (1 - sustain) * np.exp(-(t - attack) / decay))
    release = min(n, int(rng.uniform(0.01, 0.08) * SAMPLE_RATE))
    env[n - release:] *= np.linspace(1.0, 0.0, release)
    return env


def _note(freq: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """One harmonic tone: random brightness, odd-only or all harmonics, optional vibrato."""
    t = np.arange(n) / SAMPLE_RATE
    vibrato = rng.uniform(0, 0.006) * np.sin(2 * np.pi * rng.uniform(4, 7) * t) if rng.random() < 0.5 else 0.0
    phase = 2 * np.pi * freq * np.cumsum(1 + vibrato) / SAMPLE_RATE
    rolloff = rng.uniform(0.6, 2.2)
    step = 2 if rng.random() < 0.25 else 1
    out = np.zeros(n)
    for k in range(1, 24, step):
        if k * freq >= SAMPLE_RATE / 2 - 200:
            break
        out += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k**rolloff
    return out * _adsr(n, rng)


def tones(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A melody or a chord sequence: notes of random length on a random scale, 1-3 voices."""
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n)
    root = rng.uniform(80, 500)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16])
    for _ in range(int(rng.integers(1, 4))):
        pos = int(rng.uniform(0, 0.3) * SAMPLE_RATE)
        while pos < n:
            length = min(n - pos, int(rng.uniform(0.12, 1.2) * SAMPLE_RATE))
            freq = root * 2 ** (rng.choice(scale) / 12) * rng.choice([0.5, 1.0, 1.0, 2.0])
            out[pos:pos + length] += _note(freq, length, rng)
            pos += length + int(rng.uniform(0, 0.1) * SAMPLE_RATE) * (rng.random() < 0.3)
    return out


def _shaped_noise(n: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """White noise with a power spectrum ~ f^slope (slope -2 brown, 0 white, 1 blue-ish)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)
    return np.fft.irfft(spectrum * freqs ** (slope / 2), n)


def percussion(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Noise bursts of random colour and decay at a steady tempo, some beats skipped or accented."""
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n)
    beat = 60.0 / rng.uniform(70, 200) / rng.choice([1, 2])
    for kind in range(int(rng.integers(1, 4))):
        burst_n = int(rng.uniform(0.03, 0.3) * SAMPLE_RATE)
        burst = _shaped_noise(burst_n, rng.uniform(-2, 1), rng) * np.exp(-np.arange(burst_n) / (burst_n / 5))
        burst /= np.abs(burst).max() + 1e-9
        offset = rng.uniform(0, beat)
        for start in np.arange(offset, seconds, beat * rng.choice([1, 2])):
            if rng.random() < 0.85:
                a = int(start * SAMPLE_RATE)
                out[a:a + burst_n] += rng.uniform(0.3, 1.0) * burst[:n - a]
    return out


def noise(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Coloured noise whose level drifts slowly (traffic, fans, wind)."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    drift = 1 + rng.uniform(0, 0.6) * np.sin(2 * np.pi * rng.uniform(0.05, 1.0) * t + rng.uniform(0, 6.3))
    return _shaped_noise(n, rng.uniform(-2.5, 1.0), rng) * drift


def hum(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Mains hum (50 or 60 Hz and harmonics) over faint noise."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.choice([50.0, 60.0]) * rng.choice([1, 2])
    out = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) * rng.uniform(0, 1) / k for k in range(1, 10))
    return out + 0.05 * _shaped_noise(n, rng.uniform(-2, 0), rng)


def room(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Near-silence: faint coloured noise, the level scaled later to 50-70 dB below full scale."""
    return _shaped_noise(int(seconds * SAMPLE_RATE), rng.uniform(-2.5, 0.0), rng)


def nonspeech_wave(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """float32 16 kHz waveform of one kind of KINDS, RMS 1 before scaling; music = tones over percussion."""
    if kind == "music":
        out = tones(seconds, rng)
        out = out / (out.std() + 1e-9) + rng.uniform(0.2, 1.5) * _unit(percussion(seconds, rng))
    else:
        out = {"tones": tones, "percussion": percussion, "noise": noise, "hum": hum, "room": room}[kind](seconds, rng)
    return _unit(out).astype(np.float32)


def _unit(wave: np.ndarray) -> np.ndarray:
    return wave / (wave.std() + 1e-9)


def nonspeech_bank(n_clips: int, seconds: float, seed: int) -> list[np.ndarray]:
    """n_clips (T, 4, 80) log-mels of random KINDS (music and tones most often), at speech-like levels
    (room tone far quieter), through the prepared mels' uint8 storage."""
    rng = np.random.default_rng(seed)
    weights = np.array([4, 2, 1, 2, 1, 1], float)
    bank = []
    for _ in range(n_clips):
        kind = str(rng.choice(KINDS, p=weights / weights.sum()))
        level_db = rng.uniform(-70, -50) if kind == "room" else rng.uniform(-35, -12)
        wave = nonspeech_wave(kind, seconds, rng) * 10 ** (level_db / 20)
        mel = model_mel(np.clip(wave, -1, 1).astype(np.float32), int(round(seconds * FPS)))
        bank.append(dequantise_mel(quantise_mel(mel)))
    return bank
