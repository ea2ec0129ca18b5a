"""Speech-encoder features of the training clips, computed once and kept per clip (like the phone cache):
the clean clip's, and a noisy copy's (with its log-mel), since the encoder reads waveforms and the log-mel
augmentation of audio2lmk.augment cannot reach it.

The noisy copy: noise of random colour (power ~ f^-tilt, tilt in [0, 2]: white .. brown) at a random SNR in
`snr_db` below the speech (the louder half of 10 ms frames), seeded by the clip id. Files live under
`<cache>/<encoder name>-<sha256[:12]>/`, so another encoder file never reuses them.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np

from audio2lmk.features import model_mel
from audio2lmk.speech_encoder import ENCODERS, SpeechEncoder
from talkface.audio import SAMPLE_RATE


def noisy_copy(wave16k: np.ndarray, rng: np.random.Generator, snr_db: tuple[float, float]) -> np.ndarray:
    """The waveform with coloured noise at a random SNR below its speech power."""
    wave = np.asarray(wave16k, np.float64)
    spectrum = np.fft.rfft(rng.standard_normal(len(wave)))
    freqs = np.maximum(np.fft.rfftfreq(len(wave), 1 / SAMPLE_RATE), 50.0)
    noise = np.fft.irfft(spectrum * freqs ** (-rng.uniform(0.0, 2.0) / 2), len(wave))
    frames = wave[:len(wave) // 160 * 160].reshape(-1, 160)
    power = (frames ** 2).mean(axis=1)
    speech = power[power >= np.median(power)].mean() if len(power) else 0.0
    noise *= np.sqrt(speech / 10 ** (rng.uniform(*snr_db) / 10) / max((noise ** 2).mean(), 1e-12))
    return (wave + noise).astype(np.float32)


def cache_dir(root: str | Path, name: str) -> Path:
    return Path(root) / f"{name}-{ENCODERS[name].sha256[:12]}"


def encoded_clip(encoder: SpeechEncoder, folder: Path, clip_id: str, wave16k: np.ndarray | None, n_frames: int,
                 snr_db: tuple[float, float]) -> dict[str, np.ndarray]:
    """{"clean": (n, dim), "noisy": (n, dim), "noisy_mel": (n, 4, 80)} float32 for one clip, from the cache or
    computed from `wave16k` (needed only when not cached) and stored."""
    path = folder / f"{clip_id}.npz"
    if not path.is_file():
        rng = np.random.default_rng(zlib.crc32(clip_id.encode()))
        noisy = noisy_copy(wave16k, rng, snr_db)
        arrays = {"clean": encoder.frames(wave16k, n_frames), "noisy": encoder.frames(noisy, n_frames),
                  "noisy_mel": model_mel(noisy, n_frames)}
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")  # two runs may fill one cache
        np.savez(tmp, **{k: v.astype(np.float16) for k, v in arrays.items()})
        tmp.replace(path)
    with np.load(path) as data:
        return {k: data[k].astype(np.float32)[:n_frames] for k in ("clean", "noisy", "noisy_mel")}
