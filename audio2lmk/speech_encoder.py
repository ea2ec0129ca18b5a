"""A pretrained speech encoder as audio2lmk's input (issue 32): features learnt from thousands of voices, per 25 fps
video frame, so a net trained on one speaker's motion hears other voices as that speaker's.

The encoder is Moonshine base-en's (MIT, Moonshine AI): raw 16 kHz audio in, 416 values per 24 ms out. Its weights
ship inside the `moonshine-cpp` wheel (pinned; the `encoder` extra, pip install 'talkface[encoder]'); the file is
found where pip installed the package without importing it (the package's own native library crashes on some
CPUs) and run with plain ONNX Runtime (talkface.onnx_runtime). A checkpoint trained on these features records the
encoder's package, version and file hash (`speech_encoder` in its sidecar); `check_encoder` refuses, in one line, a missing or different file.

Timing: encoder frame i sees samples [384 i, 384 i + 895) (its convolution stem: kernels 127/7/3, strides 64/3/2);
its value is placed at that window's centre and interpolated linearly at each video frame's centre.
Long audio is encoded in windows of CHUNK_SECONDS with MARGIN_SECONDS of context on each side, cut on the
encoder's 384-sample grid so every window's frames are the whole file's frames; the encoder attends over its whole
input, so the margins make a window's frames match a one-pass run within a tolerance (tests/audio2lmk), and the
memory stays bounded (one pass over 10 minutes would attend over 25,000 frames).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from talkface.audio import FPS, SAMPLE_RATE
from talkface.errors import CheckpointError

STRIDE = 384  # samples per encoder frame
RECEPTIVE = 895  # samples one encoder frame's convolution stem sees
CHUNK_SECONDS = 4.0  # windows of at most 8 s: near the 3-s clips the nets train on (features depend on context)
MARGIN_SECONDS = 2.0


@dataclass(frozen=True)
class EncoderSpec:
    """Where a speech encoder's weights come from: the pinned wheel, the file inside it and its hash."""

    package: str  # the distribution's name on PyPI
    module: str  # its top-level import name (located, never imported)
    version: str
    file: str  # inside the installed package
    sha256: str
    dim: int  # values per encoder frame

    def identity(self) -> dict:
        """What a checkpoint's sidecar records (`speech_encoder`)."""
        return {k: v for k, v in asdict(self).items() if k != "module"}


ENCODERS = {
    "moonshine": EncoderSpec(package="moonshine-cpp", module="moonshine_cpp", version="0.1.4",
                             file="models/base-en/encoder_model.ort",
                             sha256="9d1a19e044cbf89a207723d1adb667de89a5671a1e3e611b8ebe721b2c31219c", dim=416),
}


def encoder_name(features: str) -> str | None:
    """The encoder an input kind reads (audio2lmk.inputs: "moonshine", "normmel+moonshine"), None for none."""
    return next((name for name in ENCODERS if features.split("+")[-1] == name), None)


_hashes: dict[tuple[str, float, int], str] = {}


def _sha256(path: Path) -> str:
    import hashlib

    stat = path.stat()
    key = (str(path), stat.st_mtime, stat.st_size)
    if key not in _hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def locate(spec: EncoderSpec, who: str = "audio2lmk") -> Path:
    """The encoder file of the installed, pinned package; one-line CheckpointError naming `who` (the checkpoint)
    when the package is missing, another version, or its file differs from the one `spec` names."""
    import importlib.metadata  # ~0.1 s to import: only for nets that read an encoder, not on every synth

    wanted = f"{spec.package}=={spec.version}"
    found = importlib.util.find_spec(spec.module)  # a top-level package's spec: nothing of it is imported
    if found is None or not found.submodule_search_locations:
        raise CheckpointError(f"{who}: needs the speech encoder of {wanted}, which is not installed "
                              f"(pip install {wanted})")
    version = importlib.metadata.version(spec.package)
    if version != spec.version:
        raise CheckpointError(f"{who}: was trained on the speech encoder of {wanted}, but {spec.package} {version} "
                              f"is installed (pip install {wanted})")
    path = Path(list(found.submodule_search_locations)[0]) / spec.file
    if not path.is_file():
        raise CheckpointError(f"{who}: {path} is missing from the installed {wanted} (reinstall it)")
    if _sha256(path) != spec.sha256:
        raise CheckpointError(f"{who}: {path} is not the speech encoder it was trained on "
                              f"(sha256 {_sha256(path)[:12]}…, expected {spec.sha256[:12]}…)")
    return path


def check_encoder(features: str, recorded: dict | None, who: str) -> EncoderSpec | None:
    """The spec of the encoder a checkpoint reads (None for inputs without one), after checking that the installed
    file is the one its sidecar records (`recorded`, its `speech_encoder`; the code's spec when absent)."""
    name = encoder_name(features)
    if name is None:
        return None
    spec = ENCODERS[name]
    if recorded and recorded != spec.identity():
        spec = EncoderSpec(module=spec.module, **{**spec.identity(), **recorded})
    locate(spec, who)
    return spec


def n_encoder_frames(n_samples: int) -> int:
    """Frames the encoder gives for n_samples (its stem's valid convolutions)."""
    l1 = (n_samples - 127) // 64 + 1
    l2 = (l1 - 7) // 3 + 1
    return max(0, (l2 - 3) // 2 + 1)


class SpeechEncoder:
    """Runs one encoder on 16 kHz mono audio: `frames(wave16k, n_frames)` -> (n_frames, dim) float32."""

    def __init__(self, spec: EncoderSpec, threads: int | None = None, who: str = "audio2lmk"):
        from talkface.onnx_runtime import session

        self.spec = spec
        self.session = session(locate(spec, who), threads=threads)
        self._lock = threading.Lock()  # one run at a time per session keeps the threads it was given

    def _run(self, wave: np.ndarray) -> np.ndarray:
        if n_encoder_frames(len(wave)) < 1:  # shorter than one frame's window: padded with silence
            wave = np.pad(wave, (0, RECEPTIVE + 2 * STRIDE - len(wave)))
        with self._lock:
            out = self.session.run(None, {"input_values": np.asarray(wave, np.float32)[None]})[0][0]
        return out.astype(np.float32)

    def encoder_chunks(self, wave16k: np.ndarray, chunk_s: float = CHUNK_SECONDS,
                       margin_s: float = MARGIN_SECONDS) -> Iterator[np.ndarray]:
        """Successive runs of the encoder's frames over the whole audio (every frame once, in order), each computed
        with up to margin_s of context on both sides: memory bounded by chunk_s + 2 margin_s."""
        wave16k = np.asarray(wave16k, np.float32)
        total = n_encoder_frames(len(wave16k)) if len(wave16k) > RECEPTIVE + 2 * STRIDE else 0
        core = max(1, int(chunk_s * SAMPLE_RATE) // STRIDE)
        margin = int(margin_s * SAMPLE_RATE) // STRIDE
        if total <= core + 2 * margin:  # one window: the whole file
            yield self._run(wave16k)
            return
        for first in range(0, total, core):
            last = min(first + core, total)
            a = max(0, first - margin)
            b = min(total, last + margin)
            out = self._run(wave16k[a * STRIDE:(b - 1) * STRIDE + RECEPTIVE])
            yield out[first - a:last - a]

    def encode(self, wave16k: np.ndarray, **chunking) -> np.ndarray:
        """(N, dim) encoder frames of the whole audio, in windows (encoder_chunks)."""
        return np.concatenate(list(self.encoder_chunks(wave16k, **chunking)))

    def frames(self, wave16k: np.ndarray, n_frames: int, **chunking) -> np.ndarray:
        """(n_frames, dim) the encoder's features at each 25 fps video frame's centre."""
        return at_video_frames(self.encode(wave16k, **chunking), n_frames)


def at_video_frames(encoded: np.ndarray, n_frames: int) -> np.ndarray:
    """(N, dim) encoder frames -> (n_frames, dim): linear in time between the frames' window centres, held at the
    ends (video frame k's centre is (k + 0.5) / FPS s)."""
    centres = (np.arange(len(encoded)) * STRIDE + (RECEPTIVE - 1) / 2) / SAMPLE_RATE
    wanted = (np.arange(n_frames) + 0.5) / FPS
    pos = np.interp(wanted, centres, np.arange(len(encoded), dtype=np.float64))
    low = np.floor(pos).astype(int)
    high = np.minimum(low + 1, len(encoded) - 1)
    frac = (pos - low)[:, None]
    return ((1 - frac) * encoded[low] + frac * encoded[high]).astype(np.float32)


_shared: dict[str, SpeechEncoder] = {}
_shared_lock = threading.Lock()


def shared_encoder(name: str, threads: int | None = None, who: str = "audio2lmk") -> SpeechEncoder:
    """One SpeechEncoder per encoder and process (loading the session is the slow part: ~0.1 s)."""
    with _shared_lock:
        if name not in _shared:
            _shared[name] = SpeechEncoder(ENCODERS[name], threads, who)
        return _shared[name]
