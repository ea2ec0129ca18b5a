"""The two stage contracts: what every audio2lmk and every lmk2video model offers, and the one check of their inputs.

The pipeline (talkface.pipeline, talkface.dub) checks a stage's inputs here once, before calling it; the
models call the same checks when used on their own, so a bad input gets the same one-line error (a
TalkfaceError) whichever model and whichever caller. Both stage packages implement these Protocols and never
import each other: `PhoneticAudio2Lmk`, `LearnedAudio2Lmk` (audio2lmk) and `WarpGenerator`, `LearnedGenerator`
(lmk2video); tests/app/test_contracts.py checks that they conform.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from talkface.audio import FPS
from talkface.speech import Speech
from talkface.errors import MediaError, TalkfaceError

N_LANDMARKS = 68


class StageInputError(TalkfaceError, ValueError):
    """Arrays given to a stage break its contract (shape, dtype, NaN). Also a ValueError, as numpy's are."""


@runtime_checkable
class Audio2Lmk(Protocol):
    """Speech -> landmark track on the photo's face: T = round(duration x fps) frames of (68, 2) pixel
    coordinates, the photo's own shape moved by the speech."""

    # True when head motion comes from the speech (deterministic), not from a seeded random sway.
    predicts_head_pose: bool

    def __call__(self, speech: Speech, source_landmarks: np.ndarray, fps: float = FPS,
                 blink: bool = True, head_motion: bool = True, seed: int = 0, voice_gate: bool = True
                 ) -> np.ndarray: ...
    # speech: the recording analysed once (talkface.speech): 16 kHz mono, and its phones and voice activity when
    # the caller already found them (a stage computes what it needs and is missing). voice_gate: the mouth rests
    # where no one is heard speaking (music, noise); False moves it to every sound (singing, loud music).


class FrameStream:
    """An lmk2video stage's chunk-by-chunk rendering: called with successive target chunks (T_i, 68, 2), returns
    each chunk's frames (T_i, N, N, 3) uint8, carrying the stage's temporal state from one chunk to the next, so a
    track rendered chunk by chunk equals one call over the whole track.

    `step(target_lmks, state) -> (frames, state)` renders one chunk; `state` is None before the first.
    """

    def __init__(self, step: Callable[[np.ndarray, Any], tuple[np.ndarray, Any]]):
        self.step = step
        self.state: Any = None

    def __call__(self, target_lmks: np.ndarray) -> np.ndarray:
        frames, self.state = self.step(target_lmks, self.state)
        return frames


@runtime_checkable
class Lmk2Video(Protocol):
    """Landmark track -> frames of one face crop: source crop (N, N, 3) uint8 and its landmarks (68, 2), targets
    (T, 68, 2), all in crop pixels (pixel i centred at i)."""

    def __call__(self, source_crop: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray) -> np.ndarray:
        """(T, N, N, 3) uint8 frames, produced in order."""

    def stream(self, source_crop: np.ndarray, source_lmk: np.ndarray) -> FrameStream: ...

    def overlay_stream(self, source_crop: np.ndarray, source_lmk: np.ndarray) -> FrameStream:
        """Like stream, for a renderer that moves the full-resolution photo itself: each chunk gives
        (coords (T, N, N, 2) float32, painted (T, N, N, 3) float32): the landmark-mesh motion (for each crop
        pixel, the source-crop coordinates it is read from) and what the stage paints over the source moved
        by it (0 where it only moves the face), so no stage renders the moved face a second time."""


def check_landmarks_68(points: np.ndarray, name: str) -> np.ndarray:
    """float32 (68, 2) finite points, or a one-line StageInputError naming them."""
    points = np.asarray(points, np.float32)
    if points.shape != (N_LANDMARKS, 2) or not np.all(np.isfinite(points)):
        raise StageInputError(f"{name}: expected finite (68, 2) points, got shape {points.shape}")
    return points


def check_fps(fps: float) -> float:
    if not (np.isfinite(fps) and fps > 0):
        raise StageInputError(f"fps must be positive, got {fps}")
    return fps


def check_audio2lmk_inputs(speech: Speech, source_landmarks: np.ndarray, fps: float) -> np.ndarray:
    """The float32 (68, 2) source landmarks when an audio2lmk model can take them: speech long enough for one
    frame (its samples were checked when it was made: talkface.speech.Speech.of); one-line errors otherwise."""
    if not isinstance(speech, Speech):
        raise StageInputError(f"audio2lmk: speech must be a talkface.speech.Speech (Speech.of(wave, rate)), "
                              f"got {type(speech).__name__}")
    source = check_landmarks_68(source_landmarks, "source landmarks")
    check_fps(fps)
    if speech.frames(fps) < 1:
        raise MediaError(f"audio: {speech.duration:.3f} s is too short for one frame at {fps} fps")
    return source


def check_lmk2video_inputs(source_crop: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(contiguous crop, float32 source landmarks, contiguous float32 targets) when an lmk2video model can
    take them; one-line StageInputErrors otherwise."""
    crop = np.ascontiguousarray(source_crop)
    if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] != crop.shape[1]:
        raise StageInputError(f"lmk2video: source crop must be (N, N, 3) uint8, got {crop.shape} {crop.dtype}")
    src = np.asarray(source_lmk, np.float32)
    tgt = np.ascontiguousarray(target_lmks, np.float32)
    if src.shape != (N_LANDMARKS, 2):
        raise StageInputError(f"lmk2video: source landmarks must be (68, 2), got {src.shape}")
    if tgt.ndim != 3 or tgt.shape[1:] != (N_LANDMARKS, 2):
        raise StageInputError(f"lmk2video: target landmarks must be (T, 68, 2), got {tgt.shape}")
    if not (np.isfinite(src).all() and np.isfinite(tgt).all()):
        raise StageInputError("lmk2video: landmarks contain NaN or inf")
    return crop, src, tgt
