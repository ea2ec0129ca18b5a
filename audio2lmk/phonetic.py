"""The training-free audio2lmk default: phones -> visemes -> mouth motion on the source face.

Speech is decoded into timed phones (pocketsphinx), each phone pulls the mouth towards its
viseme's shape (a table estimated from GRID), the shapes are blended with coarticulation
and scaled by the speech envelope (loud -> wider, silence -> closed); the lips part for the
in-breath before speech that follows a pause; where no one speaks for about half a second around (music, noise), as
a multi-speaker voice-activity detector hears it, the mouth stays closed (audio2lmk.voice_activity; pocketsphinx
decodes phones in music too). The motion is applied in
the normalised face frame to the source photo's own closed mouth, so identity shape is kept.
Blinks and a gentle head motion are added on top (seeded, switchable).
"""

from __future__ import annotations

import os
import threading

import numpy as np
from scipy.ndimage import gaussian_filter1d

from audio2lmk.coarticulation import mouth_displacement
from audio2lmk.idle import apply_blinks, apply_head_motion, blink_curve
from audio2lmk.phonemes import Phone, PhoneDecoder, speech_envelope, speech_onsets
from audio2lmk.visemes import BREATH, MOTION_POINTS, VisemeTable
from audio2lmk.voice_activity import voice_gate_at
from talkface.audio import FPS, SAMPLE_RATE
from talkface.contracts import check_audio2lmk_inputs, check_fps, check_landmarks_68
from talkface.landmarks.indices import INNER_LIP_PAIRS
from talkface.landmarks.normalize import Similarity, to_normalised
from talkface.speech import Speech

_IDX = {p: i for i, p in enumerate(MOTION_POINTS)}  # iBUG index -> row of the motion points
INNER_LIP_ROWS = tuple((_IDX[a], _IDX[b]) for a, b in INNER_LIP_PAIRS)
MOUTH_CORNERS = (_IDX[48], _IDX[54])

LEAD_S = 0.0  # the mouth shape for frame k is taken from the phones at k / fps + LEAD_S
GAIN_REF = 0.7  # envelope value of a typical stressed vowel: gain 1 there
GAIN_POWER = 0.5  # < 1: quiet speech still moves the mouth visibly
GAIN_MAX = 1.4
FACE_SCALE_RANGE = (0.75, 1.33)  # clamp on source mouth width / training mouth width
# In-breath before speech after a pause, seconds before the onset: lips start parting,
# are fully parted, start handing over to the speech, are handed over (measured on GRID s1).
BREATH_TIMING_S = (0.44, 0.30, 0.08, 0.0)


def breath_weights(envelope: np.ndarray, fps: float) -> np.ndarray:
    """(T,) in [0, 1]: how far the lips are parted for the in-breath before each speech onset."""
    rise0, rise1, fall0, fall1 = BREATH_TIMING_S
    times = np.arange(len(envelope)) / fps
    weights = np.zeros(len(envelope))
    for onset in speech_onsets(envelope, fps):
        rel = onset / fps - times  # seconds before the onset
        w = np.where((rel > fall1) & (rel < rise0), 1.0, 0.0)
        rising = (rel >= rise1) & (rel < rise0)
        w[rising] = 0.5 + 0.5 * np.cos(np.pi * (rel[rising] - rise1) / (rise0 - rise1))
        falling = (rel > fall1) & (rel < fall0)
        w[falling] = 0.5 - 0.5 * np.cos(np.pi * (rel[falling] - fall1) / (fall0 - fall1))
        weights = np.maximum(weights, w)
    return weights


def _inner_gap(points: np.ndarray) -> np.ndarray:
    """(..., 27, 2) -> (...): mean vertical inner-lip gap (y down, positive = open)."""
    return np.mean([points[..., lo, 1] - points[..., up, 1] for up, lo in INNER_LIP_ROWS], axis=0)


def _linear_part(sim: Similarity) -> np.ndarray:
    """2x2 matrix taking normalised-frame displacements to image-frame displacements."""
    return np.asarray(sim.inverse().matrix, np.float64)[:, :2]


class PhoneticAudio2Lmk:
    """`model(speech, source_landmarks) -> (T, 68, 2)` landmark track, T = round(duration*fps).

    table: a VisemeTable, a path to one, or None for the table shipped with the package.
    """

    def __init__(self, table: VisemeTable | str | os.PathLike | None = None):
        self.table = table if isinstance(table, VisemeTable) else VisemeTable.load(table)
        self._open = self.table.displacement[self.table.index("open")].astype(np.float64)
        self._breath = self.table.displacement[self.table.index(BREATH)].astype(np.float64)
        self._decoder: PhoneDecoder | None = None  # built on first use (0.1 s)
        self._decoder_lock = threading.Lock()  # one pocketsphinx decoder serves one utterance at a time

    # Its head motion is a seeded random sway, not predicted from the speech.
    predicts_head_pose = False

    def phones(self, wave16k: np.ndarray) -> list[Phone]:
        with self._decoder_lock:
            if self._decoder is None:
                self._decoder = PhoneDecoder()
            return self._decoder(wave16k, SAMPLE_RATE)

    def __call__(self, speech: Speech, source_landmarks: np.ndarray, fps: float = FPS, blink: bool = True,
                 head_motion: bool = True, seed: int = 0, voice_gate: bool = True) -> np.ndarray:
        """speech: the recording analysed once (talkface.speech; its phones decoded here when it has none);
        voice_gate False: the mouth follows every sound the decoder hears (singing), not only where a voice is
        heard."""
        check_audio2lmk_inputs(speech, source_landmarks, fps)
        n_frames = speech.frames(fps)
        gate = voice_gate_at(speech.wave, n_frames, fps, speech.heard) if voice_gate else None
        phones = self.phones(speech.wave) if speech.phones is None else speech.phones
        return self.synthesise(phones, speech.wave, source_landmarks, n_frames, fps, blink=blink,
                               head_motion=head_motion, seed=seed, mouth_gate=gate)

    def synthesise(self, phones: list[Phone], wave16k: np.ndarray, source_landmarks: np.ndarray,
                   n_frames: int, fps: float = FPS, blink: bool = True, head_motion: bool = True,
                   seed: int = 0, mouth_gate: np.ndarray | None = None) -> np.ndarray:
        """The track for given phones (e.g. from forced alignment) and 16 kHz speech; mouth_gate: (n_frames,) in
        [0, 1] scaling the mouth's motion (None: 1)."""
        check_landmarks_68(source_landmarks, "source landmarks")
        check_fps(fps)
        source = np.asarray(source_landmarks, np.float64)

        norm_source, sim = to_normalised(source.astype(np.float32))
        norm_motion = np.asarray(norm_source, np.float64)[list(MOTION_POINTS)]
        rest = self._closed(norm_motion)

        times = np.arange(n_frames) / fps + LEAD_S
        envelope = speech_envelope(wave16k, SAMPLE_RATE, n_frames, fps, offset_s=LEAD_S)
        displacement = mouth_displacement(phones, times, self.table)
        displacement *= self._gain(envelope)[:, None, None]
        displacement += breath_weights(envelope, fps)[:, None, None] * self._breath
        displacement *= self._face_scale(rest)
        if mouth_gate is not None:
            displacement *= np.asarray(mouth_gate, np.float64)[:, None, None]
        moved = rest + displacement
        self._uncross_lips(moved)

        track = np.repeat(source[None], n_frames, axis=0)
        track[:, list(MOTION_POINTS)] += (moved - norm_motion) @ _linear_part(sim).T
        if blink:
            apply_blinks(track, blink_curve(n_frames, fps, np.random.default_rng([seed, 0])))
        if head_motion and n_frames:
            track = apply_head_motion(track, fps, np.random.default_rng([seed, 1]))
        return track.astype(np.float32)

    def _closed(self, points: np.ndarray) -> np.ndarray:
        """The source mouth, closed if the photo shows it open: subtract as much of the 'open'
        viseme (jaw and lower lip up, lips together) as brings the inner-lip gap to rest."""
        excess = _inner_gap(points) - _inner_gap(self.table.rest)
        open_gap = _inner_gap(self._open)
        if excess <= 0 or open_gap <= 0:
            return points.copy()
        return points - (excess / open_gap) * self._open

    @staticmethod
    def _gain(envelope: np.ndarray) -> np.ndarray:
        """Per-frame scale of the viseme displacement: 0 in silence, ~1 on a typical vowel."""
        gain = np.minimum((envelope / GAIN_REF) ** GAIN_POWER, GAIN_MAX)
        return gaussian_filter1d(gain, 0.7, mode="nearest") if len(gain) > 1 else gain

    def _face_scale(self, rest: np.ndarray) -> float:
        """Source mouth width relative to the training speaker's: bigger mouths move more."""
        width = np.linalg.norm(rest[MOUTH_CORNERS[1]] - rest[MOUTH_CORNERS[0]])
        ref = np.linalg.norm(self.table.rest[MOUTH_CORNERS[1]] - self.table.rest[MOUTH_CORNERS[0]])
        return float(np.clip(width / ref, *FACE_SCALE_RANGE))

    @staticmethod
    def _uncross_lips(points: np.ndarray) -> None:
        """Lips may press together but never pass through each other (in place, (T, 27, 2))."""
        for up, lo in INNER_LIP_ROWS:
            crossed = points[:, lo, 1] < points[:, up, 1]
            mid = 0.5 * (points[:, lo, 1] + points[:, up, 1])
            points[crossed, up, 1] = mid[crossed]
            points[crossed, lo, 1] = mid[crossed]
