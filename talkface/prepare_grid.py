"""`talkface prepare grid`: GRID clips -> aligned face crops, landmark tracks, 16 kHz audio, log-mels, words.

Each clip is written into a temporary folder and renamed into place when complete, so an interrupted
run leaves nothing half-written and a rerun resumes with the clips not yet done. Damaged or faceless
clips get a `<id>.skipped.json` record instead, and the manifest lists them with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from talkface import grid
from talkface.audio import FPS, SAMPLE_RATE
from talkface.audio_features import mel_per_video_frame, quantise_mel
from talkface.errors import TalkfaceError
from talkface.face_crop import crop_face, crop_transform
from talkface.landmarks.track import track_video
from talkface.media import read_video, write_audio, write_video

MIN_FRAMES = 50          # GRID clips are 75 frames; far fewer means a truncated file
BLANK_FRAME_STD = 8.0    # a uniform (grey/black) frame has almost no pixel variance
FRAME_JUMP = 12.0        # mean |frame difference| on intact GRID clips stays below ~3 grey levels
CROP_CRF = 18            # ~37 dB at 128^2 in 4:4:4, ~20 kB a clip: the whole s1 set travels in < 64 MiB
AUDIO_BITRATE = "24k"    # Opus speech at 16 kHz: transparent for features, ~9 kB a clip
LANDMARK_STEP = 1 / 16   # landmarks stored as int16 multiples of 1/16 crop pixel (exact to 0.03 px)


@dataclass(frozen=True)
class PrepareOptions:
    size: int = 128
    detect_every: int = 5


def damage_reason(frames: np.ndarray) -> str | None:
    """Why a clip is unusable as training/eval data (corpus-side corruption), or None if it looks intact."""
    if len(frames) < MIN_FRAMES:
        return f"only {len(frames)} frames (truncated video)"
    small = frames[:, ::4, ::4].astype(np.float32)
    stds = small.std(axis=(1, 2, 3))
    if stds.min() < BLANK_FRAME_STD:
        return f"blank frame {int(stds.argmin())} (grey/uniform image)"
    jumps = np.abs(np.diff(small, axis=0)).mean(axis=(1, 2, 3))
    if len(jumps) and jumps.max() > FRAME_JUMP:
        return f"abrupt corruption at frame {int(jumps.argmax()) + 1} (mean change {jumps.max():.0f} grey levels)"
    return None


def clip_dir(out: Path, clip: grid.GridClip) -> Path:
    return out / clip.speaker / clip.clip_id


def skip_record(out: Path, clip: grid.GridClip) -> Path:
    return out / clip.speaker / f"{clip.clip_id}.skipped.json"


def prepare_clip(clip: grid.GridClip, out: Path, options: PrepareOptions) -> dict:
    """Prepare one clip; returns its manifest entry (status ok or skipped, with reason)."""
    entry = {"speaker": clip.speaker, "video": str(clip.video)}
    try:
        video = read_video(clip.video, sample_rate=SAMPLE_RATE)
        if video.audio is None:
            raise TalkfaceError(f"{clip.video}: no audio track")
        reason = damage_reason(video.frames)
        if reason:
            raise TalkfaceError(f"{clip.video}: {reason}")
        landmarks = track_video(video.frames, detect_every=options.detect_every)
        transform = crop_transform(landmarks[0], size=options.size)
        crops = np.stack([crop_face(frame, transform) for frame in video.frames])
        words = grid.read_alignment(clip.alignment) if clip.alignment else []
        n = len(video.frames)
        mel = mel_per_video_frame(video.audio, SAMPLE_RATE, n, video.fps)
    except TalkfaceError as err:
        entry.update(status="skipped", reason=str(err))
        _write_json(skip_record(out, clip), entry)
        return entry

    final = clip_dir(out, clip)
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_video(tmp / "crops.mp4", crops, video.fps, crf=CROP_CRF, pix_fmt="yuv444p")
    # Frame-coordinate landmarks follow from the crop ones and crop_matrix, so only the latter are stored.
    # Stored as frame-to-frame deltas of fixed-point values: small numbers that compress ~3x better.
    fixed = np.round(transform.to_crop(landmarks) / LANDMARK_STEP).astype(np.int16)
    deltas = np.concatenate([fixed[:1], np.diff(fixed, axis=0)])
    np.savez_compressed(tmp / "track.npz", crop_landmarks_delta=deltas, landmark_step=np.float32(LANDMARK_STEP),
                        crop_matrix=transform.matrix, fps=np.float32(video.fps),
                        image_size=np.array(video.frames.shape[1:3]))
    write_audio(tmp / "audio.opus", video.audio, SAMPLE_RATE, bitrate=AUDIO_BITRATE)
    np.savez_compressed(tmp / "mel.npz", mel_u8=quantise_mel(mel))
    transcript = grid.transcript_from_alignment(words) if words else grid.transcript_from_id(clip.clip_id)
    _write_json(tmp / "words.json", {"transcript": transcript,
                                     "words": [{"start": w.start, "end": w.end, "word": w.word} for w in words]})
    entry.update(status="ok", n_frames=n, fps=video.fps, duration=round(len(video.audio) / SAMPLE_RATE, 3),
                 transcript=transcript)
    _write_json(tmp / "meta.json", entry)
    os.replace(tmp, final)
    return entry


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _done_entry(out: Path, clip: grid.GridClip) -> dict | None:
    for record in (clip_dir(out, clip) / "meta.json", skip_record(out, clip)):
        if record.is_file():
            return json.loads(record.read_text())
    return None


def prepare_grid(root: str | os.PathLike, out: str | os.PathLike, speakers: list[str] | None = None,
                 size: int = 128, workers: int = 2, limit: int | None = None, ids: list[str] | None = None,
                 progress: bool = True) -> dict:
    """Prepare every clip found under `root` into `out` (resuming), then write `out/manifest.json`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clips = grid.find_clips(root, speakers)
    if ids is not None:
        wanted = set(ids)
        clips = [c for c in clips if c.clip_id in wanted]
    if limit is not None:
        clips = clips[:limit]
    if not clips:
        raise TalkfaceError(f"{root}: no GRID clips found" + (f" for speakers {','.join(speakers)}" if speakers else ""))
    options = PrepareOptions(size=size)
    entries = {c.clip_id: e for c in clips if (e := _done_entry(out, c)) is not None}
    todo = [c for c in clips if c.clip_id not in entries]
    start = time.perf_counter()
    bar = tqdm(total=len(clips), initial=len(entries), unit="clip", disable=not progress, desc="prepare")
    if workers <= 1:
        for clip in todo:
            entries[clip.clip_id] = prepare_clip(clip, out, options)
            bar.update()
    else:
        with ProcessPoolExecutor(workers) as pool:
            futures = {pool.submit(prepare_clip, c, out, options): c for c in todo}
            for future in as_completed(futures):
                entries[futures[future].clip_id] = future.result()
                bar.update()
    bar.close()
    elapsed = time.perf_counter() - start
    manifest = {
        "size": size, "fps": FPS, "sample_rate": SAMPLE_RATE, "root": str(root),
        "clips": {k: entries[k] for k in sorted(entries)},
        "skipped": {k: e["reason"] for k, e in sorted(entries.items()) if e["status"] != "ok"},
        "last_run": {"clips_processed": len(todo), "seconds": round(elapsed, 1),
                     "clips_per_second": round(len(todo) / elapsed, 2) if todo and elapsed > 0 else None,
                     "workers": workers},
    }
    _write_json(out / "manifest.json", manifest)
    return manifest
