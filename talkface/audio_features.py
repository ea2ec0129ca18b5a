"""Log-mel features aligned to video frames (hop 10 ms -> 4 mel frames per 25 fps video frame)."""

from __future__ import annotations

import librosa
import numpy as np

N_MELS = 80
HOP_SECONDS = 0.010
WIN_SECONDS = 0.025
LOG_FLOOR = 1e-5


def log_mel(wave: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """(N, 80) float32 natural-log mel energies, one row per 10 ms."""
    hop = int(round(HOP_SECONDS * sample_rate))
    win = int(round(WIN_SECONDS * sample_rate))
    mel = librosa.feature.melspectrogram(
        y=np.asarray(wave, dtype=np.float32), sr=sample_rate, n_fft=1 << (win - 1).bit_length(),
        win_length=win, hop_length=hop, n_mels=N_MELS, fmin=55.0, fmax=sample_rate / 2, power=2.0, center=True)
    return np.log(np.maximum(mel, LOG_FLOOR)).T.astype(np.float32)


def mel_per_video_frame(wave: np.ndarray, sample_rate: int, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """(n_frames, k, 80) with k = mel frames per video frame (4 at 25 fps); padded at the end by edge values."""
    per_frame = int(round(1.0 / (fps * HOP_SECONDS)))
    mel = log_mel(wave, sample_rate)
    need = n_frames * per_frame
    if len(mel) < need:
        mel = np.concatenate([mel, np.repeat(mel[-1:], need - len(mel), axis=0)])
    return mel[:need].reshape(n_frames, per_frame, N_MELS)
