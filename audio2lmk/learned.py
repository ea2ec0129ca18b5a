"""The learned audio2lmk stage: speech -> normalised mouth/jaw motion (a trained net) -> the source face.

Same call as PhoneticAudio2Lmk. Works on any length (overlapping windows, crossfaded so no seam
shows), any sample rate (resampled to 16 kHz) and any fps (the net runs at 25 fps; the motion is
resampled in time). Digital silence is gated to rest, so a silent track keeps the mouth closed
and still whatever the net does, and the mouth closes wherever a multi-speaker voice-activity
detector hears no one speaking (audio2lmk.voice_activity: music, noise) while the head keeps moving.
Motion is added to the source's own normalised shape (its
mouth first closed if the photo shows it open) and mapped back with the source's similarity,
so the identity's shape is exactly the source's. Nets trained with a head-pose output also move
the whole face as the speaker's head moves with speech (audio2lmk.head_pose); that replaces the
random idle sway, and `head_motion=False` keeps the head exactly where the photo has it.

Everything here is numpy; the network itself is a MotionNet (audio2lmk.motion_net) run by ONNX Runtime (the
product: audio2lmk.onnx_net) or torch (training, `--backend torch`: audio2lmk.torch_net).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from audio2lmk.calibration import active_frames, amplitude_gain, sharpen
from audio2lmk.features import frames_for, model_mel, moving_average, silence_gate, utterance_level
from audio2lmk.head_pose import apply_pose
from audio2lmk.idle import apply_blinks, apply_head_motion, blink_curve
from audio2lmk.inputs import net_input, phone_ids, phone_speech_gate
from audio2lmk.motion_net import MotionNet
from audio2lmk.phonemes import Phone, PhoneDecoder
from audio2lmk.pca import MOTION_POINTS
from audio2lmk.shipped import SHIPPED_CHECKPOINT, uses_phones
from audio2lmk.speech_encoder import check_encoder, encoder_name, shared_encoder
from audio2lmk import voice_activity
from talkface.audio import FPS, SAMPLE_RATE
from talkface.contracts import check_audio2lmk_inputs
from talkface.landmarks.normalize import from_normalised, to_normalised
from talkface.speech import Speech

CHUNK_FRAMES = 120  # 4.8 s windows: about what the nets were trained on
OVERLAP_FRAMES = 40  # at least this much shared context between neighbouring windows
POSE_GATE_FRAMES = 25  # the head settles back over ~1 s of digital silence (the mouth within 3 frames)


def chunk_starts(n_frames: int, chunk: int = CHUNK_FRAMES, overlap: int = OVERLAP_FRAMES) -> list[int]:
    """Window starts covering n_frames, evenly spread so every overlap is >= `overlap`."""
    if n_frames <= chunk:
        return [0]
    count = int(np.ceil((n_frames - overlap) / (chunk - overlap)))
    return [int(s) for s in np.round(np.linspace(0, n_frames - chunk, count))]


def chunk_weights(starts: list[int], chunk: int) -> list[np.ndarray]:
    """Per-window blend weights: linear ramps across each overlap with a neighbour, 1 elsewhere.

    Weights stay positive, so their normalised sum blends neighbours smoothly (no seam) and
    frames near a window's edge, where the net saw little context, count least.
    """
    j = np.arange(chunk) + 0.5
    weights = []
    for i, start in enumerate(starts):
        w = np.ones(chunk)
        if i > 0:
            w *= np.clip(j / (starts[i - 1] + chunk - start), 0.0, 1.0)
        if i + 1 < len(starts):
            w *= np.clip((chunk - j) / (start + chunk - starts[i + 1]), 0.0, 1.0)
        weights.append(w)
    return weights


def resample_time(motion: np.ndarray, n_out: int, fps: float) -> np.ndarray:
    """(N, ...) motion at FPS -> (n_out, ...) at fps, linear in time, held at the ends."""
    if n_out == len(motion) and fps == FPS:
        return motion
    src_t = np.arange(len(motion)) / FPS
    dst_t = np.arange(n_out) / fps
    flat = motion.reshape(len(motion), -1)
    out = np.stack([np.interp(dst_t, src_t, flat[:, c]) for c in range(flat.shape[1])], axis=1)
    return out.reshape(n_out, *motion.shape[1:]).astype(np.float32)


class LearnedAudio2Lmk:
    """`model(speech, source_landmarks) -> (T, 68, 2)` landmark track, T = round(duration*fps)."""

    def __init__(self, net, meta: dict | None = None, device: str = "cpu"):
        """net: a MotionNet, or a trained Audio2LmkNet / Audio2LmkEnsemble (run by torch on `device`)."""
        if not isinstance(net, MotionNet):
            from audio2lmk.torch_net import TorchMotionNet

            net = TorchMotionNet(net, device)
        self.net = net
        self.meta = meta or {}
        # Amplitude calibration fitted after training (audio2lmk.calibration): a fixed scale on the motion (the
        # net's shrink on held-out clips) and/or the real opening spread each utterance's motion is brought up to.
        calibration = self.meta.get("calibration", {})
        self.motion_gain = float(calibration.get("motion_gain", 1.0))
        self.opening_std = calibration.get("opening_std")
        self.sharpen = float(calibration.get("sharpen", 0.0))  # unsharp mask in time (audio2lmk.calibration.sharpen)
        # Nets whose input does not say whether there is speech (steady noise, music) are gated by the phones
        # the multi-speaker decoder hears (audio2lmk.inputs.phone_speech_gate).
        self.phone_gate = bool(calibration.get("phone_gate", False))
        # Every net's mouth is closed where the voice-activity detector hears no voice (sidecar `voice_gate`: false
        # switches it off): the nets, trained on one speaker, cannot tell music from another person's voice.
        self.voice_gate = bool(calibration.get("voice_gate", True))
        self._decoder: PhoneDecoder | None = None  # phone-input nets only, built on first use
        self._decoder_lock = threading.Lock()

    def _phones(self, wave16k: np.ndarray, n_frames: int) -> np.ndarray:
        with self._decoder_lock:
            if self._decoder is None:
                self._decoder = PhoneDecoder()
            return phone_ids(self._decoder(wave16k, SAMPLE_RATE), n_frames)

    @property
    def uses_phones(self) -> bool:
        return uses_phones(self.net.features, self.phone_gate)

    @property
    def predicts_head_pose(self) -> bool:
        """True when head motion comes from the speech (deterministic), not from random sway."""
        return self.net.head_pose

    def __call__(self, speech: Speech, source_landmarks: np.ndarray, fps: float = FPS, blink: bool = True,
                 head_motion: bool = True, seed: int = 0, voice_gate: bool = True) -> np.ndarray:
        """speech: the recording analysed once (talkface.speech); its phones are used by phone-input or
        phone-gated nets, its voice activity by the voice gate. voice_gate False: the mouth follows every sound
        (singing)."""
        source = check_audio2lmk_inputs(speech, source_landmarks, fps)
        n_out = speech.frames(fps)
        n_model = n_out if fps == FPS else int(np.ceil((n_out - 1) * FPS / fps)) + 1
        motion, pose = self.predict(speech.wave, n_model, speech.phones, voice_gate, speech.heard)
        pose = resample_time(pose, n_out, fps) if pose is not None and head_motion else None
        track = self.place(resample_time(motion, n_out, fps), source, pose)
        if blink:
            apply_blinks(track, blink_curve(n_out, fps, np.random.default_rng([seed, 0])))
        if head_motion and not self.predicts_head_pose:
            track = apply_head_motion(track, fps, np.random.default_rng([seed, 1]))
        return track.astype(np.float32)

    def predict(self, wave16k: np.ndarray, n_frames: int | None = None, phones: list[Phone] | None = None,
                voice_gate: bool = True, heard: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Normalised motion (n_frames, P, 2) and, for nets with a pose output, head poses (n_frames, 4)
        at 25 fps. Windows of CHUNK_FRAMES are crossfaded; digital silence returns mouth and head to rest.
        phones, heard: the recording's phones and voice activity when already found (else found here)."""
        n = frames_for(wave16k) if n_frames is None else n_frames
        mel = model_mel(wave16k, n)
        level = utterance_level(mel)
        ids = None
        if self.uses_phones:
            ids = self._phones(wave16k, n) if phones is None else phone_ids(phones, n)
        name = encoder_name(self.net.features)
        x = net_input(self.net.features, mel, ids, shared_encoder(name).frames(wave16k, n) if name else None)
        starts = chunk_starts(n)
        size = min(n, CHUNK_FRAMES)
        outputs = np.zeros((n, self.net.out_features), np.float32)
        total = np.zeros((n, 1), np.float32)
        for start, w in zip(starts, chunk_weights(starts, size)):
            w = w.astype(np.float32)[:, None]
            outputs[start:start + size] += w * self.net(x[start:start + size], level)
            total[start:start + size] += w
        outputs /= total
        gate = silence_gate(wave16k, n)
        # the speech gates close the mouth only: the head keeps the pose it had between words, as real ones do
        mouth_gate = gate * phone_speech_gate(ids) if self.phone_gate else gate
        if self.voice_gate and voice_gate:
            mouth_gate = mouth_gate * voice_activity.voice_gate(wave16k, n, heard)
        # the held-out shrink first (every utterance alike), then the per-utterance floor (audio2lmk.calibration)
        motion = self.motion_gain * sharpen(self.net.decode(outputs), self.sharpen)
        gain = amplitude_gain(motion, active_frames(mel, mouth_gate), self.opening_std)
        motion = motion * (gain * mouth_gate[:, None, None])
        if not self.predicts_head_pose:
            return motion, None
        slow_gate = moving_average(gate, POSE_GATE_FRAMES)
        return motion, self.net.decode_pose(outputs) * slow_gate[:, None]

    def place(self, motion: np.ndarray, source: np.ndarray, pose: np.ndarray | None = None) -> np.ndarray:
        """Add (T, P, 2) normalised motion to the source face (68, 2) at rest, move it by (T, 4) head
        poses if given -> (T, 68, 2) image coordinates."""
        norm_source, sim = to_normalised(source)
        rest = self.net.open_correction().close(norm_source)
        points = list(MOTION_POINTS)
        norm = np.repeat(rest[None], len(motion), axis=0)
        norm[:, points] += motion
        if pose is not None:
            return from_normalised(apply_pose(norm, pose), sim)
        track = np.repeat(np.asarray(source, np.float32)[None], len(motion), axis=0)
        track[:, points] = from_normalised(norm, sim)[:, points]  # stable points stay exactly the source's
        return track


def load_checkpoint(path: str | os.PathLike = SHIPPED_CHECKPOINT, device: str = "cpu",
                    backend: str = "torch") -> LearnedAudio2Lmk:
    """A LearnedAudio2Lmk from an audio2lmk checkpoint, one net or an ensemble of them (audio2lmk.ensemble).
    backend "torch" reads the safetensors (training, evaluation: a fresh checkpoint has no export yet), "onnx" the
    export beside it (`<stem>.onnx`, made by scripts/export_onnx.py; no torch: audio2lmk.onnx_net)."""
    if backend == "onnx":
        from audio2lmk.onnx_net import OnnxMotionNet
        from talkface.onnx_runtime import check_current, export_of

        onnx_path = export_of(path)
        net = OnnxMotionNet(onnx_path, device)
        if Path(path) != SHIPPED_CHECKPOINT:  # the shipped pair is checked by the tests, a user's may be stale
            check_current(net.session, onnx_path, path)
        check_encoder(net.features, net.meta.get("speech_encoder"), str(path))
        return LearnedAudio2Lmk(net, net.meta, device)
    if backend != "torch":
        raise ValueError(f"audio2lmk backend {backend!r}: expected 'onnx' or 'torch'")
    from audio2lmk.ensemble import load_net

    net, meta = load_net(path, device)
    check_encoder(net.features, meta.get("speech_encoder"), str(path))
    return LearnedAudio2Lmk(net, meta, device)
