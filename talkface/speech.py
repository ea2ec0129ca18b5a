"""A recording as the models hear it, analysed once.

The caller (the pipeline, the dubber, an evaluation) makes one `Speech` from the samples it read and adds what it
has already found out about them (the phones, where someone is heard speaking); the audio2lmk stage and the
pipeline's notes read that one value, so the samples are converted to 16 kHz mono once and the voice detector runs
once, and nothing is handed back up to be analysed again.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from talkface.audio import as_mono, to_mono_16k
from talkface.errors import MediaError


@dataclass(frozen=True, eq=False)
class Speech:
    wave: np.ndarray  # (N,) float32, 16 kHz mono: what every model hears
    duration: float  # seconds of the recording as it was given (frame counts follow it, not the resampled length)
    phones: list | None = None  # its phones (audio2lmk.phonemes.Phone), when already decoded
    # (K,) bool, one per voice-activity chunk: someone is heard speaking there (audio2lmk.voice_activity.listen);
    # None: not listened to yet (a stage that gates the mouth listens itself)
    heard: np.ndarray | None = None

    @classmethod
    def of(cls, wave: np.ndarray, sample_rate: int) -> Speech:
        """From samples at any rate, mono or multi-channel; one-line errors for what no model can hear."""
        mono = as_mono(wave)
        if not sample_rate > 0:
            raise MediaError(f"audio: invalid sample rate {sample_rate}")
        return cls(to_mono_16k(mono, sample_rate), len(mono) / sample_rate)

    def frames(self, fps: float) -> int:
        """T = round(duration x fps): how many frames cover the recording."""
        return int(round(self.duration * fps))

    def knowing(self, **found) -> Speech:
        """The same recording with more of its analysis (phones=..., heard=...)."""
        return replace(self, **found)

