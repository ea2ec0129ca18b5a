"""Wiring the stages: photo -> source face; speech -> landmark track (audio2lmk); track -> frames (lmk2video);
frames pasted back into the photo and streamed to an mp4 with the speech muxed in.

`Synthesizer` is the Python API shared by the CLI, the Gradio app, the benchmark and the evaluations.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from talkface.errors import TalkfaceError
import cv2

from talkface.face_crop import MAX_CROP_SIZE, CropTransform, FacePaster, auto_crop_size, crop_face, crop_transform
from talkface.landmarks.detect import detect_landmarks
from talkface.landmarks.io import load_track, save_track
from talkface.landmarks.normalize import Similarity, from_normalised, to_normalised
from talkface.media import check_output_path, read_audio, read_image, write_video
from lmk2video import WarpGenerator
from talkface.stages import load_audio2lmk, load_lmk2video
from talkface.video_limits import H264_LEVEL, fit_frame

SAMPLE_RATE = 16000
FPS = 25.0
RENDER_CHUNK = 64  # frames generated and pasted per step at a 128 crop: bounds memory for long recordings


def render_chunk(size: int) -> int:
    """Frames per render step at a crop size: the chunk's pixels stay what 64 frames of 128 px are."""
    return max(4, RENDER_CHUNK * 128 * 128 // (size * size))


@dataclass
class SourceFace:
    image: np.ndarray            # (H, W, 3) uint8, the photo
    landmarks: np.ndarray        # (68, 2) in photo coordinates
    transform: CropTransform     # photo -> aligned crop
    crop: np.ndarray             # (N, N, 3) uint8
    crop_landmarks: np.ndarray   # (68, 2) in crop coordinates


@dataclass
class Result:
    path: Path | None
    n_frames: int
    duration: float
    audio2lmk: str
    lmk2video: str
    mode: str = "audio"


def n_video_frames(n_samples: int, sample_rate: int, fps: float = FPS) -> int:
    """T = round(duration x fps): the output covers the whole recording."""
    return max(1, int(round(n_samples / sample_rate * fps)))


def retarget(track: np.ndarray, source_landmarks: np.ndarray) -> np.ndarray:
    """Transfer a track's motion (expression relative to its first frame, and head pose relative to its
    first frame) onto another face, keeping that face's own shape."""
    track_norm, track_sim = to_normalised(track)
    source_norm, source_sim = to_normalised(source_landmarks)
    expression = source_norm + (track_norm - track_norm[0])
    first = Similarity(track_sim.scale[0], track_sim.rotation[0], track_sim.translation[0])
    # pose t relative to pose 0, expressed in the normalised frame, then placed on the source face
    in_driver_frame = from_normalised(expression, track_sim)
    return from_normalised(first.apply(in_driver_frame), source_sim).astype(np.float32)


def track_starts_on(track: np.ndarray, landmarks: np.ndarray, tolerance: float = 0.08) -> bool:
    """Whether a track's first frame is this face in this image (mean error below `tolerance` interoculars)."""
    _, sim = to_normalised(landmarks)
    error = np.linalg.norm(sim.apply(track[0]) - sim.apply(landmarks), axis=-1).mean()
    return bool(error < tolerance)


def notice(message: str) -> None:
    """A one-line note to the user on stderr (the output is still made)."""
    print(f"talkface: note: {message}", file=sys.stderr)


def check_crop_size(size: int | str) -> int | str:
    """'auto' or a crop size in pixels (a multiple of 8 in [64, MAX_CROP_SIZE])."""
    if size == "auto":
        return size
    try:
        value = int(size)
    except (TypeError, ValueError):
        raise TalkfaceError(f"--size {size}: not 'auto' or a number of pixels") from None
    if value > MAX_CROP_SIZE:
        raise TalkfaceError(f"--size {value}: the face is worked on at most {MAX_CROP_SIZE} px "
                            f"(larger faces are pasted back at the photo's full resolution anyway); use --size auto")
    if value < 64 or value % 8:
        raise TalkfaceError(f"--size {value}: must be a multiple of 8 from 64 to {MAX_CROP_SIZE}, or auto")
    return value


def fit_photo(image: np.ndarray, fps: float, name: str = "image") -> np.ndarray:
    """The photo, downscaled (with a note) when the video would exceed H.264 level 5.1 at this fps."""
    h, w = image.shape[:2]
    fh, fw = fit_frame(h, w, fps)
    if (fh, fw) == (h, w):
        return image
    notice(f"{name}: {w}x{h} is beyond H.264 level {H264_LEVEL} for video; the video is made at {fw}x{fh}")
    return cv2.resize(image, (fw, fh), interpolation=cv2.INTER_AREA)


class Synthesizer:
    """Photo + speech (or photo + landmark track) -> talking-face frames and mp4.

    size: the face crop's side in pixels, or "auto" (default): the face's own size in the photo (one crop
    pixel per photo pixel, 128 to 512), so nothing is upsampled from a small crop.
    """

    def __init__(self, audio2lmk: str = "auto", lmk2video: str = "auto", size: int | str = "auto",
                 device: str = "cpu"):
        self.size = check_crop_size(size)
        self.device = device
        self.audio2lmk_name, self.audio2lmk = load_audio2lmk(audio2lmk, device)
        self.lmk2video_name, self.lmk2video = load_lmk2video(lmk2video, device)
        self._motion = WarpGenerator().motion  # the mesh geometry every lmk2video stage moves the face by

    # -- stages ---------------------------------------------------------------------------------
    def source_face(self, image: np.ndarray, face_index: int | None = None, name: str = "image") -> SourceFace:
        landmarks = detect_landmarks(image, face_index=face_index, name=name)
        size = auto_crop_size(landmarks) if self.size == "auto" else self.size
        transform = crop_transform(landmarks, size=size)
        crop = crop_face(image, transform, interpolation=cv2.INTER_CUBIC)
        return SourceFace(image, landmarks, transform, crop, transform.to_crop(landmarks))

    def landmarks_from_audio(self, wave: np.ndarray, sample_rate: int, source: SourceFace, seed: int = 0,
                             blink: bool = True, head_motion: bool = True) -> np.ndarray:
        track = self.audio2lmk(wave, sample_rate, source.landmarks, fps=FPS, blink=blink,
                               head_motion=head_motion, seed=seed)
        expected = n_video_frames(len(wave), sample_rate)
        if len(track) != expected:  # the contract; a stage that breaks it is a bug, not bad input
            raise RuntimeError(f"audio2lmk returned {len(track)} frames, expected {expected}")
        return track

    def paste_alpha(self, source: SourceFace) -> np.ndarray:
        """(H, W) float32: where render's frames take the generated face (the paste mask in photo pixels)."""
        return FacePaster(source.image, source.transform, source.crop).frame_alpha()

    def render(self, source: SourceFace, track: np.ndarray, progress: bool = False) -> Iterator[np.ndarray]:
        """Full-resolution frames for a track in photo coordinates, generated chunk by chunk."""
        crop_track = source.transform.to_crop(track).astype(np.float32)
        paster = FacePaster(source.image, source.transform, source.crop)
        generate = self.lmk2video.stream(source.crop, source.crop_landmarks)  # carries temporal state
        bar = tqdm(total=len(track), unit="frame", disable=not progress, desc="render")
        chunk = render_chunk(source.transform.size)
        for start in range(0, len(track), chunk):
            targets = crop_track[start:start + chunk]
            crops = generate(targets)
            # The photo itself is moved at full resolution; from the crops only what they paint on top.
            coords, plain = self._motion(source.crop, source.crop_landmarks, targets)
            for crop, where, moved in zip(crops, coords, plain):
                yield paster.paste_moved(crop.astype(np.float32) - moved, where)
            bar.update(len(targets))
        bar.close()

    # -- whole jobs -----------------------------------------------------------------------------
    def synthesize(self, image: np.ndarray, wave: np.ndarray, sample_rate: int, out: str | os.PathLike | None,
                   face_index: int | None = None, seed: int = 0, blink: bool = True, head_motion: bool = True,
                   save_landmarks: str | os.PathLike | None = None, progress: bool = False,
                   image_name: str = "image") -> Result:
        if len(wave) == 0:
            raise TalkfaceError("audio: no samples (empty recording)")
        image = fit_photo(image, FPS, image_name)
        source = self.source_face(image, face_index, image_name)
        track = self.landmarks_from_audio(wave, sample_rate, source, seed, blink, head_motion)
        if save_landmarks:
            save_track(save_landmarks, track, FPS, image.shape[:2])
        write_video(out, self.render(source, track, progress), FPS, audio=wave, sample_rate=sample_rate)
        return Result(Path(out), len(track), len(wave) / sample_rate, self.audio2lmk_name, self.lmk2video_name)

    def synthesize_files(self, image_path, audio_path, out, **options) -> Result:
        check_output_path(out)
        if options.get("save_landmarks"):
            check_output_path(options["save_landmarks"])
        image = read_image(image_path)
        wave = read_audio(audio_path, SAMPLE_RATE)
        return self.synthesize(image, wave, SAMPLE_RATE, out, image_name=str(image_path), **options)

    def animate(self, image: np.ndarray, track: np.ndarray, out: str | os.PathLike, fps: float = FPS,
                audio: np.ndarray | None = None, mode: str = "auto", face_index: int | None = None,
                progress: bool = False, image_name: str = "image") -> Result:
        fitted = fit_photo(image, fps, image_name)
        if fitted.shape != image.shape:  # the track is in the photo's pixels: scale it with the photo
            scale = np.array([fitted.shape[1] / image.shape[1], fitted.shape[0] / image.shape[0]], np.float32)
            track = (np.asarray(track, np.float32) + 0.5) * scale - 0.5
        image = fitted
        source = self.source_face(image, face_index, image_name)
        if mode == "auto":
            mode = "absolute" if track_starts_on(track, source.landmarks) else "relative"
        if mode == "relative":
            track = retarget(track, source.landmarks)
        write_video(out, self.render(source, track, progress), fps, audio=audio, sample_rate=SAMPLE_RATE)
        duration = len(track) / fps
        return Result(Path(out), len(track), duration, "given track", self.lmk2video_name, mode)

    def animate_files(self, image_path, track_path, out, audio=None, **options) -> Result:
        check_output_path(out)
        image = read_image(image_path)
        track = load_track(track_path)
        wave = read_audio(audio, SAMPLE_RATE) if audio else None
        return self.animate(image, track.landmarks, out, fps=track.fps, audio=wave,
                            image_name=str(image_path), **options)

