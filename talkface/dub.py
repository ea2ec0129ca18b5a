"""Dubbing: lip-sync an existing video to new speech, keeping everything but the mouth and jaw.

Two streamed passes over the video (so memory does not grow with its length):

1. *Track*: 68 landmarks per frame (talkface.landmarks.track.track_stream), frames where the face is lost
   noted, and a bank of the video's own face crops with distinct mouth shapes collected (talkface.mouth_bank).
   Then frames where something covers the lower face (a hand, a microphone) or the landmarks have slipped off it
   are found by whether the video's other frames explain them (lmk2video.occlusion) and treated like lost ones.
2. *Render*: audio2lmk (the stage contract: speech + a rest face -> track) gives the mouth and jaw motion in
   the normalised face frame; it replaces the video's own mouth and jaw points on the tracked head of each
   frame (head pose, blinks and brows stay the video's). The frame's face crop is warped onto that target.
   Then, `mouth="generate"`: the lmk2video generator paints lips, chin and skin up to the nose;
   `mouth="fetch"`: inside the lips the texture is *fetched* (FLNet's fetching stream): the frames whose
   mouths best match the target, the frame itself included, warped onto it and blended by shape-distance
   weights (`blend="learned"`: per-pixel weights of a small learned attention net, lmk2video.fetch_attention),
   and the generator paints only mouths no frame of the video shows; `mouth="mix"`: the generator paints
   chin and skin as in generate, the lips are fetched as in fetch; `mouth="auto"` (default): generate on the
   face the learned generator was trained on (lmk2video.trained_face: there its lips read better on new
   speech), fetch on every other face (the generator would paint its training face's chin and skin there; the
   face's own frames score better on every measure, docs/results.md). The result is pasted
   back through a feathered mask around mouth and jaw only; faces that are lost or occluded pass through
   untouched, with the edit faded out before and in after them.

Speech longer than the video: the video continues forwards and backwards (ping-pong) between two of its
calmest frames, replayed from a temporary file; shorter: the video is cut at the speech's end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy.ndimage import distance_transform_edt, uniform_filter1d
from tqdm import tqdm

from lmk2video.fetch_attention import FetchJob, load_fetch_attention, pixel_weights
from lmk2video.occlusion import LowerFaces, occluded
from lmk2video.trained_face import is_trained_face
from lmk2video.triangulation import mesh_points, triangles
from lmk2video.warp import warp_pairs
from talkface.audio import SAMPLE_RATE
from talkface.errors import MediaError, TalkfaceError
from talkface.face_crop import FacePaster, auto_crop_size, crop_face, crop_transform, hull_mask
from talkface.expression.apply import express_normalised
from talkface.expression.shapes import shipped as shipped_expressions
from talkface.expression.spec import ExpressionPlan
from talkface.landmarks.articulation import SPEECH_POINTS, widen_normalised
from talkface.landmarks.indices import STABLE_POINTS, interocular, mouth_opening
from talkface.landmarks.normalize import from_normalised, to_normalised
from talkface.landmarks.track import track_stream
from talkface.media import read_audio, require_file, write_video
from talkface.safe_output import OUTPUT_VIDEO_SUFFIXES, check_output
from talkface.speech import Speech
from talkface.mouth_bank import MouthBank, fetch_weights, lip_masks, match_colour, mouth_shapes, shape_distance
from talkface.stages import check_backend, load_audio2lmk, load_lmk2video
from talkface.video_stream import FrameSpill, VideoInfo, iter_frames, probe_video

JAW_REGION = [*range(2, 15), *range(29, 36)]                        # lower face up to the nose: the edit mask
CHIN_TO_NOSE = [*range(3, 14), *range(31, 36)]                      # what the generator paints in generate and mix
FADE_FRAMES = 6          # the edit fades out over this many frames before a lost or occluded face, and back in after
CHUNK = 16               # frames rendered per step
MAX_LOOP_SECONDS = 10.0  # longest stretch replayed back and forth when the speech outlasts the video
FETCH_K = 3              # candidates blended per frame (FLNet uses five source images)
GENERATOR_FROM, GENERATOR_FULL = 0.05, 0.10  # fetch, mix: best fetch distance where the generator starts / takes over
MOTION_GAIN = None       # speech motion x this about the rest mouth; None: as wide as the video's own (matched_gain)
MAX_MOTION_GAIN = 2.0    # matched_gain's ceiling (the audio2lmk calibration's own)
MIN_OPENING_RANGE = 0.01  # interoculars: a speech track moving less than this (silence, gated music) is not scaled
MOUTHS = ("auto", "generate", "fetch", "mix")


@dataclass
class Track:
    """Pass 1: what the video shows."""
    info: VideoInfo
    landmarks: np.ndarray    # (T, 68, 2) frame coordinates, lost frames filled from the nearest found one
    found: np.ndarray        # (T,) bool
    bank: MouthBank          # without the occluded frames
    occluded: np.ndarray     # (T,) bool: found, but something covers the lower face or the landmarks slipped off it
    trained_face: bool | None = None  # whether it is the generator's own training face (asked once, by mouth="auto")

    @property
    def n_frames(self) -> int:
        return len(self.found)


@dataclass
class Plan:
    """What to render: for each output frame, which video frame, where its landmarks go, what to fetch."""
    source_index: np.ndarray  # (N,) video frame shown at each output frame
    video: np.ndarray         # (N, 68, 2) the video's landmarks there
    target: np.ndarray        # (N, 68, 2) the same head with the speech's mouth and jaw
    alpha: np.ndarray         # (N,) edit strength: 0 where the face is lost or occluded, fading in/out around it
    weights: np.ndarray       # (N, 1 + K) fetch weights: the frame itself, then the bank entries
    best: np.ndarray          # (N,) shape distance of the best fetch candidate
    wave: np.ndarray          # the speech as muxed (cut when the output is shorter)
    loop: tuple[int, int] | None  # (first, last) video frame of the ping-pong stretch
    motion_gain: float        # the speech's mouth motion was widened by this


@dataclass
class DubResult:
    path: Path | None
    n_frames: int
    fps: float
    size: tuple[int, int]  # (width, height)
    lost_frames: int
    occluded_frames: int
    bank_size: int
    looped: bool
    mouth: str
    motion_gain: float
    audio2lmk: str
    lmk2video: str


def fade_weights(found: np.ndarray, fade: int = FADE_FRAMES) -> np.ndarray:
    """(T,) 1 far from lost frames, 0 on them, linear over `fade` frames on either side."""
    found = np.asarray(found, bool)
    if found.all():
        return np.ones(len(found), np.float32)
    distance = distance_transform_edt(found)
    return np.clip(distance / (fade + 1), 0.0, 1.0).astype(np.float32)


def follow_pose(rest: np.ndarray, frames: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (T, P, 2) given on the rest face (68, 2) carried onto each frame's head (T, 68, 2), all in the
    normalised frame, by the affine map that best takes the rest face's stable points onto the frame's.
    A head turned or tilted away from the rest face foreshortens its mouth and jaw, which the similarity of the
    normalisation cannot follow: pasted unchanged, a frontal mouth on a turned head drags the face with it."""
    stable = list(STABLE_POINTS)
    src = np.concatenate([rest[stable], np.ones((len(stable), 1))], axis=1)        # (S, 3)
    maps = np.einsum("ks,tsj->tkj", np.linalg.pinv(src), frames[:, stable])         # (T, 3, 2) least squares
    return np.einsum("tpk,tkj->tpj", np.concatenate([points, np.ones((*points.shape[:2], 1))], axis=2), maps)


def generator_region(mouth: str, chin_to_nose: np.ndarray, lips: np.ndarray, paint: float) -> np.ndarray:
    """Where (and how strongly, 0-1) the generator's frame replaces the fetched/warped crop. `paint` (0-1): how
    far no frame of the video shows the target mouth. generate: lips, chin and the skin up to the nose (jaw and
    lips as one piece read best); fetch: only the lips no frame shows; mix: chin and skin as generate, inside
    the lips only what no frame shows (the video's own teeth and lips wherever it has them)."""
    if mouth == "fetch":
        return paint * lips
    if mouth == "mix":
        return chin_to_nose * (1.0 - lips * (1.0 - paint))
    return chin_to_nose


def head_speed(landmarks: np.ndarray, found: np.ndarray) -> np.ndarray:
    """(T,) motion of the stable points per frame in interoculars, smoothed; inf where the face is lost."""
    stable = landmarks[:, list(STABLE_POINTS)]
    step = np.zeros(len(landmarks))
    if len(landmarks) > 1:
        step[1:] = np.linalg.norm(np.diff(stable, axis=0), axis=-1).mean(-1) / interocular(landmarks[1:])
        step[0] = step[1]
    step = uniform_filter1d(step, 5, mode="nearest")
    return np.where(found, step, np.inf)


def pingpong_timeline(n_video: int, n_out: int, cost: np.ndarray, max_segment: int) -> tuple[np.ndarray, tuple | None]:
    """Video frame for each of n_out output frames: straight through, then back and forth between two calm
    frames (lowest `cost`: the head barely moves there, so reversing does not show). Never jumps."""
    if n_out <= n_video:
        return np.arange(n_out), None
    if n_video == 1:
        return np.zeros(n_out, int), (0, 0)
    cost = np.nan_to_num(np.asarray(cost, float), posinf=1e9)
    lo = int(np.ceil(0.6 * (n_video - 1)))
    last = lo + int(np.argmin(cost[lo:]))
    last = max(last, 1)
    span = max(1, min(max_segment, last))
    a, b = max(0, last - span), max(0, last - max(1, span // 4))
    first = a + int(np.argmin(cost[a:b + 1]))
    first = min(first, last - 1)
    period = 2 * (last - first)
    k = np.arange(n_out - last - 1) + 1
    phase = k % period
    bounce = np.where(phase <= last - first, last - phase, first + phase - (last - first))
    return np.concatenate([np.arange(last + 1), bounce]).astype(int), (first, last)


def opening_range(landmarks: np.ndarray) -> float:
    """How far a (T, 68, 2) track's mouth opens: 5th to 95th percentile of its inner-lip opening (interoculars)."""
    low, high = np.percentile(mouth_opening(landmarks), [5, 95])
    return float(high - low)


def matched_gain(video: np.ndarray, speech: np.ndarray) -> float:
    """The motion gain that opens the speech's track as far as the person in the video opens their own mouth
    (the ratio of the two opening ranges), in [1, MAX_MOTION_GAIN]: audio2lmk's motion has its training
    speaker's range, and people articulate differently widely. 1 when the speech's track barely moves."""
    speech_range = opening_range(speech)
    if speech_range < MIN_OPENING_RANGE:
        return 1.0
    return float(np.clip(opening_range(video) / speech_range, 1.0, MAX_MOTION_GAIN))


class Dubber:
    """Video + speech -> the same video speaking the speech."""

    def __init__(self, audio2lmk: str = "auto", lmk2video: str = "auto", size: int | None = None,
                 device: str = "cpu", mouth: str = "auto", motion_gain: float | None = MOTION_GAIN, blend: str = "shape",
                 backend: str = "onnx"):
        if mouth not in MOUTHS:
            raise TalkfaceError(f"mouth must be one of {', '.join(MOUTHS)}, got {mouth!r}")
        # How the fetched frames are blended: "shape" (one shape-distance weight per frame, attention None),
        # "learned" (the shipped per-pixel attention net) or a fetch_attention checkpoint's path
        self.attention = load_fetch_attention(blend, check_backend(backend), device)
        self.size = size
        self.mouth = mouth              # who paints the lips: the generator, the fetched frames, or auto (mouth_for)
        self.motion_gain = motion_gain  # >1 widens the speech's mouth motion; None: matched to the video (plan)
        self.device = device
        self.audio2lmk_name, self.audio2lmk = load_audio2lmk(audio2lmk, device, backend)
        # The generator's own frames (not synth's lips-only correction): dubbing paints chin to nose with them,
        # which a lipreader reads far better on GRID (WER 36 % vs 67 % self-dub on the first 6 s1 test clips).
        self.lmk2video_name, self.lmk2video = load_lmk2video(lmk2video, device, backend, mouth_only=False)
        self.mesh = triangles()

    def mouth_for(self, track: Track) -> str:
        """The mouth mode for this video: `auto` is generate on the learned generator's own training face (there
        its lips read better on new speech, docs/results.md), fetch on any other face or with the warp."""
        if self.mouth != "auto":
            return self.mouth
        if track.trained_face is None:
            bank, rest = track.bank, track.bank.most_closed()
            track.trained_face = is_trained_face(getattr(self.lmk2video, "meta", {}), bank.crops[rest],
                                                 bank.landmarks[rest])
        return "generate" if track.trained_face else "fetch"

    # -- pass 1 ---------------------------------------------------------------------------------
    def track(self, info: VideoInfo, face_index: int | None = None, progress: bool = False) -> Track:
        bank = None
        faces = LowerFaces()

        def offer(t: int, frame: np.ndarray, lmk: np.ndarray) -> None:
            nonlocal bank
            if bank is None:
                bank = MouthBank(self.size or auto_crop_size(lmk))  # the face's own resolution, as synth
            bank.offer(frame, lmk, t)
            faces.offer(frame, lmk, t)

        frames = tqdm(iter_frames(info), total=info.expected_frames, unit="frame", desc="track", disable=not progress)
        # Lost frames take the nearest found frame's landmarks: they are never edited, only indexed.
        landmarks, found = track_stream(frames, face_index=face_index, name=str(info.path), on_face=offer)
        covered = np.zeros(len(found), bool)
        covered[np.asarray(faces.frame_index, int)] = occluded(faces, info.fps)
        bank.drop(set(np.flatnonzero(covered).tolist()))  # never fetch a hand into another frame's mouth
        return Track(info, landmarks, found, bank, covered)

    # -- the plan -------------------------------------------------------------------------------
    def plan(self, track: Track, wave: np.ndarray, fit: str = "loop", voice_gate: bool = True,
             expression: ExpressionPlan | None = None) -> Plan:
        """expression: put on the speech's mouth and jaw (what a dub re-renders), relative to the video's rest face;
        None keeps the video's own expression."""
        fps = track.info.fps
        n_speech = max(1, int(round(len(wave) / SAMPLE_RATE * fps)))
        n_video = track.n_frames
        n_out = n_speech if fit == "loop" else min(n_speech, n_video)
        wave = wave[: int(round(n_out / fps * SAMPLE_RATE))] if n_out < n_speech else wave
        source_index, loop = pingpong_timeline(n_video, n_out, head_speed(track.landmarks, track.found),
                                               max(2, int(MAX_LOOP_SECONDS * fps)))
        video = track.landmarks[source_index]
        alpha = fade_weights(track.found & ~track.occluded)[source_index]

        # The rest face for audio2lmk: the bank frame with the most closed mouth *in the smoothed track*, whose
        # landmarks it then uses. Not bank.most_closed(): that reads the raw detections the bank kept (the
        # generator's source), and the two pick different frames on real videos (e.g. dev d12: 0 vs 141).
        bank = track.bank
        rest = bank.frame_index[int(np.argmin(mouth_opening(track.landmarks[bank.frame_index])))]
        speech = self.audio2lmk(Speech.of(wave, SAMPLE_RATE), track.landmarks[rest], fps=fps, blink=False,
                                head_motion=False, seed=0, voice_gate=voice_gate)
        speech = np.concatenate([speech, np.repeat(speech[-1:], max(0, n_out - len(speech)), 0)])[:n_out]
        gain = self.motion_gain
        if gain is None:
            own = track.found & ~track.occluded
            gain = matched_gain(track.landmarks[own] if own.any() else track.landmarks[rest][None], speech)
        rest_norm, _ = to_normalised(track.landmarks[rest].astype(np.float64))
        speech_norm = widen_normalised(to_normalised(speech.astype(np.float64))[0], rest_norm, gain)
        if expression is not None and not expression.is_neutral:
            shifts = expression.displacements(rest_norm, shipped_expressions(), n_out, fps)
            speech_norm = express_normalised(speech_norm, shifts, fps=fps)
        video_norm, sims = to_normalised(video.astype(np.float64))
        target_norm = video_norm.copy()
        target_norm[:, SPEECH_POINTS] = follow_pose(rest_norm, video_norm, speech_norm[:, SPEECH_POINTS])
        target = from_normalised(target_norm, sims).astype(np.float32)
        target = video + alpha[:, None, None] * (target - video)
        weights, best = fetch_weights(mouth_shapes(target), bank.shapes, mouth_shapes(video), k=FETCH_K)
        return Plan(source_index, video, target, alpha, weights, best, wave, loop, gain)

    # -- pass 2 ---------------------------------------------------------------------------------
    def frames(self, track: Track, plan: Plan, progress: bool = False) -> Iterator[np.ndarray]:
        """The dubbed frames in order, rendered CHUNK at a time."""
        bank = track.bank
        rest = bank.most_closed()
        generate = self.lmk2video.stream(bank.crops[rest], bank.landmarks[rest])
        mouth = self.mouth_for(track)
        bar = tqdm(total=len(plan.source_index), unit="frame", desc="dub", disable=not progress)
        try:
            chunk_frames: list[np.ndarray] = []
            for n, frame in enumerate(self._video_frames(track.info, plan)):
                chunk_frames.append(frame)
                if len(chunk_frames) == CHUNK or n == len(plan.source_index) - 1:
                    start = n + 1 - len(chunk_frames)
                    yield from self.render_chunk(chunk_frames, plan, slice(start, n + 1), bank, generate, mouth)
                    bar.update(len(chunk_frames))
                    chunk_frames = []
        finally:
            bar.close()

    def _video_frames(self, info: VideoInfo, plan: Plan) -> Iterator[np.ndarray]:
        """Video frames in the plan's order: streamed straight through, the ping-pong stretch replayed from disk."""
        straight = int(np.argmax(np.diff(plan.source_index) != 1)) + 1 if plan.loop else len(plan.source_index)
        first = plan.loop[0] if plan.loop else straight
        spill = FrameSpill(info.height, info.width) if plan.loop else None
        reader = iter_frames(info, stop=straight)
        try:
            n = 0
            for n, frame in enumerate(reader):
                if spill is not None and n >= first:
                    spill.append(frame)
                yield frame
            if n + 1 < straight:
                raise MediaError(f"{info.path}: the video ended early on the second read ({n + 1} of {straight} frames)")
            for index in plan.source_index[straight:]:
                yield spill[int(index) - first]
        finally:
            reader.close()
            if spill is not None:
                spill.close()

    def render_chunk(self, frames: list[np.ndarray], plan: Plan, span: slice, bank: MouthBank, generate,
                     mouth: str) -> list[np.ndarray]:
        size = bank.size
        video, target, alpha = plan.video[span], plan.target[span], plan.alpha[span]
        weights, best = plan.weights[span], plan.best[span]
        jobs = []  # per frame: (transform, crop, crop landmarks of video and target, first warped, picked columns)
        images, src_pts, dst_pts = [], [], []
        for j, frame in enumerate(frames):
            if alpha[j] <= 0:
                jobs.append(None)
                continue
            transform = crop_transform(video[j], size)
            crop = crop_face(frame, transform)
            v, l = transform.to_crop(video[j]), transform.to_crop(target[j])
            picks = [0]  # weight columns: 0 the frame itself, c the bank entry c - 1
            if mouth != "generate":  # in generate mode the generator covers the lips: nothing to fetch
                picks += list(np.flatnonzero(weights[j][1:]) + 1)
            for c in picks:
                src, dst = mesh_points(v if c == 0 else bank.landmarks[c - 1], l[None], size)
                images.append(crop if c == 0 else bank.crops[c - 1])
                src_pts.append(src)
                dst_pts.append(dst[0])
            jobs.append((transform, crop, v, l, len(images) - len(picks), np.array(picks)))
        if images:
            warped = warp_pairs(images, src_pts, dst_pts, self.mesh)
        # How much of the lips the generator paints: all of them, or only as far as no frame shows the mouth.
        paint = np.ones(len(frames)) if mouth == "generate" else \
            np.clip((best - GENERATOR_FROM) / (GENERATOR_FULL - GENERATOR_FROM), 0.0, 1.0)
        use_generator = np.any((alpha > 0) & ((paint > 0) if mouth == "fetch" else True))
        painted = generate(np.stack([self._crop_target(video[j], target[j], size) for j in range(len(frames))])) \
            if use_generator else None
        bank_shapes = bank.shapes
        fetches = []  # per edited frame: the candidates, colour-matched to the frame around the lips
        for j, job in enumerate(jobs):
            if job is None:
                continue
            _, _, _, l, first, picks = job
            lips, band = lip_masks(l, size)
            w = weights[j][picks]
            fetches.append(FetchJob(match_colour(warped[first:first + len(picks)], band),
                                    self._candidate_distances(video[j], target[j], picks, bank_shapes),
                                    w / w.sum() if w.sum() > 0 else np.eye(len(w), dtype=np.float32)[0], l, lips))
        edited = iter(zip(fetches, self._blend_weights(fetches, mouth)))
        out = []
        for j, frame in enumerate(frames):
            job = jobs[j]
            if job is None:
                out.append(frame)
                continue
            transform, crop, v, l, first, _ = job
            fetch, blend = next(edited)
            own = fetch.candidates[0]
            fetched = np.einsum("chw,chwk->hwk", blend, fetch.candidates)
            result = own + fetch.lips[..., None] * (fetched - own)
            if painted is not None:
                region = generator_region(mouth, hull_mask([l[CHIN_TO_NOSE]], size, size / 42), fetch.lips, paint[j])
                result = result + region[..., None] * (painted[j].astype(np.float32) - result)
            result = np.clip(np.rint(result), 0, 255).astype(np.uint8)
            edit = hull_mask([v[JAW_REGION], l[JAW_REGION]], size, size / 32) * alpha[j]
            out.append(FacePaster(frame, transform, crop, mask=edit).paste(result))
        return out

    def _blend_weights(self, fetches: list[FetchJob], mouth: str) -> list[np.ndarray]:
        """Per frame (C, N, N) weights of its fetched candidates: each one's shape-distance weight everywhere
        (blend "shape"), or the learned attention's per-pixel weights (blend "learned")."""
        if self.attention is None or mouth == "generate":
            return [np.broadcast_to(f.weights[:, None, None], (len(f.weights), *f.lips.shape)) for f in fetches]
        return pixel_weights(self.attention, fetches)

    @staticmethod
    def _candidate_distances(video_lmk: np.ndarray, target_lmk: np.ndarray, picks: np.ndarray,
                             bank_shapes: np.ndarray) -> np.ndarray:
        """Shape distance of each picked candidate's mouth (the frame's own, then bank entries) to the target's."""
        shapes = np.concatenate([mouth_shapes(video_lmk)[None], bank_shapes[picks[1:] - 1]])
        return shape_distance(mouth_shapes(target_lmk), shapes)

    @staticmethod
    def _crop_target(video_lmk: np.ndarray, target_lmk: np.ndarray, size: int) -> np.ndarray:
        return crop_transform(video_lmk, size).to_crop(target_lmk).astype(np.float32)

    # -- whole job ------------------------------------------------------------------------------
    def dub(self, video: str | os.PathLike, wave: np.ndarray, out: str | os.PathLike | None,
            face_index: int | None = None, fit: str = "loop", progress: bool = False,
            audio_file: str | os.PathLike | None = None, voice_gate: bool = True,
            expression: ExpressionPlan | None = None):
        """Dub a video file with a 16 kHz mono waveform. out=None returns (frames list, DubResult) instead.
        `audio_file`, when given, is the recording `wave` was read from: its own audio (rate, channels) goes
        into the video, cut or padded to the frames. voice_gate False: the mouth follows every sound (singing)."""
        if fit not in ("loop", "trim"):
            raise TalkfaceError(f"fit must be 'loop' or 'trim', got {fit!r}")
        if len(wave) == 0:
            raise TalkfaceError("audio: no samples (empty recording)")
        info = probe_video(video)
        track = self.track(info, face_index, progress)
        plan = self.plan(track, wave, fit, voice_gate, expression)
        result = DubResult(Path(out) if out else None, len(plan.source_index), info.fps, (info.width, info.height),
                           int((~track.found).sum()), int(track.occluded.sum()), len(track.bank), plan.loop is not None,
                           self.mouth_for(track), plan.motion_gain, self.audio2lmk_name, self.lmk2video_name)
        frames = self.frames(track, plan, progress)
        if out is None:
            return list(frames), result
        # n_frames: the frames stream straight into the encoder (never all in memory)
        write_video(out, frames, info.fps, audio=audio_file if audio_file is not None else plan.wave,
                    sample_rate=SAMPLE_RATE, n_frames=len(plan.source_index))
        return result

    def dub_files(self, video: str | os.PathLike, audio: str | os.PathLike, out: str | os.PathLike,
                  face_index: int | None = None, fit: str = "loop", progress: bool = False,
                  voice_gate: bool = True, expression: ExpressionPlan | None = None) -> DubResult:
        require_file(video)
        require_file(audio)
        out = check_output(out, [video, audio], OUTPUT_VIDEO_SUFFIXES)
        wave = read_audio(audio, SAMPLE_RATE)
        return self.dub(video, wave, out, face_index=face_index, fit=fit, progress=progress, audio_file=audio,
                        voice_gate=voice_gate, expression=expression)
