"""Training augmentation in the log-mel domain (cheap: no STFT per step).

- gain: the whole utterance louder or quieter;
- additive noise at a random SNR with a random spectral tilt (white .. brown-ish), mixed in the
  power domain, which is what adding the noise to the waveform does on average; the noise's
  frame-to-frame fluctuation is imitated with log-normal jitter;
- voice warp: the spectrum stretched or squeezed along frequency (vocal-tract length perturbation),
  so a shorter or longer vocal tract than the training speaker's still reads as the same speech;
- silence padding: quiet frames (digital silence or the clip's own background) before and after
  the speech, with the mouth at rest, so the nets learn that no speech means no motion;
- channel: a random smooth equaliser and, half the time, a band limit (telephone, 8 kHz audio, small
  loudspeakers), so a voice on another channel still reads as speech, not as the non-speech the nets
  also learn to ignore;
- backgrounds: music, noise (audio2lmk.nonspeech) or other talkers' speech (babble) mixed under the
  speech at a random SNR, the target still the foreground speaker's motion.
"""

from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np

from audio2lmk.features import mel_energy
from talkface.audio import SAMPLE_RATE
from audio2lmk.phonemes import PHONE_SET
from talkface.audio_features import LOG_FLOOR, N_MELS, log_mel

NOISE_JITTER = 0.5  # std of the log-normal fluctuation of noise power per mel bin and 10 ms


@lru_cache(maxsize=1)
def white_noise_mel() -> np.ndarray:
    """(80,) mean mel power of unit-variance white noise through the project's log_mel."""
    noise = np.random.default_rng(0).standard_normal(SAMPLE_RATE * 2).astype(np.float32)
    return np.exp(log_mel(noise, SAMPLE_RATE)[5:-5]).mean(axis=0)


@lru_cache(maxsize=1)
def _mel_centres_khz() -> np.ndarray:
    return librosa.mel_frequencies(N_MELS + 2, fmin=55.0, fmax=SAMPLE_RATE / 2)[1:-1] / 1000.0


def _speech_power(power: np.ndarray) -> float:
    """Mean mel power of the louder half of the 10 ms frames (~ the speech) of a (..., 80) power array."""
    frame_power = power.sum(axis=-1).ravel()
    return float(frame_power[frame_power >= np.median(frame_power)].mean())


def add_noise(mel: np.ndarray, snr_db: float, tilt: float, rng: np.random.Generator) -> np.ndarray:
    """Log-mel (..., 80) with noise of power spectrum ~ f^-tilt at snr_db below the speech power."""
    power = np.exp(mel.astype(np.float64))
    speech = _speech_power(power)
    shape = white_noise_mel() * _mel_centres_khz() ** -tilt
    noise = shape * (speech / 10 ** (snr_db / 10) / shape.sum())
    noise = noise * np.exp(NOISE_JITTER * rng.standard_normal(mel.shape) - NOISE_JITTER**2 / 2)
    return np.log(np.maximum(power + noise, LOG_FLOOR)).astype(np.float32)


def background_at(background: np.ndarray, reference: np.ndarray, snr_db: float) -> np.ndarray:
    """A background log-mel rescaled so its mean power lies snr_db below the louder half of `reference`'s."""
    back = np.exp(background.astype(np.float64))
    scale = _speech_power(np.exp(reference.astype(np.float64))) / 10 ** (snr_db / 10) / max(back.sum(axis=-1).mean(), 1e-12)
    return np.log(np.maximum(scale * back, LOG_FLOOR)).astype(np.float32)


def mix_background(mel: np.ndarray, background: np.ndarray, snr_db: float) -> np.ndarray:
    """Log-mel of the speech with a same-shape background log-mel added (power domain) at snr_db."""
    return np.logaddexp(mel, background_at(background, mel, snr_db)).astype(np.float32)


def fit_length(mel: np.ndarray, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """n_frames of a (T, 4, 80) log-mel from a random start, tiled when it is too short."""
    if len(mel) < n_frames:
        mel = np.concatenate([mel] * (n_frames // len(mel) + 1))
    start = int(rng.integers(0, len(mel) - n_frames + 1))
    return mel[start:start + n_frames]


def warp_frequency(mel: np.ndarray, alpha: float) -> np.ndarray:
    """Log-mel (..., 80) of the same sound with every frequency multiplied by alpha (formants move up
    for alpha > 1); bins whose source lies beyond the top bin repeat the top bin."""
    centres = _mel_centres_khz()
    source_bins = np.interp(centres / alpha, centres, np.arange(N_MELS))
    lower = np.floor(source_bins).astype(int)
    upper = np.minimum(lower + 1, N_MELS - 1)
    frac = (source_bins - lower).astype(np.float32)
    return (mel[..., lower] * (1 - frac) + mel[..., upper] * frac).astype(np.float32)


def silence_like(mel: np.ndarray, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(n_frames, 4, 80) quiet frames: digital silence, or the clip's quietest frames resampled."""
    if n_frames == 0 or rng.random() < 0.3:
        return np.full((n_frames, *mel.shape[1:]), np.log(LOG_FLOOR), np.float32)
    energy = mel_energy(mel).mean(axis=1)
    quiet = np.argsort(energy)[: max(1, len(mel) // 10)]
    return mel[rng.choice(quiet, n_frames)] + rng.normal(0, 0.3, (n_frames, *mel.shape[1:])).astype(np.float32)


def random_channel(mel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Log-mel (..., 80) through a random channel: a smooth equaliser of up to about +-8 dB (tilt and one
    broad bump or dip along log frequency) and, half the time, a band pass whose outside is 30-80 dB down."""
    logf = np.log(_mel_centres_khz())
    x = (logf - logf.min()) / (logf.max() - logf.min())  # 0..1 along log frequency
    gain = rng.uniform(-1, 1) * (x - 0.5) * 1.8 + rng.uniform(-1, 1) * np.exp(-((x - rng.uniform(0, 1)) / 0.15) ** 2)
    if rng.random() < 0.5:
        low, high = rng.uniform(0.05, 0.4), rng.uniform(2.8, 7.0)  # kHz
        khz = _mel_centres_khz()
        gain = gain - np.where((khz < low) | (khz > high), np.log(10) / 10 * rng.uniform(30, 80), 0.0)
    return np.maximum(mel + gain.astype(np.float32), np.float32(np.log(LOG_FLOOR)))


def augment_mel(mel: np.ndarray, rng: np.random.Generator, noise_prob: float, snr_db: tuple[float, float],
                gain_db: float, voice_warp: float = 0.0, channel_prob: float = 0.0) -> np.ndarray:
    """Random voice warp (alpha in [1/(1+voice_warp), 1+voice_warp], log-uniform), channel (with probability
    channel_prob), gain and (with probability noise_prob) noise at a random SNR on a (T, 4, 80) log-mel."""
    out = mel
    if voice_warp:
        out = warp_frequency(out, float(np.exp(rng.uniform(-1, 1) * np.log1p(voice_warp))))
    if channel_prob and rng.random() < channel_prob:
        out = random_channel(out, rng)
    out = out + np.float32(np.log(10) / 10 * rng.uniform(-gain_db, gain_db))
    if rng.random() < noise_prob:
        out = add_noise(out, rng.uniform(*snr_db), rng.uniform(0.0, 2.0), rng)
    return np.maximum(out, np.float32(np.log(LOG_FLOOR)))


def perturb_phones(ids: np.ndarray, rng: np.random.Generator, substitute: float, max_shift: int = 2) -> np.ndarray:
    """(T, 4) decoded phone ids with the decoder's kinds of error on another voice: a fraction
    `substitute` of the phone segments replaced by random phones, and the whole sequence shifted by up
    to `max_shift` 10 ms sub-frames (boundaries off by a frame or two)."""
    flat = ids.reshape(-1).copy()
    if substitute > 0 and len(flat):
        starts = np.flatnonzero(np.diff(flat, prepend=-1))
        ends = np.append(starts[1:], len(flat))
        for a, b in zip(starts, ends):
            if rng.random() < substitute:
                flat[a:b] = rng.integers(0, len(PHONE_SET))
    shift = int(rng.integers(-max_shift, max_shift + 1)) if max_shift else 0
    if shift > 0:
        flat = np.concatenate([np.full(shift, flat[0]), flat[:-shift]])
    elif shift < 0:
        flat = np.concatenate([flat[-shift:], np.full(-shift, flat[-1])])
    return flat.reshape(ids.shape)
