"""Reading a prepared GRID folder (the output of `talkface prepare grid`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from talkface.audio_features import dequantise_mel
from talkface.errors import TalkfaceError
from talkface.media import read_audio, read_video

SAMPLE_RATE = 16000


@dataclass
class PreparedClip:
    clip_id: str
    crops: np.ndarray | None     # (T, N, N, 3) uint8, None when not requested
    crop_landmarks: np.ndarray   # (T, 68, 2) float32, crop pixel coordinates
    landmarks: np.ndarray        # (T, 68, 2) float32, original frame coordinates
    crop_matrix: np.ndarray      # (2, 3) frame -> crop
    mel: np.ndarray              # (T, 4, 80) float32 log-mel (stored as uint8, ~0.07 nats steps)
    audio: np.ndarray | None     # float32 16 kHz mono, None when not requested
    words: list[dict]
    transcript: str
    fps: float


class PreparedSet:
    """A prepared folder: its manifest and clip loader."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        manifest = self.root / "manifest.json"
        if not manifest.is_file():
            raise TalkfaceError(f"{self.root}: not a prepared folder (no manifest.json; run `talkface prepare grid`)")
        self.manifest = json.loads(manifest.read_text())

    def ids(self, split_ids: list[str] | None = None) -> list[str]:
        """Usable (status ok) clip ids, optionally restricted to a split, in split order."""
        ok = {k for k, e in self.manifest["clips"].items() if e["status"] == "ok"}
        return [i for i in split_ids if i in ok] if split_ids is not None else sorted(ok)

    def excluded(self, split_ids: list[str]) -> dict[str, str]:
        """Split ids that cannot be used, with the reason."""
        clips = self.manifest["clips"]
        return {i: clips[i].get("reason", "skipped") if i in clips else "not prepared"
                for i in split_ids if clips.get(i, {}).get("status") != "ok"}

    def clip_path(self, clip_id: str) -> Path:
        return self.root / self.manifest["clips"][clip_id]["speaker"] / clip_id

    def load(self, clip_id: str, crops: bool = True, audio: bool = False) -> PreparedClip:
        path = self.clip_path(clip_id)
        track = np.load(path / "track.npz")
        words = json.loads((path / "words.json").read_text())
        fixed = np.cumsum(track["crop_landmarks_delta"].astype(np.int32), axis=0)
        crop_landmarks = fixed.astype(np.float32) * float(track["landmark_step"])
        frame_from_crop = cv2.invertAffineTransform(track["crop_matrix"])
        landmarks = crop_landmarks @ frame_from_crop[:, :2].T.astype(np.float32) + frame_from_crop[:, 2]
        return PreparedClip(
            clip_id=clip_id,
            crops=read_video(path / "crops.mp4", with_audio=False).frames if crops else None,
            crop_landmarks=crop_landmarks, landmarks=landmarks.astype(np.float32),
            crop_matrix=track["crop_matrix"], mel=dequantise_mel(np.load(path / "mel.npz")["mel_u8"]),
            audio=read_audio(path / "audio.opus", SAMPLE_RATE) if audio else None,
            words=words["words"], transcript=words["transcript"], fps=float(track["fps"]))
