"""Speaker-independent inputs of the learned audio2lmk nets: what was said and how loud,
not who said it. Per 25 fps video frame, 4 sub-frames of 10 ms, each a vector of:

- "phones": a one-hot of the phone pocketsphinx's multi-speaker en-us model decodes there (the
  phonetic default's knowledge, no transcript), plus the envelope;
- "cepstra": mel cepstra 1-19 (c0, the loudness, left out; the low quefrencies keep the vocal tract's
  shape and drop most of the pitch harmonics) normalised per utterance over its speech frames, which
  removes the speaker's and the channel's average spectrum, plus the envelope;
- "phones+cepstra": both, plus the envelope;
- "normmel": all 80 log-mels, each bin normalised per utterance over its speech frames like the cepstra
  (the speaker's and the channel's average spectrum removed, the fine spectral detail of "mel" kept),
  plus the envelope; "phones+normmel": with the phones;
- "cmnmel": the same log-mels with only the per-utterance mean removed (no per-bin variance scaling, so steady
  noise stays flat instead of being blown up to speech-like contrast), over a fixed MEL_SCALE, plus the envelope;
- "mel" (the original nets): log-mels as they are, normalised by the net's MelFrontend;
- "moonshine": a pretrained speech encoder's features at each video frame (audio2lmk.speech_encoder, learnt from
  many voices) plus the envelope's 4 sub-frames; "normmel+moonshine": beside normmel's 4 sub-frames. These are one
  row per video frame, (T, 1, n_inputs), standardised by the net's EncoderFrontend.
Envelope: the 10 ms energy relative to the utterance's loud speech (95th percentile), in [0, 1] over
ENVELOPE_RANGE nats: loudness-normalised, so a whisper and a shout of the same speech look alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from audio2lmk.features import MELS_PER_FRAME, mel_energy, moving_average
from audio2lmk.phonemes import PHONE_RATE, PHONE_SET, Phone, PhoneDecoder
from audio2lmk.speech_encoder import ENCODERS, encoder_name
from talkface.audio import SAMPLE_RATE
from talkface.audio_features import N_MELS

FEATURE_KINDS = ("mel", "phones", "cepstra", "phones+cepstra", "normmel", "phones+normmel", "cmnmel")
ENCODER_KINDS = tuple(f"{part}{name}" for name in ENCODERS for part in ("", "normmel+"))
N_CEPSTRA = 19
ENVELOPE_RANGE = 9.0  # nats below the utterance's loud speech (~39 dB) that the envelope spans
SPEECH_MARGIN = 5.0  # frames within this many nats of loud speech count as speech for the normalisation
SILENCE_PHONE = PHONE_SET.index("SIL")
NON_SPEECH_PHONES = (SILENCE_PHONE, PHONE_SET.index("+NSN+"))  # silence and non-speech noise
GATE_FRAMES = 25  # the phone gate looks at ~1 s around a frame: pauses between words never close it
GATE_OPEN_SHARE = 0.25  # share of those frames holding phones from which the gate is fully open
MEL_SCALE = 3.0  # nats: about the spread of a log-mel bin over speech, so "cmnmel" inputs are of order 1


def n_inputs(kind: str) -> int:
    """Values per row of a feature kind's net input: per 10 ms sub-frame, or per video frame for encoder kinds."""
    name = encoder_name(kind)
    if name is not None and kind in ENCODER_KINDS:
        sub_frame = N_MELS + 1 if kind.startswith("normmel+") else 1
        return MELS_PER_FRAME * sub_frame + ENCODERS[name].dim
    sizes = {"mel": 80, "phones": len(PHONE_SET) + 1, "cepstra": N_CEPSTRA + 1,
             "phones+cepstra": len(PHONE_SET) + N_CEPSTRA + 1, "normmel": N_MELS + 1,
             "phones+normmel": len(PHONE_SET) + N_MELS + 1, "cmnmel": N_MELS + 1}
    if kind not in sizes:
        raise ValueError(f"unknown audio2lmk input kind {kind!r} "
                         f"(expected one of {', '.join(FEATURE_KINDS + ENCODER_KINDS)})")
    return sizes[kind]


def rows_per_frame(kind: str) -> int:
    """Rows of a net input per video frame: 4 sub-frames of 10 ms, or 1 for encoder kinds."""
    return 1 if encoder_name(kind) else MELS_PER_FRAME


def envelope(mel: np.ndarray) -> np.ndarray:
    """(T, 4, 80) log-mel -> (T, 4, 1) loudness-normalised envelope in [0, 1]."""
    energy = mel_energy(mel)
    ref = np.percentile(energy, 95)
    return np.clip(1.0 + (energy - ref) / ENVELOPE_RANGE, 0.0, 1.0)[..., None].astype(np.float32)


def normalise_by_speech(values: np.ndarray, mel: np.ndarray, scale: bool = True) -> np.ndarray:
    """(T, 4, D) per-sub-frame values minus their mean over the utterance's speech sub-frames (all of them
    when there are too few), and with `scale` divided by their std there."""
    energy = mel_energy(mel)
    speech = energy > np.percentile(energy, 95) - SPEECH_MARGIN
    ref = values[speech] if speech.sum() > 10 else values.reshape(-1, values.shape[-1])
    centred = values - ref.mean(axis=0)
    return (centred / (ref.std(axis=0) + 1e-3) if scale else centred / MEL_SCALE).astype(np.float32)


def cepstra(mel: np.ndarray) -> np.ndarray:
    """(T, 4, 80) log-mel -> (T, 4, N_CEPSTRA) cepstra normalised by the utterance's speech frames."""
    from scipy.fft import dct  # only cepstra nets need it: scipy's import is ~0.3 s of a synth's start

    return normalise_by_speech(dct(np.asarray(mel, np.float64), type=2, norm="ortho", axis=-1)[..., 1:N_CEPSTRA + 1], mel)


def phone_ids(phones: list[Phone], n_frames: int) -> np.ndarray:
    """(n_frames, 4) int: index into PHONE_SET of the phone at each 10 ms sub-frame (SIL where none)."""
    ids = np.full(n_frames * MELS_PER_FRAME, SILENCE_PHONE, np.int64)
    for p in phones:
        a, b = int(round(p.start * PHONE_RATE)), int(round(p.end * PHONE_RATE))
        ids[max(0, a):max(0, min(b, len(ids)))] = PHONE_SET.index(p.phone)
    return ids.reshape(n_frames, MELS_PER_FRAME)


def phone_speech_gate(ids: np.ndarray) -> np.ndarray:
    """(T, 4) phone ids -> (T,) in [0, 1]: 0 where the decoder hears no speech (silence or noise) around a frame,
    1 where at least GATE_OPEN_SHARE of the GATE_FRAMES frames around it hold phones; a gate for nets whose own
    input cannot tell steady noise from speech."""
    return speech_share_gate((~np.isin(ids, NON_SPEECH_PHONES)).mean(axis=1))


def speech_share_gate(speech: np.ndarray) -> np.ndarray:
    """(T,) share of each 25 fps frame that holds speech -> (T,) mouth gate in [0, 1]: fully open where at least
    GATE_OPEN_SHARE of the GATE_FRAMES frames around a frame hold speech, shut where none do. The speech/non-speech
    decision is taken over ~1 s; within speech the net's own motion decides (pauses, closures, onsets)."""
    share = moving_average(speech, GATE_FRAMES)
    return np.clip(np.round(share / GATE_OPEN_SHARE, 6), 0.0, 1.0).astype(np.float32)  # round: filter leaves 1e-17


def one_hot(ids: np.ndarray) -> np.ndarray:
    return np.eye(len(PHONE_SET), dtype=np.float32)[ids]


def net_input(kind: str, mel: np.ndarray, ids: np.ndarray | None = None,
              encoded: np.ndarray | None = None) -> np.ndarray:
    """(T, rows_per_frame(kind), n_inputs(kind)) from a (T, 4, 80) log-mel and, for phone kinds, (T, 4) phone ids,
    for encoder kinds (T, dim) encoder features at the video frames (audio2lmk.speech_encoder)."""
    if encoder_name(kind):
        n_inputs(kind)  # rejects an unknown kind
        sub = net_input("normmel", mel) if kind.startswith("normmel+") else envelope(mel)
        x = np.concatenate([sub.reshape(len(mel), -1), np.asarray(encoded, np.float32)], axis=1)
        return x[:, None]
    if kind == "mel":
        return np.asarray(mel, np.float32)
    parts = []
    if kind.startswith("phones"):
        parts.append(one_hot(ids))
    if kind.endswith("cepstra"):
        parts.append(cepstra(mel))
    if kind.endswith("normmel"):
        parts.append(normalise_by_speech(np.asarray(mel, np.float64), mel))
    if kind == "cmnmel":
        parts.append(normalise_by_speech(np.asarray(mel, np.float64), mel, scale=False))
    n_inputs(kind)  # rejects an unknown kind
    return np.concatenate(parts + [envelope(mel)], axis=-1)


def decode_cached(decoder: PhoneDecoder, wave16k: np.ndarray, path: Path) -> list[Phone]:
    """Phones of a clip, decoded once and kept as JSON at `path` (decoding is the slow part)."""
    if path.is_file():
        return [Phone(*p) for p in json.loads(path.read_text())]
    phones = decoder(wave16k, SAMPLE_RATE)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps([list(p) for p in phones]))
    tmp.replace(path)
    return phones
