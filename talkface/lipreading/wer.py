"""Reading videos with the trained lipreader and scoring them: WER/CER by jiwer against GRID transcripts.

`talkface eval wer --videos DIR_OR_LIST [--transcripts FILE] --out REPORT.json` calls `run_eval_wer`.
Real and generated videos go through the same path (track -> face crop -> mouth crop -> reader).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jiwer
import numpy as np
import torch
from tqdm import tqdm

from talkface.checkpoint import load_model
from talkface.errors import CheckpointError, TalkfaceError
from talkface.grid import transcript_from_id
from talkface.lipreading.decode import ctc_greedy_decode, grammar_decode
from talkface.lipreading.model import LipreaderNet
from talkface.lipreading.mouth import mouth_crops_from_video
from talkface.media import VIDEO_SUFFIXES, read_video
from talkface.report import write_atomic

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "data" / "lipreader.safetensors"


class LipReader:
    """A trained lipreader: frames or mouth crops in, a GRID sentence out."""

    def __init__(self, model: LipreaderNet, device: str = "cpu", checkpoint: str | None = None):
        self.model = model.to(device).eval()
        self.device = device
        self.checkpoint = checkpoint

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, device: str = "cpu") -> "LipReader":
        """From a checkpoint (default: the shipped one in talkface/lipreading/data/)."""
        path = Path(path) if path is not None else DEFAULT_CHECKPOINT
        if path == DEFAULT_CHECKPOINT and not path.is_file():
            raise CheckpointError(f"{path}: no shipped lipreader; train one with `talkface train lipreader`")
        model, _ = load_model(path, LipreaderNet, device)
        return cls(model, device, str(path))

    @property
    def mouth_size(self) -> tuple[int, int]:
        return self.model.config.mouth_height, self.model.config.mouth_width

    def mouths(self, frames: np.ndarray, name: str = "video") -> np.ndarray:
        """(T, H, W) mouth crops of video frames (T, H, W, 3) uint8 RGB."""
        return mouth_crops_from_video(frames, self.mouth_size, name=name)

    @torch.no_grad()
    def log_probs(self, mouths: np.ndarray) -> np.ndarray:
        """(T, len(CLASSES)) per-frame log-posteriors of (T, H, W) mouth crops."""
        x = torch.from_numpy(np.asarray(mouths, dtype=np.float32))[None].to(self.device)
        return self.model(x)[0].cpu().numpy()

    def read(self, frames_or_mouths: np.ndarray, grammar: bool = True, name: str = "video") -> str:
        """The sentence spoken in video frames (T, H, W, 3) uint8 or mouth crops (T, h, w) float32.

        grammar=True: the best 6-word GRID sentence; False: unconstrained CTC greedy reading.
        """
        x = np.asarray(frames_or_mouths)
        if x.ndim == 4 and x.shape[-1] == 3:
            x = self.mouths(x, name)
        elif x.ndim != 3 or x.shape[1:] != self.mouth_size:
            raise TalkfaceError(f"{name}: expected video frames (T,H,W,3) or {self.mouth_size} mouth crops, got {x.shape}")
        lp = self.log_probs(x)
        return " ".join(grammar_decode(lp) if grammar else ctc_greedy_decode(lp))


def _normalise(sentence: str) -> str:
    return " ".join(sentence.lower().split())


def read_transcripts(path: str | os.PathLike) -> dict[str, str]:
    """`<id or path> <sentence>` per line -> {id or path: sentence}."""
    path = Path(path)
    if not path.is_file():
        raise TalkfaceError(f"{path}: transcript file not found")
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise TalkfaceError(f"{path}:{n}: expected '<id or path> <sentence>', got {line!r}")
        out[parts[0]] = _normalise(parts[1])
    return out


def reference_for(video: Path, transcripts: dict[str, str] | None) -> str:
    """The video's transcript: by its path, then its file stem, in `transcripts`; else the GRID id (stem)."""
    if transcripts:
        by_stem = {Path(k).stem: v for k, v in transcripts.items()}
        for key in (str(video), video.name, video.stem):
            if key in transcripts:
                return transcripts[key]
        if video.stem in by_stem:
            return by_stem[video.stem]
    try:
        return transcript_from_id(video.stem)
    except TalkfaceError:
        raise TalkfaceError(f"{video}: no transcript given and the file name is not a GRID clip id") from None


def evaluate_wer(videos: list[str | os.PathLike], transcripts: dict[str, str] | None = None,
                 reader: LipReader | None = None, checkpoint: str | os.PathLike | None = None,
                 progress: bool = True) -> dict:
    """Read every video; WER and CER (fractions, jiwer, over all words/characters) plus a per-video table.

    A video the reader cannot process (no face, unreadable) counts as an empty reading and is listed with
    its error, so a generator that loses the face is penalised rather than skipped.
    """
    if not videos:
        raise TalkfaceError("evaluate_wer: no videos given")
    reader = reader or LipReader.load(checkpoint)
    paths = [Path(v) for v in videos]
    refs = [reference_for(p, transcripts) for p in paths]  # fail fast on a missing transcript
    rows = []
    for path, ref in tqdm(list(zip(paths, refs)), desc="lipreading", disable=not progress):
        row = {"id": path.stem, "video": str(path), "reference": ref}
        try:
            hyp = reader.read(read_video(path, with_audio=False).frames, name=str(path))
        except TalkfaceError as err:
            hyp, row["error"] = "", str(err)
        row.update(hypothesis=hyp, wer=jiwer.wer(ref, hyp))
        rows.append(row)
    hyps = [r["hypothesis"] for r in rows]
    return {"wer": jiwer.wer(refs, hyps), "cer": jiwer.cer(refs, hyps), "n_videos": len(rows),
            "n_failed": sum("error" in r for r in rows), "decoder": "GRID grammar Viterbi",
            "checkpoint": reader.checkpoint, "videos": rows}


def write_wer_report(videos: list[str | os.PathLike], out_json: str | os.PathLike,
                     transcripts: dict[str, str] | None = None, checkpoint: str | os.PathLike | None = None,
                     reader: LipReader | None = None) -> dict:
    """`evaluate_wer`, written as JSON (top-level `wer`, `cer`, `videos`) atomically."""
    report = evaluate_wer(videos, transcripts, reader=reader, checkpoint=checkpoint)
    write_atomic(out_json, json.dumps(report, indent=1))
    return report


def list_videos(videos_arg: str | os.PathLike) -> list[Path]:
    """A folder (every video in it), one video file, or a text file listing video paths (relative to it)."""
    arg = Path(videos_arg)
    if arg.is_dir():
        found = sorted(p for p in arg.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        if not found:
            raise TalkfaceError(f"{arg}: no video files in this folder")
        return found
    if not arg.is_file():
        raise TalkfaceError(f"{arg}: no such folder or file")
    if arg.suffix.lower() in VIDEO_SUFFIXES:
        return [arg]
    listed = [line.strip() for line in arg.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if not listed:
        raise TalkfaceError(f"{arg}: the video list is empty")
    paths = [Path(p) if Path(p).is_absolute() else arg.parent / p for p in listed]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise TalkfaceError(f"{arg}: listed video not found: {missing[0]}" + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""))
    return paths


def run_eval_wer(videos_arg: str | os.PathLike, transcripts: str | os.PathLike | None, out: str | os.PathLike,
                 checkpoint: str | os.PathLike | None = None) -> dict:
    """CLI entry: `talkface eval wer --videos DIR_OR_LIST [--transcripts FILE] --out REPORT.json [--checkpoint P]`."""
    report = write_wer_report(list_videos(videos_arg), out, read_transcripts(transcripts) if transcripts else None,
                              checkpoint=checkpoint)
    print(f"WER {report['wer']:.3f}  CER {report['cer']:.3f}  on {report['n_videos']} videos "
          f"({report['n_failed']} unreadable) -> {out}")
    return report
