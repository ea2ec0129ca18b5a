"""Streamed video reading for long inputs: frames come one at a time from an ffmpeg pipe, never all at once.

`probe_video` checks that a file is a real moving video (not an image, not audio-only, not a cover picture)
and reports its upright size (rotation metadata applied, as ffmpeg's decoder applies it) and frame rate.
`iter_frames` yields constant-rate RGB frames: a variable-frame-rate phone video is resampled to its average
rate, so frame n always sits at n / fps seconds and stays in sync with audio laid on that timeline.
`FrameSpill` keeps a run of frames in a temporary file (not in memory) for replaying them later.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from imageio_ffmpeg import get_ffmpeg_exe

from talkface.errors import MediaError
from talkface.media import require_file

# Demuxers that read still images: a photo given as a video is reported, not dubbed as a 1-frame clip.
_IMAGE_INPUTS = re.compile(r"Input #0, (image2|\w+_pipe|gif|webp)", re.IGNORECASE)


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int              # upright, after rotation metadata
    height: int
    fps: float
    duration: float | None  # seconds, when the container says
    rotation: int           # degrees of display rotation in the file (0 if none)

    @property
    def expected_frames(self) -> int | None:
        return int(round(self.duration * self.fps)) if self.duration else None


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Facts about the first video stream, or a MediaError naming what the file is instead."""
    path = require_file(path)
    proc = subprocess.run([get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True)
    info = proc.stderr.decode(errors="replace")
    if "Input #0" not in info:
        raise MediaError(f"{path}: not a readable video file")
    if _IMAGE_INPUTS.search(info):
        raise MediaError(f"{path}: is a still image, not a video (use `talkface synth --image` for a photo)")
    streams = [line for line in info.splitlines() if re.search(r"Stream #0:\d+.*: Video:", line)]
    moving = [line for line in streams if "attached pic" not in line]
    if not moving:
        what = "audio only" if re.search(r"Stream #0:\d+.*: Audio:", info) else "no video stream"
        raise MediaError(f"{path}: no video stream ({what}); --video needs a video of a face")
    line = moving[0]
    size = re.search(r", (\d{2,5})x(\d{2,5})", line)
    fps = re.search(r"(\d+(?:\.\d+)?) fps", line) or re.search(r"(\d+(?:\.\d+)?) tbr", line)
    if not size or not fps or float(fps.group(1)) <= 0:
        raise MediaError(f"{path}: cannot tell the video's size or frame rate")
    width, height = int(size.group(1)), int(size.group(2))
    rotation = re.search(r"rotation of (-?\d+(?:\.\d+)?) degrees", info)
    degrees = int(round(float(rotation.group(1)))) % 360 if rotation else 0
    if degrees in (90, 270):  # ffmpeg decodes rotated videos upright, so the frames come transposed
        width, height = height, width
    duration = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", info)
    seconds = int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3)) if duration else None
    return VideoInfo(path, width, height, float(fps.group(1)), seconds or None, degrees)


def iter_frames(info: VideoInfo, stop: int | None = None) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 RGB frames at a constant info.fps, read through a pipe (one frame in memory).

    Stops after `stop` frames when given. The ffmpeg process is ended when the generator is closed,
    also on errors and Ctrl-C, so no decoder is left running.
    """
    w, h = info.width, info.height
    cmd = [get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(info.path),
           "-map", "0:v:0", "-an", "-sn", "-vf", f"fps={info.fps}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=w * h * 3)
    n_bytes = w * h * 3
    count = 0
    try:
        while stop is None or count < stop:
            data = proc.stdout.read(n_bytes)
            if len(data) < n_bytes:
                break
            count += 1
            yield np.frombuffer(data, np.uint8).reshape(h, w, 3)
        if count == 0 and stop != 0:
            err = proc.stderr.read().decode(errors="replace").strip().splitlines()
            raise MediaError(f"{info.path}: no decodable video frames" + (f" ({err[-1]})" if err else ""))
    finally:
        proc.kill()
        proc.stdout.close()
        proc.stderr.close()
        proc.wait()


class FrameSpill:
    """Frames of one size kept in an unlinked-on-close temporary file, read back by index."""

    def __init__(self, height: int, width: int):
        self.shape = (height, width, 3)
        self.n_bytes = height * width * 3
        self.file = tempfile.TemporaryFile(prefix="talkface-frames-")
        self.count = 0

    def append(self, frame: np.ndarray) -> None:
        self.file.seek(self.count * self.n_bytes)
        self.file.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        self.count += 1

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self.count:
            raise IndexError(i)
        self.file.seek(i * self.n_bytes)
        return np.frombuffer(self.file.read(self.n_bytes), np.uint8).reshape(self.shape)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "FrameSpill":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
