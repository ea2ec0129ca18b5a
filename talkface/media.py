"""Media I/O: video frames + audio in, H.264 mp4 (+ audio) out, through the ffmpeg in imageio-ffmpeg.

ffmpeg is driven directly (raw pipes) rather than through a wrapper so that frame counts stay exact
(`-fps_mode passthrough`: no duplicated or dropped frames) and audio comes out resampled and mono.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
from imageio_ffmpeg import get_ffmpeg_exe

from talkface.errors import MediaError

VIDEO_SUFFIXES = {".mpg", ".mpeg", ".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


@dataclass
class Video:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    fps: float
    audio: np.ndarray | None  # float32 mono in [-1, 1], or None when the file has no audio track
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps


def _require_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    if not path.is_file():
        raise MediaError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty")
    return path


def _run_ffmpeg(args: list[str], path: Path, what: str) -> bytes:
    proc = subprocess.run([get_ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True)
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        reason = detail[-1] if detail else f"ffmpeg exit code {proc.returncode}"
        raise MediaError(f"{path}: cannot read {what} ({reason})")
    return proc.stdout


def probe(path: str | os.PathLike) -> dict:
    """Stream facts ffmpeg reports: width, height, fps, has_audio."""
    path = _require_file(path)
    proc = subprocess.run([get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True)
    info = proc.stderr.decode(errors="replace")
    video = re.search(r"Stream #.*Video:.*?(\d{2,5})x(\d{2,5})", info)
    fps = re.search(r"(\d+(?:\.\d+)?) fps", info) or re.search(r"(\d+(?:\.\d+)?) tbr", info)
    return {
        "width": int(video.group(1)) if video else None,
        "height": int(video.group(2)) if video else None,
        "fps": float(fps.group(1)) if fps else None,
        "has_audio": bool(re.search(r"Stream #.*Audio:", info)),
    }


def _limit(max_seconds: float | None) -> list[str]:
    return [] if max_seconds is None else ["-t", f"{max_seconds:g}"]


def read_audio(path: str | os.PathLike, sample_rate: int = 16000, max_seconds: float | None = None) -> np.ndarray:
    """Any audio (or the audio track of a video) as float32 mono at `sample_rate` (the first
    `max_seconds` only, if given)."""
    path = _require_file(path)
    raw = _run_ffmpeg([*_limit(max_seconds), "-i", str(path), "-vn", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-"], path, "audio")
    wave = np.frombuffer(raw, dtype=np.float32).copy()
    if wave.size == 0:
        raise MediaError(f"{path}: no audio samples (empty or not an audio file)")
    return wave


def read_video(path: str | os.PathLike, sample_rate: int = 16000, with_audio: bool = True,
               max_seconds: float | None = None) -> Video:
    """All frames (RGB) of a video plus its audio track resampled to mono `sample_rate` (the first
    `max_seconds` only, if given)."""
    path = _require_file(path)
    info = probe(path)
    if not info["width"]:
        raise MediaError(f"{path}: no video stream (not a video file?)")
    w, h = info["width"], info["height"]
    raw = _run_ffmpeg(
        [*_limit(max_seconds), "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        path, "video frames")
    n = len(raw) // (w * h * 3)
    if n == 0:
        raise MediaError(f"{path}: video has no decodable frames")
    frames = np.frombuffer(raw, dtype=np.uint8)[: n * w * h * 3].reshape(n, h, w, 3)
    audio = read_audio(path, sample_rate, max_seconds) if with_audio and info["has_audio"] else None
    return Video(frames=frames, fps=info["fps"] or 25.0, audio=audio, sample_rate=sample_rate)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB (alpha dropped, grey expanded)."""
    path = _require_file(path)
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise MediaError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early (before any work) when an output cannot be written where asked."""
    path = Path(path)
    if not path.parent.exists():
        raise MediaError(f"{path}: output directory {path.parent} does not exist")
    if path.is_dir():
        raise MediaError(f"{path}: is a directory, expected a file name")
    return path


def atomic_target(path: Path) -> Path:
    """A temp path beside `path` (same filesystem, so os.replace is atomic), keeping its suffix."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; the final file should be readable like any other output
    return Path(tmp)


def write_audio(path: str | os.PathLike, wave: np.ndarray, sample_rate: int, bitrate: str | None = None) -> Path:
    """Mono audio in the format the suffix names (.wav, .flac, .opus, .m4a, ...), atomically."""
    path = check_output_path(path)
    tmp = atomic_target(path)
    try:
        codec = {".opus": ["-c:a", "libopus"], ".m4a": ["-c:a", "aac"]}.get(path.suffix, [])
        cmd = ["-loglevel", "error", "-y", "-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "-", *codec]
        if bitrate:
            cmd += ["-b:a", bitrate]
        proc = subprocess.run([get_ffmpeg_exe(), "-hide_banner", "-nostdin", *cmd, str(tmp)],
                              input=np.asarray(wave, dtype=np.float32).tobytes(), capture_output=True)
        if proc.returncode != 0:
            raise MediaError(f"{path}: audio encoding failed ({proc.stderr.decode(errors='replace').strip()})")
        os.replace(tmp, path)
        return path
    finally:
        if tmp.exists():
            tmp.unlink()


def write_video(path: str | os.PathLike, frames, fps: float, audio: np.ndarray | None = None,
                sample_rate: int = 16000, crf: int = 18, pix_fmt: str = "yuv420p") -> Path:
    """Encode RGB frames (iterable of (H,W,3) uint8) as H.264 mp4 with optional mono audio, atomically."""
    path = check_output_path(path)
    tmp = atomic_target(path)
    wav_tmp = None
    try:
        frames = iter(frames)
        first = next(frames, None)
        if first is None:
            raise MediaError(f"{path}: no frames to write")
        h, w = first.shape[:2]
        cmd = [get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps}", "-i", "-"]
        if audio is not None and len(audio):
            wav_tmp = atomic_target(path.with_suffix(".wav"))
            # A second of silence past the end, cut by -shortest at the last frame: the video keeps every
            # frame even when the audio is a fraction of a frame shorter (e.g. GRID: 2.978 s for 75 frames).
            padded = np.concatenate([np.asarray(audio, dtype=np.float32), np.zeros(sample_rate, np.float32)])
            sf.write(wav_tmp, padded, sample_rate, subtype="PCM_16")
            cmd += ["-i", str(wav_tmp), "-c:a", "aac", "-b:a", "128k", "-shortest"]
        # yuv420p needs even sizes: pad by one pixel rather than rescale.
        cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "veryfast",
                "-crf", str(crf), "-pix_fmt", pix_fmt, "-movflags", "+faststart", "-f", "mp4", str(tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            proc.stdin.write(np.ascontiguousarray(first, dtype=np.uint8).tobytes())
            for frame in frames:
                proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0:
            raise MediaError(f"{path}: video encoding failed ({err.splitlines()[-1] if err else 'ffmpeg error'})")
        os.replace(tmp, path)
        return path
    finally:
        for leftover in (tmp, wav_tmp):
            if leftover is not None and leftover.exists():
                leftover.unlink()
