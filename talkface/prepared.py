"""Reading a prepared GRID folder (the output of `talkface prepare grid`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from talkface import grid
from talkface.audio import SAMPLE_RATE
from talkface.audio_features import dequantise_mel
from talkface.errors import TalkfaceError
from talkface.media import read_audio, read_video



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


def holdout_split(prepared: PreparedSet, grid_root: str | os.PathLike, speaker: str, n_val: int,
                  seed: int) -> tuple[list[str], list[str], dict]:
    """(train ids, validation ids, provenance): the speaker's train split, usable clips only, with
    `n_val` of them held out at random (seeded). Refuses a train split that shares ids with the test split."""
    train_file = grid.split_path(grid_root, speaker, "train")
    test_file = grid.split_path(grid_root, speaker, "test")
    split = grid.read_split(train_file)
    if test_file.is_file():
        leaked = set(split) & set(grid.read_split(test_file))
        if leaked:
            raise TalkfaceError(f"{train_file}: {len(leaked)} ids are also in {test_file} (e.g. {sorted(leaked)[0]})")
    usable = prepared.ids(split)
    if len(usable) <= n_val:
        raise TalkfaceError(f"{prepared.root}: only {len(usable)} usable clips of split {train_file}")
    order = np.random.default_rng(seed).permutation(len(usable))
    val = sorted(usable[i] for i in order[:n_val])
    train = [usable[i] for i in order[n_val:]]  # in random order: callers may take a subset
    provenance = {"prepared": str(prepared.root), "speaker": speaker, "split_file": str(train_file),
                  "n_split": len(split), "n_train": len(train), "n_val": len(val), "val_ids": val,
                  "excluded": prepared.excluded(split)}
    return train, val, provenance
