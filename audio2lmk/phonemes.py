"""Speech -> timed phones (pocketsphinx) and a per-video-frame loudness envelope.

Everything here works offline with the English models shipped inside the pocketsphinx wheel:
the phone decoder (`en-us-phone.lm.bin`, no transcript needed) and forced alignment of a
known transcript through the CMU dictionary (`cmudict-en-us.dict`).
"""

from __future__ import annotations

import os
from typing import NamedTuple, Sequence

import numpy as np

from talkface.audio import FPS, SAMPLE_RATE, to_mono_16k
from talkface.errors import MediaError

PHONE_RATE = 100  # pocketsphinx analysis frames per second (10 ms hop)

# The 41 labels the en-us acoustic model can output (ciphones of its mdef).
PHONE_SET = (
    "+NSN+", "+SPN+", "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER",
    "EY", "F", "G", "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R",
    "S", "SH", "SIL", "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH",
)


class Phone(NamedTuple):
    phone: str  # an entry of PHONE_SET
    start: float  # seconds
    end: float  # seconds


def _pcm16(wave: np.ndarray) -> bytes:
    return (np.clip(wave, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _frame_db(wave: np.ndarray, hop: int, win: int) -> np.ndarray:
    """RMS level in dBFS of windows of `win` samples centred every `hop` samples."""
    n = max(1, int(np.ceil(len(wave) / hop)))
    padded = np.pad(wave.astype(np.float64), (win // 2, win))
    # Cumulative sum of squares gives every window's energy in O(N).
    c = np.concatenate([[0.0], np.cumsum(padded**2)])
    starts = np.arange(n) * hop
    energy = (c[starts + win] - c[starts]) / win
    return 10.0 * np.log10(energy + 1e-10)


def voice_threshold_db(level_db: np.ndarray) -> tuple[float, float]:
    """(threshold, reference) in dB: frames above the threshold are treated as speech.

    The reference is the level of loud speech: the 95th percentile, or a little under the
    loudest frames when speech fills less than 5% of the recording. The threshold sits well
    above the noise floor but never more than 30 dB under the reference, so quiet recordings
    and noisy ones both gate sensibly.
    """
    ref = max(float(np.percentile(level_db, 95)), float(np.percentile(level_db, 99.5)) - 6.0)
    floor = float(np.percentile(level_db, 10))
    threshold = max(floor + 0.35 * (ref - floor), ref - 30.0)
    return threshold, ref


def speech_envelope(wave: np.ndarray, sample_rate: int, n_frames: int, fps: float = FPS,
                    offset_s: float = 0.0) -> np.ndarray:
    """Loudness-normalised speech envelope, one value per video frame, in [0, 1].

    Frame k's value is the mean over one frame period centred on k / fps + offset_s.

    0 = silence (below the voice-activity threshold), 1 = loud speech for this recording
    (see voice_threshold_db). Linear in dB between the two, so whispering still moves
    the jaw a little and shouting does not blow it up.
    """
    wave = to_mono_16k(wave, sample_rate)
    hop = SAMPLE_RATE // PHONE_RATE
    level = _frame_db(wave, hop=hop, win=2 * hop)
    if len(wave) == 0 or level.max() < -70.0:  # digital silence
        return np.zeros(n_frames, np.float32)
    threshold, ref = voice_threshold_db(level)
    env10 = np.clip((level - threshold) / max(ref - threshold, 1e-3), 0.0, 1.0)
    times = np.arange(n_frames) / fps + offset_s
    c = np.concatenate([[0.0], np.cumsum(env10)])
    lo = np.clip(np.floor(times * PHONE_RATE - PHONE_RATE / (2 * fps)).astype(int), 0, len(env10))
    hi = np.clip(np.ceil(times * PHONE_RATE + PHONE_RATE / (2 * fps)).astype(int), 0, len(env10))
    out = np.where(hi > lo, (c[hi] - c[lo]) / np.maximum(hi - lo, 1), 0.0)
    return out.astype(np.float32)


def speech_onsets(envelope: np.ndarray, fps: float, level: float = 0.2, min_pause_s: float = 0.6) -> list[int]:
    """Frames where speech starts after a pause: the envelope rises above `level` having stayed
    below it for at least `min_pause_s` (the start of the audio counts as a pause only when
    that much of it is quiet). `level` is above breath noise, so onsets mark the voice itself."""
    loud = np.asarray(envelope) > level
    pause = int(round(min_pause_s * fps))
    return [k for k in np.flatnonzero(loud) if k >= pause and not loud[k - pause:k].any()]


def _cut_points(wave: np.ndarray, max_chunk_s: float) -> list[int]:
    """Sample indices splitting long audio into chunks of at most `max_chunk_s`, placed at the
    quietest 200 ms in the second half of each window, so cuts fall in pauses where possible."""
    hop = SAMPLE_RATE // PHONE_RATE
    level = _frame_db(wave, hop=hop, win=20 * hop)
    max_frames = int(max_chunk_s * PHONE_RATE)
    cuts, start, n = [0], 0, len(level)
    while n - start > max_frames:
        lo, hi = start + max_frames // 2, start + max_frames
        start = lo + int(np.argmin(level[lo:hi]))
        cuts.append(start * hop)
    cuts.append(len(wave))
    return cuts


class PhoneDecoder:
    """Transcript-free phone recogniser: `decoder(wave, sample_rate) -> [Phone, ...]`.

    Long audio is decoded in chunks cut at pauses; each chunk is decoded with `context_s` of
    extra audio on both sides (so phones at a cut are recognised in context) and only the
    phones centred inside the chunk are kept. Every recording gets a fresh pocketsphinx decoder:
    one decoder carries its cepstral-mean estimate over from utterance to utterance, which made the
    phones of a recording depend on what was decoded before it.
    """

    def __init__(self, lw: float = 1.0, beam: float = 1e-20, pbeam: float = 1e-20,
                 max_chunk_s: float = 20.0, context_s: float = 1.0):
        from pocketsphinx import get_model_path

        self._config = dict(allphone=os.path.join(get_model_path(), "en-us", "en-us-phone.lm.bin"),
                            lw=lw, beam=beam, pbeam=pbeam, loglevel="FATAL")
        self.max_chunk_s = max_chunk_s
        self.context_s = context_s

    @staticmethod
    def _decode(d, wave: np.ndarray) -> list[Phone]:
        d.start_utt()
        d.process_raw(_pcm16(wave), full_utt=True)
        d.end_utt()
        return [Phone(s.word, s.start_frame / PHONE_RATE, (s.end_frame + 1) / PHONE_RATE)
                for s in d.seg() if s.word in PHONE_SET]

    def __call__(self, wave: np.ndarray, sample_rate: int) -> list[Phone]:
        wave = to_mono_16k(wave, sample_rate)
        if len(wave) < SAMPLE_RATE // 10 or np.abs(wave).max() < 1e-4:
            return []  # too short or digitally silent: nothing to recognise
        from pocketsphinx import Decoder

        decoder = Decoder(**self._config)  # fresh state (~0.1 s): see the class docstring
        cuts = _cut_points(wave, self.max_chunk_s)
        ctx = int(self.context_s * SAMPLE_RATE)
        phones: list[Phone] = []
        for a, b in zip(cuts[:-1], cuts[1:]):
            lo, hi = max(0, a - ctx), min(len(wave), b + ctx)
            offset, t0, t1 = lo / SAMPLE_RATE, a / SAMPLE_RATE, b / SAMPLE_RATE
            for p in self._decode(decoder, wave[lo:hi]):
                start, end = p.start + offset, p.end + offset
                if t0 <= 0.5 * (start + end) < t1:
                    phones.append(Phone(p.phone, max(start, t0), min(end, t1)))
        return phones


def align_phones(wave: np.ndarray, sample_rate: int, words: Sequence[str]) -> list[Phone]:
    """Forced alignment of a known word sequence -> phones (CMU dictionary pronunciations).

    Raises MediaError when a word is not in the dictionary or the audio cannot be aligned.
    """
    from pocketsphinx import Decoder

    wave = to_mono_16k(wave, sample_rate)
    text = " ".join(w.lower() for w in words)
    # bestpath=False: the lattice rescoring can leave 1-frame phones that the second pass rejects.
    d = Decoder(loglevel="FATAL", bestpath=False)
    pcm = _pcm16(wave)
    try:
        d.set_align_text(text)
        # Two passes, as pocketsphinx requires: word alignment, then sub-word alignment.
        for second_pass in (False, True):
            if second_pass:
                d.set_alignment()
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
        alignment = d.get_alignment()
    except RuntimeError as e:
        raise MediaError(f"audio: cannot align transcript {text!r}: {e}") from None
    if alignment is None:
        raise MediaError(f"audio: cannot align transcript {text!r}")
    return [Phone(p.name, p.start / PHONE_RATE, (p.start + p.duration) / PHONE_RATE)
            for w in alignment for p in w]
