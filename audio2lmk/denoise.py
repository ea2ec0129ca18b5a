"""RNNoise (J.-M. Valin, 2018; BSD-3): a small recurrent net that suppresses noise and music under speech, its
weights compiled into the C library. The library comes in the `pyrnnoise` PyPI package (Apache-2.0); it is found,
not imported, because importing pyrnnoise loads its audio I/O stack (av, audiolab), which the library does not need.

Used by the voice-activity gate (audio2lmk.voice_activity): a voice under a TV show's music, which the detector
misses in the raw recording, is heard in the denoised copy; RNNoise's own speech probability (a by-product of
its gains) is the second opinion the gate asks for. The models never see the denoised audio.

Denoising costs ~65 ms per second of audio on one core: a synth computes it in its background child while the
models load, and the voice gate reads it from there (talkface.speech.Speech.heard).
"""

from __future__ import annotations

import ctypes
import platform
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soxr  # imports in ms; scipy.signal would add ~1.3 s to a synth's start

RATE, RNNOISE_RATE = 16000, 48000
FRAME = 480  # samples per RNNoise frame (10 ms at 48 kHz)
INT16_SCALE = 32767.0  # RNNoise expects float samples on the 16-bit integer scale
DELAY = 2 * FRAME  # its output lags the input by 20 ms (a frame buffered, a frame of window overlap): taken back
_LIBRARY = {"Linux": "librnnoise.so", "Darwin": "librnnoise.dylib", "Windows": "rnnoise.dll"}


class Denoised(NamedTuple):
    wave: np.ndarray  # (N,) float32 16 kHz, as long as the recording
    speech_probability: np.ndarray  # (ceil(N / 160),) float32: RNNoise's speech probability per 10 ms of input


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    spec = find_spec("pyrnnoise")
    name = _LIBRARY.get(platform.system())
    path = Path(spec.origin).parent / name if spec and spec.origin and name else None
    if path is None or not path.is_file():
        raise OSError("RNNoise library not found: the `pyrnnoise` package is missing or has no build for this "
                      "platform")
    lib = ctypes.CDLL(str(path))
    lib.rnnoise_create.argtypes = [ctypes.c_void_p]
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                          ctypes.POINTER(ctypes.c_float)]
    lib.rnnoise_process_frame.restype = ctypes.c_float
    return lib


def available() -> bool:
    """Whether RNNoise can run here (its wheel exists for Linux, Windows and macOS 14+; elsewhere the voice gate
    listens to the recording only)."""
    try:
        _library()
    except OSError:
        return False
    return True


def denoise(wave16k: np.ndarray) -> Denoised:
    """16 kHz mono -> its copy with noise and music suppressed (RNNoise, one fresh state) and RNNoise's speech
    probability per 10 ms."""
    lib = _library()
    if len(wave16k) == 0:
        return Denoised(np.zeros(0, np.float32), np.zeros(0, np.float32))
    up = soxr.resample(np.asarray(wave16k, np.float32), RATE, RNNOISE_RATE) * INT16_SCALE
    frames = np.zeros((-(-(len(up) + DELAY) // FRAME), FRAME), np.float32)
    frames.reshape(-1)[:len(up)] = up
    probability = np.empty(len(frames), np.float32)
    state = lib.rnnoise_create(None)
    try:
        for k, frame in enumerate(frames):  # in place: RNNoise allows the output to be its input
            pointer = frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            probability[k] = lib.rnnoise_process_frame(state, pointer, pointer)
    finally:
        lib.rnnoise_destroy(state)
    aligned = frames.reshape(-1)[DELAY:DELAY + len(up)] / INT16_SCALE
    down = soxr.resample(aligned, RNNOISE_RATE, RATE)
    out = np.zeros(len(wave16k), np.float32)
    out[:min(len(out), len(down))] = down[:len(out)]
    return Denoised(out, probability[:-(-len(up) // FRAME)])
