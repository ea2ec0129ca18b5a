"""Media I/O: video frames + audio in, H.264 mp4 (+ audio) out, through the ffmpeg in imageio-ffmpeg.

ffmpeg is driven directly (raw pipes) rather than through a wrapper so that frame counts stay exact
(`-fps_mode passthrough`: no duplicated or dropped frames) and audio comes out resampled and mono.
Outputs go through talkface.safe_output (checked first, temp file beside the target, renamed at the end).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import cv2
import numpy as np
import soundfile as sf
from imageio_ffmpeg import get_ffmpeg_exe

from talkface.audio import FPS, SAMPLE_RATE
from talkface.errors import MediaError
from talkface.safe_output import (OUTPUT_VIDEO_SUFFIXES, VIDEO_CONTAINERS, atomic_output, check_output, discard,
                                  temp_beside, write_error)

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


def require_file(path: str | os.PathLike) -> Path:
    """The path of an existing, readable, non-empty regular file, or a one-line MediaError."""
    if str(path).strip() == "":
        raise MediaError("input: empty file name")
    try:
        return _check_input(Path(path))
    except (OSError, RuntimeError) as err:  # a name too long for the filesystem, a loop of symlinks, ...
        raise MediaError(f"{path}: unusable file name ({getattr(err, 'strerror', None) or err})") from None


def _check_input(path: Path) -> Path:
    if not path.exists():
        raise MediaError(f"{path}: file not found" + (" (broken link)" if path.is_symlink() else ""))
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not a file")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file (a device, pipe or socket)")
    if not os.access(path, os.R_OK):
        raise MediaError(f"{path}: not readable (permission denied)")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty")
    return path


def ffmpeg_path(path: str | os.PathLike) -> str:
    """A path as ffmpeg must see it: absolute, with the `file:` protocol, so names beginning with '-' or
    containing ':' (e.g. 'pipe:0', 'a:b.wav') are files, not options or protocols."""
    return "file:" + os.path.abspath(path)


def _ffmpeg_reason(stderr: bytes, code: int) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else f"ffmpeg exit code {code}"


def _run_ffmpeg(args: list[str], path: Path, what: str) -> bytes:
    proc = subprocess.run([get_ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True)
    if proc.returncode != 0:
        raise MediaError(f"{path}: cannot read {what} ({_ffmpeg_reason(proc.stderr, proc.returncode)})")
    return proc.stdout


_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "3.0(back)": 3, "4.0": 4, "quad": 4,
                    "quad(side)": 4, "3.1": 4, "5.0": 5, "5.0(side)": 5, "4.1": 5, "5.1": 6, "5.1(side)": 6,
                    "6.0": 6, "6.0(front)": 6, "hexagonal": 6, "6.1": 7, "6.1(back)": 7, "6.1(front)": 7,
                    "7.0": 7, "7.0(front)": 7, "7.1": 8, "7.1(wide)": 8, "7.1(wide-side)": 8, "octagonal": 8,
                    "downmix": 2}


def probe(path: str | os.PathLike) -> dict:
    """Stream facts ffmpeg reports: width, height, fps, has_audio, audio_rate, audio_channels, duration."""
    path = require_file(path)
    proc = subprocess.run([get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", ffmpeg_path(path)],
                          capture_output=True)
    info = proc.stderr.decode(errors="replace")
    video = re.search(r"Stream #.*Video:.*?, (\d{1,5})x(\d{1,5})", info)
    fps = re.search(r"Stream #.*Video:.*?(\d+(?:\.\d+)?) fps", info) or \
        re.search(r"Stream #.*Video:.*?(\d+(?:\.\d+)?) tbr", info)
    audio = re.search(r"Stream #.*Audio:[^,]*,\s*(\d+) Hz,\s*([^,]+)", info)
    duration = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", info)
    channels = None
    if audio:
        layout = audio.group(2).strip()
        counted = re.match(r"(\d+) channels", layout)
        channels = int(counted.group(1)) if counted else _LAYOUT_CHANNELS.get(layout)
    return {
        "width": int(video.group(1)) if video else None,
        "height": int(video.group(2)) if video else None,
        "fps": float(fps.group(1)) if fps else None,
        "has_audio": audio is not None or bool(re.search(r"Stream #.*Audio:", info)),
        "audio_rate": int(audio.group(1)) if audio else None,
        "audio_channels": channels,  # None: a layout this table does not know (mixed down to stereo on output)
        "duration": (int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3)))
        if duration else None,
    }


def _limit(max_seconds: float | None) -> list[str]:
    return [] if max_seconds is None else ["-t", f"{max_seconds:g}"]


def read_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None) -> np.ndarray:
    """Any audio (or the audio track of a video) as float32 mono at `sample_rate` (the first `max_seconds`
    only, if given); one-line MediaErrors for files with no audio track, undecodable audio, no samples, or
    NaN/infinite samples."""
    path = require_file(path)
    if not probe(path)["has_audio"]:
        raise MediaError(f"{path}: no audio track (not an audio file?)")
    raw = _run_ffmpeg([*_limit(max_seconds), "-i", ffmpeg_path(path), "-vn", "-ac", "1", "-ar", str(sample_rate),
                       "-f", "f32le", "-"], path, "audio")
    wave = np.frombuffer(raw, dtype=np.float32).copy()
    if wave.size == 0:
        raise MediaError(f"{path}: no audio samples (empty or not an audio file)")
    if not np.isfinite(wave).all():
        raise MediaError(f"{path}: audio contains NaN or infinite samples")
    return wave


def read_video(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, with_audio: bool = True,
               max_seconds: float | None = None) -> Video:
    """All frames (RGB) of a video plus its audio track resampled to mono `sample_rate` (the first
    `max_seconds` only, if given)."""
    path = require_file(path)
    info = probe(path)
    if not info["width"]:
        raise MediaError(f"{path}: no video stream (not a video file?)")
    w, h = info["width"], info["height"]
    raw = _run_ffmpeg(
        [*_limit(max_seconds), "-i", ffmpeg_path(path), "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"],
        path, "video frames")
    n = len(raw) // (w * h * 3)
    if n == 0:
        raise MediaError(f"{path}: video has no decodable frames")
    frames = np.frombuffer(raw, dtype=np.uint8)[: n * w * h * 3].reshape(n, h, w, 3)
    audio = read_audio(path, sample_rate, max_seconds) if with_audio and info["has_audio"] else None
    return Video(frames=frames, fps=info["fps"] or FPS, audio=audio, sample_rate=sample_rate)


@contextmanager
def _quiet_native_stderr():
    """Silence what C libraries print straight to file descriptor 2 (libpng's "libpng error: ...",
    OpenCV's warnings): the caller reports the failure itself, as one line."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _png_ihdr(data: np.ndarray) -> tuple[int, int] | None:
    """(bit depth per channel, colour type) from a PNG's IHDR chunk (the file's first 26 bytes suffice), or
    None if data is not a PNG. Colour types 4 (grey + alpha) and 6 (RGBA) have transparency."""
    if data[:8].tobytes() != b"\x89PNG\r\n\x1a\n" or len(data) < 26:
        return None
    return int(data[24]), int(data[25])


MAX_PHOTO_PIXELS = 120_000_000  # larger photos are refused before decoding: peak memory stays under 2 GB
# (a 16-bit PNG, half as many: OpenCV decodes it at 16 bits through a second buffer, 1.9 GB at 120 megapixels)
_COMPOSITE_ROWS = 512  # a transparent PNG is composited this many rows at a time (bounded float temporaries)


def _header(path: Path) -> tuple[str, int, int] | None:
    """(its size as text, pixel count, EXIF orientation 1-8) from the file's header without decoding it
    (Pillow reads headers lazily), or None where Pillow does not know the format."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                try:
                    orientation = int(image.getexif().get(0x0112, 1))
                except Exception:  # a damaged EXIF block: shown unturned, as OpenCV shows it
                    orientation = 1
                return f"{image.size[0]}x{image.size[1]}", image.size[0] * image.size[1], orientation
        except Image.DecompressionBombError as err:  # Pillow's own limit (~179 megapixels), far above ours
            pixels = int(re.search(r"\((\d+) pixels\)", str(err)).group(1))
            return f"{pixels / 1e6:.0f} megapixels", pixels, 1
        except (UnidentifiedImageError, OSError, ValueError, TypeError):
            return None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB: EXIF orientation applied, 16-bit reduced to 8, grey expanded,
    a PNG's transparency composited over white (what viewers show); one-line MediaError otherwise, also for a
    photo of more than MAX_PHOTO_PIXELS (refused from its header, before it is decoded)."""
    path = require_file(path)
    header = _header(path)
    with open(path, "rb") as file:
        png = _png_ihdr(np.frombuffer(file.read(26), np.uint8))
    deep = png is not None and png[0] == 16
    limit = MAX_PHOTO_PIXELS // 2 if deep else MAX_PHOTO_PIXELS
    if header is not None and header[1] > limit:
        raise MediaError(f"{path}: {header[0]} is more than the {limit // 1_000_000} megapixels a "
                         f"{'16-bit ' if deep else ''}photo may have here (memory); downscale it "
                         "(videos are made at most 9.4 megapixels anyway)")
    data = np.fromfile(str(path), dtype=np.uint8)
    with _quiet_native_stderr():
        rgba = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if png is not None and png[1] in (4, 6) else None
        if rgba is not None and rgba.ndim == 3 and rgba.shape[2] == 4:
            # decoded once (a second, colour-only decode would double the memory), so turned here as OpenCV's
            # colour decoding would have turned it
            image = _exif_turned(_over_white(rgba), header[2] if header else 1)
        else:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    del data, rgba
    if image is None or image.size == 0:
        raise MediaError(f"{path}: not a readable image (unknown format, truncated or corrupt)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image)


def _exif_turned(image: np.ndarray, orientation: int) -> np.ndarray:
    """The image as EXIF orientation 1-8 says to show it."""
    if orientation in (5, 6, 7, 8):
        image = cv2.transpose(image)  # then 5 is done; 6, 7, 8 are a flip of it
    flip = {2: 1, 3: -1, 4: 0, 6: 1, 7: -1, 8: 0}.get(orientation)
    return image if flip is None else cv2.flip(image, flip)


def _over_white(bgra: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 BGR: an 8- or 16-bit BGRA image composited over white, _COMPOSITE_ROWS rows at a time
    (16-bit colour reduced to 8 as OpenCV's colour decoding does: the high byte)."""
    deep = bgra.dtype == np.uint16
    scale = 1.0 / np.iinfo(bgra.dtype).max
    out = np.empty((*bgra.shape[:2], 3), np.uint8)
    for top in range(0, bgra.shape[0], _COMPOSITE_ROWS):
        block = bgra[top:top + _COMPOSITE_ROWS]
        colour = (block[..., :3] >> 8 if deep else block[..., :3]).astype(np.float32)
        alpha = block[..., 3:].astype(np.float32) * scale
        out[top:top + _COMPOSITE_ROWS] = np.clip(colour * alpha + 255.0 * (1.0 - alpha) + 0.5, 0, 255)
    return out


def _even_frame(frame: np.ndarray) -> np.ndarray:
    """H.264 4:2:0 needs even sizes: an odd side gains one pixel (a copy of its last row or column)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_audio(path: str | os.PathLike, wave: np.ndarray, sample_rate: int, bitrate: str | None = None) -> Path:
    """Mono audio in the format the suffix names (.wav, .flac, .opus, .m4a, ...), atomically."""
    path = check_output(path)
    with atomic_output(path) as tmp:
        codec = {".opus": ["-c:a", "libopus"], ".m4a": ["-c:a", "aac"]}.get(path.suffix.lower(), [])
        cmd = ["-loglevel", "error", "-y", "-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "-", *codec]
        if bitrate:
            cmd += ["-b:a", bitrate]
        proc = subprocess.run([get_ffmpeg_exe(), "-hide_banner", "-nostdin", *cmd, ffmpeg_path(tmp)],
                              input=np.asarray(wave, dtype=np.float32).tobytes(), capture_output=True)
        if proc.returncode != 0:
            raise MediaError(f"{path}: audio encoding failed ({_ffmpeg_reason(proc.stderr, proc.returncode)})")
    return path


AudioSource = Union[np.ndarray, str, os.PathLike, None]


def _audio_input(path: Path, audio: AudioSource, sample_rate: int) -> tuple[Path | None, Path | None, int | None]:
    """(file ffmpeg reads the audio from, temp file to remove afterwards, channel count or None if unknown)."""
    if audio is None:
        return None, None, None
    if isinstance(audio, np.ndarray):
        if audio.size == 0:
            return None, None, None
        wav = temp_beside(path, ".wav")
        try:
            sf.write(wav, np.asarray(audio, dtype=np.float32), sample_rate, subtype="FLOAT")
        except BaseException as err:
            discard(wav)
            if isinstance(err, Exception):
                raise write_error(path, err) from None
            raise
        return wav, wav, 1 if audio.ndim == 1 else audio.shape[1]
    source = require_file(audio)
    info = probe(source)
    if not info["has_audio"]:
        raise MediaError(f"{source}: no audio track (not an audio file?)")
    return source, None, info["audio_channels"]


def write_video(path: str | os.PathLike, frames, fps: float, audio: AudioSource = None,
                sample_rate: int = SAMPLE_RATE, crf: int = 18, pix_fmt: str = "yuv420p", n_frames: int | None = None) -> Path:
    """Encode RGB frames (iterable of (H,W,3) uint8) as H.264 in the container the suffix names
    (OUTPUT_VIDEO_SUFFIXES), atomically. `audio` is a waveform ((N,) or (N, channels) at `sample_rate`) or a
    media file whose first audio track is muxed at its own rate and channels (AAC: rates above 96 kHz are
    lowered, more than 8 channels or an unknown layout are mixed down to stereo). Audio shorter than the
    video is padded with silence and longer audio is cut at the last frame: the video keeps every frame.
    An odd side gains one pixel (see _even_frame). With audio, `n_frames` (the number of frames, when `frames` has no len())
    fixes the duration; without it the frames are collected first."""
    path = check_output(path, suffixes=OUTPUT_VIDEO_SUFFIXES)
    if not (np.isfinite(fps) and fps > 0):
        raise MediaError(f"{path}: invalid frame rate {fps}")
    if audio is not None and n_frames is None:
        frames = frames if hasattr(frames, "__len__") else list(frames)
        n_frames = len(frames)
    frames = iter(frames)
    with atomic_output(path) as tmp:
        first = next(frames, None)
        if first is None:
            raise MediaError(f"{path}: no frames to write")
        first = _even_frame(first)
        h, w = first.shape[:2]
        audio_file, audio_tmp, channels = _audio_input(path, audio, sample_rate)
        proc = None
        try:
            cmd = [get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps}", "-i", "-"]
            if audio_file is not None:
                cmd += ["-i", ffmpeg_path(audio_file), "-map", "0:v:0", "-map", "1:a:0",
                        "-af", "apad", "-t", repr(n_frames / fps), "-c:a", "aac", "-b:a", f"{64 * max(2, min(channels or 2, 8))}k"]
                if channels is None or channels > 8:
                    cmd += ["-ac", "2"]
            container = VIDEO_CONTAINERS[path.suffix.lower()]
            cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", pix_fmt]
            if container in ("mp4", "mov"):
                cmd += ["-movflags", "+faststart"]
            cmd += ["-f", container, ffmpeg_path(tmp)]
            # its own session: a terminal's Ctrl-C reaches only us, and we stop ffmpeg and remove its output
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    start_new_session=True)
            log: list[bytes] = []
            drain = threading.Thread(target=lambda: log.append(proc.stderr.read()), daemon=True)
            drain.start()  # ffmpeg never blocks on a full stderr pipe
            try:
                proc.stdin.write(np.ascontiguousarray(first, dtype=np.uint8).tobytes())
                for frame in frames:
                    proc.stdin.write(np.ascontiguousarray(_even_frame(frame), dtype=np.uint8).tobytes())
                proc.stdin.close()
            except BrokenPipeError:
                pass
            code = proc.wait()
            drain.join()
            err = b"".join(log)
        except BaseException:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            raise
        finally:
            discard(audio_tmp)
        if code != 0:
            raise MediaError(f"{path}: video encoding failed ({_ffmpeg_reason(err, code)})")
    return path
