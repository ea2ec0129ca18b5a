"""Is someone speaking? Silero VAD's detector (MIT licence, the `silero-vad` PyPI package: multi-speaker,
multilingual, trained with noise and music as negatives), run with numpy on the weights of the package's own
TorchScript model (data/silero_vad.jit, v6; the package's silero_vad_16k.safetensors holds other, older weights
that do not reproduce it), copied once into audio2lmk/data/silero_vad.safetensors (audio2lmk.export, whose sidecar
records the source and its MIT licence): the product installs neither torch nor silero-vad.

The net, per 32 ms chunk of 16 kHz audio (512 samples, with the previous chunk's last 64 samples in front and
64 samples of reflection behind): a learned STFT (a 258 x 256 convolution, stride 128, whose two halves are the
real and imaginary parts of 129 bins) -> magnitudes -> four ReLU convolutions (strides 1, 2, 2, 1: four STFT
frames become one vector) -> an LSTM cell carried from chunk to chunk -> ReLU, a 1 x 1 convolution, a sigmoid.
Everything before the LSTM sees only its own chunk, so it runs over all chunks at once; only the LSTM is
sequential.

The gate listens twice, to the recording and to its RNNoise-denoised copy (audio2lmk.denoise): under a TV show's
music the detector misses most of a voice that it hears once the music is suppressed. What only the denoised copy
holds counts when it is sustained and RNNoise's own detector agrees (heard_speech_chunks), so music, noise or
silence alone keep the gate shut.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from audio2lmk import denoise as rnnoise
from audio2lmk.features import frames_for, silence_gate
from audio2lmk.inputs import speech_share_gate
from talkface.audio import FPS, SAMPLE_RATE, to_mono_16k

CHUNK = 512  # samples per probability at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous chunk each chunk sees
REFLECT = 64  # samples of reflection padding after each chunk
N_FFT, HOP = 256, 128
WEIGHTS = Path(__file__).parent / "data" / "silero_vad.safetensors"

_weights: dict[str, np.ndarray] | None = None


def load_weights() -> dict[str, np.ndarray]:
    """The detector's weights, read once."""
    global _weights
    if _weights is None:
        from safetensors.numpy import load_file

        _weights = load_file(str(WEIGHTS))
    return _weights


def _chunks(wave16k: np.ndarray) -> np.ndarray:
    """(N, CONTEXT + CHUNK + REFLECT) float32 windows: the recording zero-padded to whole chunks, each with the
    previous CONTEXT samples (zeros before the first) in front and REFLECT reflected samples behind."""
    n = max(1, -(-len(wave16k) // CHUNK))
    padded = np.zeros(CONTEXT + n * CHUNK, np.float32)
    padded[CONTEXT:CONTEXT + len(wave16k)] = wave16k
    index = np.arange(n)[:, None] * CHUNK + np.arange(CONTEXT + CHUNK)[None]
    return np.pad(padded[index], ((0, 0), (0, REFLECT)), mode="reflect")


def _conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """(N, L, C_in) -> (N, L_out, C_out): a kernel-3, padding-1 convolution along L, batched over N."""
    out_c, in_c, k = weight.shape
    xp = np.pad(x, ((0, 0), (1, 1), (0, 0)))
    n_out = (x.shape[1] + 2 - k) // stride + 1
    taps = np.stack([xp[:, t:t + stride * (n_out - 1) + 1:stride] for t in range(k)], axis=2)  # (N, L_out, k, C_in)
    return taps.reshape(len(x), n_out, k * in_c) @ weight.transpose(2, 1, 0).reshape(k * in_c, out_c) + bias


def _features(windows: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """(N, window) -> (N, 128): each chunk's encoder output, the LSTM's input."""
    starts = np.arange(0, windows.shape[1] - N_FFT + 1, HOP)
    frames = windows[:, starts[:, None] + np.arange(N_FFT)[None]]  # (N, 4, N_FFT)
    spec = frames @ w["stft"][:, 0].T  # (N, 4, 258): real then imaginary parts
    bins = spec.shape[-1] // 2
    x = np.sqrt(spec[..., :bins] ** 2 + spec[..., bins:] ** 2)
    for layer, stride in (("conv1", 1), ("conv2", 2), ("conv3", 2), ("conv4", 1)):
        x = np.maximum(_conv1d(x, w[f"{layer}.weight"], w[f"{layer}.bias"], stride), 0.0)
    return x[:, 0]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def speech_probability(wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(ceil(duration / 32 ms),) float32 in [0, 1]: the probability that someone speaks in each 32 ms chunk
    (chunk i covers [i, i + 1) x 32 ms; the last is zero-padded). Any rate, mono or stereo."""
    w = load_weights()
    x = _features(_chunks(to_mono_16k(wave, sample_rate)), w)
    gates_in = x @ w["lstm.weight_ih"].T + w["lstm.bias_ih"] + w["lstm.bias_hh"]
    w_hh = w["lstm.weight_hh"].T
    size = w_hh.shape[0]
    h = np.zeros(size, np.float32)
    c = np.zeros(size, np.float32)
    hidden = np.empty((len(x), size), np.float32)
    for i, g in enumerate(gates_in):  # gates in torch's order: input, forget, cell, output
        g = g + h @ w_hh
        c = _sigmoid(g[size:2 * size]) * c + _sigmoid(g[:size]) * np.tanh(g[2 * size:3 * size])
        h = _sigmoid(g[3 * size:]) * np.tanh(c)
        hidden[i] = h
    logit = np.maximum(hidden, 0.0) @ w["out.weight"][0, :, 0] + w["out.bias"][0]
    return _sigmoid(logit).astype(np.float32)


# The package's documented operating point (silero_vad.get_speech_timestamps' defaults): speech starts where the
# probability reaches 0.5 and ends where it falls below 0.35 (threshold - 0.15) for at least 100 ms; segments
# shorter than 250 ms are dropped; each kept segment is padded by 30 ms.
ON_THRESHOLD, OFF_THRESHOLD = 0.5, 0.35
MIN_SILENCE_S, MIN_SPEECH_S, PAD_S = 0.100, 0.250, 0.030


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def speech_chunks(prob: np.ndarray) -> np.ndarray:
    """(N,) bool per 32 ms chunk: speech at the operating point above (hysteresis, short gaps bridged, short
    segments dropped; the padding is added by voice_gate, in samples)."""
    speaking, out = False, np.zeros(len(prob), bool)
    for i, p in enumerate(prob):
        speaking = p >= ON_THRESHOLD if not speaking else p >= OFF_THRESHOLD
        out[i] = speaking
    chunk_s = CHUNK / SAMPLE_RATE
    for a, b in _runs(~out):
        if 0 < a and b < len(out) and (b - a) * chunk_s < MIN_SILENCE_S:
            out[a:b] = True
    for a, b in _runs(out):
        if (b - a) * chunk_s < MIN_SPEECH_S:
            out[a:b] = False
    return out


# The denoised copy also turns short stretches of music into speech-like sound (scripts/audio2lmk_chatter.py's music,
# seeds 1-10: 0.26-0.29 s of "speech" in 7 of 40 draws, where RNNoise's own probability is ~0.9, and 1 s of plucked
# strings in one, where it is 0.28), so what only the copy holds must last twice the detector's minimum and RNNoise
# must agree on it.
MIN_DENOISED_SPEECH_S = 2 * MIN_SPEECH_S
RNNOISE_AGREES = 0.5  # mean RNNoise speech probability over the segment
RNNOISE_FRAME_S = 0.010


def heard_speech_chunks(wave16k: np.ndarray, denoised: rnnoise.Denoised | None = None) -> np.ndarray:
    """(N,) bool per 32 ms chunk: speech heard in the recording, or heard in its denoised copy for at least
    MIN_DENOISED_SPEECH_S with RNNoise agreeing. denoised: that copy, when already made (else made here).
    The value a talkface.speech.Speech carries as `heard`."""
    heard = speech_chunks(speech_probability(wave16k))
    if not rnnoise.available():
        warnings.warn("RNNoise is not installed (pip install --no-deps 'pyrnnoise>=0.3.8,<0.5'): the voice gate "
                      "listens to the recording only", RuntimeWarning, stacklevel=2)
        return heard
    clean = rnnoise.denoise(wave16k) if denoised is None else denoised
    chunk_s = CHUNK / SAMPLE_RATE
    for a, b in _runs(speech_chunks(speech_probability(clean.wave))):
        span = slice(int(a * chunk_s / RNNOISE_FRAME_S), int(np.ceil(b * chunk_s / RNNOISE_FRAME_S)))
        agrees = clean.speech_probability[span]
        if (b - a) * chunk_s >= MIN_DENOISED_SPEECH_S and agrees.size and agrees.mean() >= RNNOISE_AGREES:
            heard[a:b] = True
    return heard


def voice_gate(wave16k: np.ndarray, n_frames: int, heard: np.ndarray | None = None) -> np.ndarray:
    """(n_frames,) mouth gate in [0, 1] per 25 fps frame (frame t covers [t, t + 1) x 40 ms) from the speech
    segments: the phone gate's rule (audio2lmk.inputs.speech_share_gate, ~1 s around a frame) with this detector
    deciding what is speech. 0 where no one speaks for about half a second around (music, noise, silence).
    heard: heard_speech_chunks(wave16k) when already known."""
    chunks = heard_speech_chunks(wave16k) if heard is None else heard
    samples = np.repeat(chunks, CHUNK)
    pad = int(PAD_S * SAMPLE_RATE)
    for a, b in _runs(chunks):
        samples[max(0, a * CHUNK - pad):b * CHUNK + pad] = True
    edges = np.round(np.arange(n_frames + 1) * SAMPLE_RATE / FPS).astype(int)
    covered = np.concatenate([[0], np.cumsum(samples)])[np.minimum(edges, len(samples))]
    return speech_share_gate(np.diff(covered) / np.diff(edges))


def voice_gate_at(wave16k: np.ndarray, n_frames: int, fps: float, heard: np.ndarray | None = None) -> np.ndarray:
    """voice_gate for n_frames at any frame rate (frame k at k / fps s): computed at 25 fps, linear in time."""
    n25 = max(1, int(round(len(wave16k) / SAMPLE_RATE * FPS)))
    gate = voice_gate(wave16k, n25, heard)
    return np.interp(np.arange(n_frames) / fps, np.arange(n25) / FPS, gate).astype(np.float32)


def unvoiced_share(wave16k: np.ndarray, heard: np.ndarray | None = None) -> float:
    """Share of the recording's sound (25 fps frames not digitally silent) where the voice gate is shut: high for
    music, noise or singing the detector does not take for speech."""
    n = frames_for(wave16k)
    sounding = silence_gate(wave16k, n) > 0
    return float((voice_gate(wave16k, n, heard)[sounding] == 0).mean()) if sounding.any() else 0.0
