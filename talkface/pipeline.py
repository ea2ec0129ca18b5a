"""Wiring the stages: photo -> source face; speech -> landmark track (audio2lmk); track -> frames (lmk2video);
frames pasted back into the photo and streamed to an mp4 with the speech muxed in.

`Synthesizer` is the Python API shared by the CLI, the Gradio app, the benchmark and the evaluations.
The `*_files` methods check every input and output before any model is loaded (a bad file is reported in
well under a second), and models load on first use; importing this module imports no stage and no torch.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

import cv2

from talkface.audio import FPS, SAMPLE_RATE
from talkface.background import Background
from talkface.contracts import Audio2Lmk, Lmk2Video, check_audio2lmk_inputs, check_lmk2video_inputs
from talkface.errors import MediaError, TalkfaceError
from talkface.expression.apply import express_track
from talkface.expression.shading import shade_folds
from talkface.expression.shapes import shipped as shipped_expressions
from talkface.expression.spec import ExpressionPlan
from talkface.face_crop import (CropTransform, FacePaster, auto_crop_size, check_crop_size, crop_face,
                                crop_transform)
from talkface.landmarks.detect import detect_landmarks, face_box, predict_shape
from talkface.landmarks.articulation import most_closed, widen
from talkface.landmarks.indices import interocular
from talkface.landmarks.io import check_landmarks, load_track, save_track
from talkface.landmarks.normalize import Similarity, from_normalised, to_normalised
from talkface.media import read_audio, read_image, require_file, write_video
from talkface.progress import bar, phase
from talkface.safe_output import OUTPUT_VIDEO_SUFFIXES, TRACK_SUFFIXES, check_distinct, check_output
from talkface.speech import Speech
from talkface.stages import (audio2lmk_uses_phones, check_backend, check_device, check_stage_spec, load_audio2lmk,
                             load_lmk2video, require_device)
from talkface.video_limits import H264_LEVEL, fit_frame

UNVOICED_NOTE_SHARE = 0.5  # above this share of unvoiced sound a synth says how to animate singing
RENDER_CHUNK = 64  # frames generated and pasted per step at a 128 crop: bounds memory for long recordings
MAX_FACE_GROWTH = 8.0  # a track's face may be at most this many times the photo's (interocular distance)
MIN_STAGE_SECONDS = 0.2  # shorter recordings reach audio2lmk padded with silence (its track is cut back)


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
    unvoiced: float | None = None  # share of the sound where no one was heard speaking (None: voice gate off)


def n_video_frames(n_samples: int, sample_rate: int, fps: float = FPS) -> int:
    """T = round(duration x fps): the output covers the whole recording."""
    return max(1, int(round(n_samples / sample_rate * fps)))


def stage_wave(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """The recording as audio2lmk gets it: a few ms of audio are padded with silence to MIN_STAGE_SECONDS (the
    stages need some context; the extra frames are cut from the track)."""
    shortest = int(np.ceil(MIN_STAGE_SECONDS * sample_rate))
    if len(wave) >= shortest:
        return wave
    return np.concatenate([wave, np.zeros(shortest - len(wave), np.float32)])


def staged_speech(wave: np.ndarray, sample_rate: int) -> Speech:
    """The recording as audio2lmk gets it, analysed from here on (talkface.speech): stage_wave's, 16 kHz mono."""
    return Speech.of(stage_wave(wave, sample_rate), sample_rate)


def analyse_inputs(image: np.ndarray, box: tuple, wave16k: np.ndarray, phones: bool = True,
                   denoised: bool = True) -> tuple:
    """What a synth needs besides the models, computed while they load (talkface.background): the face's 68
    landmarks inside `box`; with `phones`, the speech's phones (else None); with `denoised`, the speech's
    denoised copy, which the voice gate listens to (audio2lmk.denoise.Denoised; else None)."""
    landmarks = predict_shape(image, box)
    found = None
    if phones:  # else not even pocketsphinx's import (~0.2 s of the child's CPU)
        from audio2lmk.phonemes import PhoneDecoder  # pocketsphinx only

        found = PhoneDecoder()(wave16k, SAMPLE_RATE)
    clean = None
    if denoised:
        from audio2lmk import denoise  # RNNoise and soxr

        if denoise.available():
            clean = denoise.denoise(wave16k)
    return landmarks, found, clean


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


def mostly_unvoiced(speech: Speech, name: str) -> float:
    """The share of a recording's sound where no one is heard speaking (from what the voice gate heard,
    `speech.heard`), with a note when it is most of it (music, a song): the mouth rests there, which is right for
    music and wrong for singing, and only the user knows which."""
    from audio2lmk.voice_activity import unvoiced_share

    share = unvoiced_share(speech.wave, speech.heard)
    if share > UNVOICED_NOTE_SHARE:
        notice(f"{name}: no one heard speaking in {share:.0%} of the sound (music?), the mouth rests there; "
               "for singing use --any-sound")
    return share


def fit_photo(image: np.ndarray, fps: float, name: str = "image") -> tuple[np.ndarray, str | None]:
    """The photo, downscaled when the video would exceed H.264 level 5.1 at this fps, and the note that says
    so (shown once the job is sure to make its video, so an error stays one line)."""
    h, w = image.shape[:2]
    fh, fw = fit_frame(h, w, fps)
    if (fh, fw) == (h, w):
        return image, None
    note = f"{name}: {w}x{h} is beyond H.264 level {H264_LEVEL} for video; the video is made at {fw}x{fh}"
    return cv2.resize(image, (fw, fh), interpolation=cv2.INTER_AREA), note


class Synthesizer:
    """Photo + speech (or photo + landmark track) -> talking-face frames and mp4. Stage names, the crop size
    and the device are checked at once; the models load when first used.

    size: the face crop's side in pixels, or "auto" (default): the face's own size in the photo (one crop
    pixel per photo pixel, 128 to 512), so nothing is upsampled from a small crop.
    """

    def __init__(self, audio2lmk: str = "auto", lmk2video: str = "auto", size: int | str = "auto",
                 device: str = "cpu", backend: str = "onnx"):
        self.size = check_crop_size(size)
        self.device = check_device(device)
        self.backend = check_backend(backend)  # the learned stages': onnx (ONNX Runtime, no torch) or torch
        self._specs = {"audio2lmk": check_stage_spec(audio2lmk, "audio2lmk"),
                       "lmk2video": check_stage_spec(lmk2video, "lmk2video")}
        self._stages: dict[str, tuple[str, object]] = {}

    def _stage(self, which: str) -> tuple[str, object]:
        if which not in self._stages:
            load = load_audio2lmk if which == "audio2lmk" else load_lmk2video
            self._stages[which] = load(self._specs[which], self.device, self.backend)
        return self._stages[which]

    @property
    def audio2lmk(self) -> Audio2Lmk:
        return self._stage("audio2lmk")[1]

    @property
    def audio2lmk_name(self) -> str:
        return self._stage("audio2lmk")[0]

    @property
    def lmk2video(self) -> Lmk2Video:
        return self._stage("lmk2video")[1]

    @property
    def lmk2video_name(self) -> str:
        return self._stage("lmk2video")[0]

    # -- stages ---------------------------------------------------------------------------------
    def source_face(self, image: np.ndarray, face_index: int | None = None, name: str = "image") -> SourceFace:
        return self.source_face_at(image, detect_landmarks(image, face_index=face_index, name=name))

    def source_face_at(self, image: np.ndarray, landmarks: np.ndarray) -> SourceFace:
        """The source face for landmarks already found in the photo."""
        size = auto_crop_size(landmarks) if self.size == "auto" else self.size
        transform = crop_transform(landmarks, size=size)
        crop = crop_face(image, transform, interpolation=cv2.INTER_CUBIC)
        return SourceFace(image, landmarks, transform, crop, transform.to_crop(landmarks))

    def landmarks_from_audio(self, wave: np.ndarray, sample_rate: int, source: SourceFace, seed: int = 0,
                             blink: bool = True, head_motion: bool = True, voice_gate: bool = True,
                             motion_gain: float = 1.0) -> np.ndarray:
        """The track for a recording's samples (landmarks_from_speech, its speech analysed here)."""
        speech = self.listen(staged_speech(wave, sample_rate), voice_gate)
        return self.landmarks_from_speech(speech, n_video_frames(len(wave), sample_rate), source, seed, blink,
                                          head_motion, voice_gate, motion_gain)

    def listen(self, speech: Speech, voice_gate: bool = True, denoised=None) -> Speech:
        """`speech` with where someone is heard speaking (`heard`), when the mouth is gated by it: the stage and
        the unvoiced note then read that one analysis. denoised: its RNNoise copy, when already made."""
        if not (voice_gate and getattr(self.audio2lmk, "voice_gate", True)):  # a sidecar may switch the gate off
            return speech
        from audio2lmk.voice_activity import heard_speech_chunks

        return speech.knowing(heard=heard_speech_chunks(speech.wave, denoised))

    def landmarks_from_speech(self, speech: Speech, n_frames: int, source: SourceFace, seed: int = 0,
                              blink: bool = True, head_motion: bool = True, voice_gate: bool = True,
                              motion_gain: float = 1.0) -> np.ndarray:
        """The track of `n_frames` for the staged recording `speech` (staged_speech: a very short one is padded);
        voice_gate False: the mouth follows every sound, not only where someone is heard speaking (singing,
        speech under loud music); motion_gain: the jaw and lips move this many times as far from the track's most
        closed mouth."""
        check_audio2lmk_inputs(speech, source.landmarks, FPS)  # whichever model: one check, before any work
        track = self.audio2lmk(speech, source.landmarks, fps=FPS, blink=blink, head_motion=head_motion, seed=seed,
                               voice_gate=voice_gate)
        if len(track) != speech.frames(FPS):  # the contract; breaking it is a bug, not bad input
            raise RuntimeError(f"audio2lmk returned {len(track)} frames, expected {speech.frames(FPS)}")
        track = track[:n_frames]
        if motion_gain != 1.0:  # the rest face is looked for only when it is needed
            track = widen(track, most_closed(track), motion_gain)
        return track

    def express(self, track: np.ndarray, neutral: np.ndarray, plan: ExpressionPlan | None, fps: float = FPS
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """(the track with the plan's expression, the track without it) -- (track, None) when the plan changes
        nothing. neutral: the photo's own (68, 2) landmarks, the face the expression is learned relative to; the
        expression's mouth opening yields where the track's mouth moves (talkface/expression/apply.py)."""
        if plan is None or plan.is_neutral:
            return track, None
        neutral_norm, _ = to_normalised(np.asarray(neutral, np.float64))
        shifts = plan.displacements(neutral_norm, shipped_expressions(), len(track), fps)
        return express_track(track, shifts, fps=fps), track

    def paste_alpha(self, source: SourceFace) -> np.ndarray:
        """(H, W) float32: where render's frames take the generated face (the paste mask in photo pixels)."""
        return FacePaster(source.image, source.transform, source.crop).frame_alpha()

    def render(self, source: SourceFace, track: np.ndarray, progress: bool = False,
               expression_rest: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """Full-resolution frames for a track in photo coordinates, generated chunk by chunk. expression_rest: the
        same track without its expression (T, 68, 2): the skin the expression squeezes is shaded."""
        crop_track = source.transform.to_crop(track).astype(np.float32)
        check_lmk2video_inputs(source.crop, source.crop_landmarks, crop_track)  # whichever model: once per track
        paster = FacePaster(source.image, source.transform, source.crop)
        # The photo itself is moved at full resolution by the stage's mesh motion; from the stage only what it
        # paints on top (mouth interior, learned correction). The stream carries the stage's temporal state.
        overlay = self.lmk2video.overlay_stream(source.crop, source.crop_landmarks)
        frames_bar = bar(len(track), "render", progress)
        chunk = render_chunk(source.transform.size)
        for start in range(0, len(track), chunk):
            targets = crop_track[start:start + chunk]
            coords, painted = overlay(targets)
            for i, (where, paint) in enumerate(zip(coords, painted), start=start):
                frame = paster.paste_moved(paint, where)
                yield frame if expression_rest is None else shade_folds(frame, expression_rest[i], track[i])
            frames_bar.update(len(targets))
        frames_bar.close()

    def load(self, progress: bool = False, audio2lmk: bool = True) -> None:
        """Load the models now (they otherwise load on first use)."""
        require_device(self.device, self.backend)
        with phase("loading models", progress):
            if audio2lmk:
                self._stage("audio2lmk")
            self._stage("lmk2video")

    # -- whole jobs -----------------------------------------------------------------------------
    def synthesize(self, image: np.ndarray, wave: np.ndarray, sample_rate: int, out: str | os.PathLike | None,
                   face_index: int | None = None, seed: int = 0, blink: bool = True, head_motion: bool = True,
                   save_landmarks: str | os.PathLike | None = None, progress: bool = False,
                   image_name: str = "image", audio_name: str = "audio",
                   audio_file: str | os.PathLike | None = None, voice_gate: bool = True,
                   motion_gain: float = 1.0, expression: ExpressionPlan | None = None) -> Result:
        """`audio_file`, when given, is the recording `wave` was read from: its own audio (rate, channels)
        goes into the video; the models always get `wave`. voice_gate, motion_gain: see landmarks_from_audio;
        expression: the face's expression over time (talkface/expression/spec.py), combined with the speech."""
        if len(wave) == 0:
            raise MediaError(f"{audio_name}: no samples (empty recording)")
        if not np.isfinite(wave).all():
            raise MediaError(f"{audio_name}: audio contains NaN or infinite samples")
        image, note = fit_photo(image, FPS, image_name)
        with phase("finding the face", progress):
            box = face_box(image, face_index, name=image_name)  # quick: a photo without a face fails here
        # The landmarks, phones and denoised speech need no torch: on a cold start they are found beside the model
        # loading. Phones only for a stage that reads them (the shipped learned one does not: its speech gate is a
        # VAD); the denoised speech only for the voice gate.
        speech = staged_speech(wave, sample_rate)
        with Background(analyse_inputs, image, box, speech.wave,
                        audio2lmk_uses_phones(self._specs["audio2lmk"]), voice_gate) as analysis:
            self.load(progress)
            with phase(f"speech -> landmarks ({len(wave) / sample_rate:.1f} s of audio)", progress):
                landmarks, phones, denoised = analysis.result()
                speech = self.listen(speech.knowing(phones=phones), voice_gate, denoised)
                source = self.source_face_at(image, landmarks)
                track = self.landmarks_from_speech(speech, n_video_frames(len(wave), sample_rate), source, seed,
                                                   blink, head_motion, voice_gate, motion_gain)
                track, rest = self.express(track, source.landmarks, expression)
        if save_landmarks:
            save_track(save_landmarks, track, FPS, image.shape[:2])
        if note:
            notice(note)
        write_video(out, self.render(source, track, progress, expression_rest=rest), FPS, n_frames=len(track),
                    audio=audio_file if audio_file is not None else wave, sample_rate=sample_rate)
        # said with the result (not before an error); only where the mouth is gated (speech.heard was listened for)
        unvoiced = mostly_unvoiced(speech, audio_name) if speech.heard is not None else None
        return Result(Path(out), len(track), len(wave) / sample_rate, self.audio2lmk_name, self.lmk2video_name,
                      unvoiced=unvoiced)

    def synthesize_files(self, image_path, audio_path, out, **options) -> Result:
        """Check inputs and outputs (before any model loads), then synthesize; the video carries the
        recording's own audio."""
        require_file(image_path)
        require_file(audio_path)
        inputs = [image_path, audio_path]
        out = check_output(out, inputs, OUTPUT_VIDEO_SUFFIXES)
        if options.get("save_landmarks"):
            check_output(options["save_landmarks"], inputs, TRACK_SUFFIXES)
            check_distinct(out, options["save_landmarks"])
        image = read_image(image_path)
        with phase("reading the recording", options.get("progress", False)):
            wave = read_audio(audio_path, SAMPLE_RATE)
        return self.synthesize(image, wave, SAMPLE_RATE, out, image_name=str(image_path), audio_name=str(audio_path),
                               audio_file=audio_path, **options)

    def animate(self, image: np.ndarray, track: np.ndarray, out: str | os.PathLike, fps: float = FPS,
                audio: np.ndarray | str | os.PathLike | None = None, mode: str = "auto",
                face_index: int | None = None, progress: bool = False, image_name: str = "image",
                track_name: str = "track", audio_rate: int = SAMPLE_RATE,
                expression: ExpressionPlan | None = None) -> Result:
        """Frames following `track`; `audio` (a waveform at audio_rate, or a media file) is muxed in, padded
        with silence when shorter than the track: the video keeps every frame of the track. expression: put on
        the track relative to the photo's own face (its mouth opening yields where the track's mouth moves)."""
        track = check_landmarks(track, track_name)
        if not (np.isfinite(fps) and fps > 0):
            raise MediaError(f"{track_name}: invalid frame rate {fps}")
        fitted, note = fit_photo(image, fps, image_name)
        if fitted.shape != image.shape:  # the track is in the photo's pixels: scale it with the photo
            scale = np.array([fitted.shape[1] / image.shape[1], fitted.shape[0] / image.shape[0]], np.float32)
            track = (np.asarray(track, np.float32) + 0.5) * scale - 0.5
        image = fitted
        source = self.source_face(image, face_index, image_name)
        if mode == "auto":
            mode = "absolute" if track_starts_on(track, source.landmarks) else "relative"
        if mode == "relative":
            track = retarget(track, source.landmarks)
        growth = interocular(track) / interocular(source.landmarks)
        if growth.max() > MAX_FACE_GROWTH:
            first = int(np.argmax(growth > MAX_FACE_GROWTH))
            raise TalkfaceError(f"{track_name}: frame {first} puts a face {growth[first]:.0f}x the "
                                f"size of the photo's ({mode} landmarks); use a track of a similar face size"
                                + (" or --mode relative" if mode == "absolute" else ""))
        track, rest = self.express(track, source.landmarks, expression, fps)
        self.load(progress, audio2lmk=False)
        if note:
            notice(note)
        write_video(out, self.render(source, track, progress, expression_rest=rest), fps, audio=audio,
                    sample_rate=audio_rate, n_frames=len(track))
        duration = len(track) / fps
        return Result(Path(out), len(track), duration, "given track", self.lmk2video_name, mode)

    def animate_files(self, image_path, track_path, out, audio=None, **options) -> Result:
        """Check inputs and outputs (before any model loads), then animate."""
        require_file(image_path)
        require_file(track_path)
        if audio is not None:
            require_file(audio)
        out = check_output(out, [image_path, track_path, audio], OUTPUT_VIDEO_SUFFIXES)
        image = read_image(image_path)
        track = load_track(track_path)
        if audio is not None:
            read_audio(audio, SAMPLE_RATE)  # decodable, finite: checked now rather than after the render
        return self.animate(image, track.landmarks, out, fps=track.fps, audio=audio,
                            image_name=str(image_path), track_name=str(track_path), **options)
