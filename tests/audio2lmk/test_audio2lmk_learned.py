"""Learned audio2lmk: PCA motion basis, nets, chunked inference, identity, silence, checkpoints, training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audio2lmk.features import model_mel, utterance_level
from audio2lmk.learned import (CHUNK_FRAMES, SHIPPED_CHECKPOINT, LearnedAudio2Lmk, chunk_starts, chunk_weights,
                               load_checkpoint)
from audio2lmk.models import Audio2LmkNet
from audio2lmk.pca import MOTION_POINTS, MotionPCA, OpenMouthCorrection, clip_motion
from audio2lmk.train import Audio2LmkConfig, train
from talkface.audio import SAMPLE_RATE
from talkface.audio_features import mel_per_video_frame, quantise_mel
from talkface.checkpoint import save_checkpoint, save_model
from talkface.errors import CheckpointError, MediaError, TalkfaceError
from talkface.landmarks.indices import STABLE_POINTS, mouth_opening
from talkface.landmarks.normalize import MEAN_SHAPE, Similarity, to_normalised
from talkface.media import write_audio
from talkface.speech import Speech

STABLE = list(STABLE_POINTS)
MOVING = list(MOTION_POINTS)
UPPER_INNER, LOWER_INNER = [61, 62, 63], [67, 66, 65]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def face(scale: float, angle: float, shift: tuple[float, float], seed: int) -> np.ndarray:
    """A (68, 2) face in image coordinates: the mean shape with its own identity wobble, posed."""
    shape = MEAN_SHAPE + np.random.default_rng(seed).normal(0, 0.03, (68, 2)).astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    sim = Similarity(np.array(scale), np.array([[c, -s], [s, c]]), np.array(shift))
    return sim.apply(shape).astype(np.float32)


def speech_like(seconds: float, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Voiced harmonics under a syllable-rate envelope, with pauses: enough to drive a net."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.7 * t)
    voice = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / sample_rate) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 3.1 * t) + 0.3 * np.sin(2 * np.pi * 0.45 * t), 0, None)
    return (0.2 * envelope * voice + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def tiny_net(kind: str = "tcn", seed: int = 0, head_pose: bool = False) -> Audio2LmkNet:
    """A random (untrained) net whose outputs are not zero, with a random orthonormal motion basis."""
    torch.manual_seed(seed)
    net = Audio2LmkNet(kind, n_components=6, n_points=len(MOVING), hidden=16, layers=1, dilations=(1, 2, 4),
                       head_pose=head_pose)
    torch.nn.init.normal_(net.head.weight, std=0.3)
    basis = np.linalg.qr(np.random.default_rng(seed).standard_normal((2 * len(MOVING), 6)))[0].T
    net.set_pca(MotionPCA(basis.astype(np.float32), np.full(6, 0.05, np.float32)))
    net.set_input_statistics(np.full(80, -4.0), np.full(80, 3.0), 0.0)
    direction = np.zeros((len(MOVING), 2), np.float32)
    direction[[MOVING.index(p) for p in LOWER_INNER], 1] = 1.0  # opening = the lower lip going down
    net.set_open_correction(OpenMouthCorrection(direction, 0.15))  # MEAN_SHAPE's lips part by ~0.09
    return net.eval()


# ------------------------------------------------------------------------------------- PCA


def test_pca_roundtrip_on_low_rank_motion():
    rng = np.random.default_rng(0)
    motion = (rng.standard_normal((300, 4)) @ rng.standard_normal((4, 2 * len(MOVING)))).reshape(300, -1, 2)
    pca = MotionPCA.fit(motion, 4)
    assert np.allclose(pca.components @ pca.components.T, np.eye(4), atol=1e-5)
    assert np.allclose(pca.decode(pca.encode(motion)), motion, atol=1e-4)
    assert pca.explained_variance(motion) > 0.9999
    assert np.allclose(np.sqrt((pca.encode(motion) ** 2).mean(0)), 1.0, atol=1e-3)  # whitened coefficients
    with pytest.raises(TalkfaceError):
        MotionPCA.fit(motion, 0)


def test_clip_motion_is_about_the_first_frame_and_free_of_identity():
    t = 30
    drop = np.zeros((t, 68, 2), np.float32)
    drop[10:, [8, 57, 66, 65, 67], 1] = 0.1 * np.sin(np.arange(t - 10) / 3)[:, None] ** 2
    motions = []
    for seed, (scale, angle) in enumerate([(80.0, 0.05), (120.0, -0.1)]):
        source = face(scale, angle, (200.0, 150.0), seed)
        norm, sim = to_normalised(source)
        track = sim.inverse().apply(norm + drop)  # the same normalised motion on a different face and pose
        motion, rest = clip_motion(track)
        assert np.allclose(rest, norm, atol=1e-4)
        motions.append(motion)
    assert np.abs(motions[0][:10]).max() < 1e-4
    assert np.allclose(motions[0], motions[1], atol=1e-4)
    assert np.allclose(motions[0], drop[:, MOVING], atol=1e-4)


# ------------------------------------------------------------------------------------ nets


@pytest.mark.parametrize("kind", ["lstm", "tcn"])
def test_forward_shapes_for_several_lengths(kind):
    net = tiny_net(kind)
    for length in (1, 7, 75, 131):
        mel = torch.randn(2, length, 4, 80) - 4
        coeffs = net(mel, torch.zeros(2))
        assert coeffs.shape == (2, length, 6)
        assert net.decode(coeffs).shape == (2, length, len(MOVING), 2)
    with pytest.raises(CheckpointError):
        Audio2LmkNet("gru")


def test_untrained_net_starts_at_rest():
    net = Audio2LmkNet("tcn", n_components=6, hidden=16, dilations=(1, 2))
    assert torch.count_nonzero(net(torch.randn(1, 20, 4, 80), torch.zeros(1))) == 0


# ------------------------------------------------------------------------------- inference


def test_identity_does_not_leak_and_output_length():
    model = LearnedAudio2Lmk(tiny_net())
    audio = speech_like(2.0)
    faces = [face(90.0, 0.0, (180.0, 140.0), 1), face(140.0, 0.2, (300.0, 260.0), 2)]
    motions = []
    for source in faces:
        track = model(Speech.of(audio, SAMPLE_RATE), source, blink=False, head_motion=False)
        assert track.shape == (50, 68, 2) and track.dtype == np.float32
        assert np.array_equal(track[:, STABLE], np.repeat(source[None, STABLE], 50, axis=0))
        norm_track, norm_source = to_normalised(track)[0], to_normalised(source)[0]
        motions.append(norm_track[:, MOVING] - norm_source[MOVING])
    assert np.abs(motions[0]).max() > 0.01  # the mouth moves ...
    assert np.allclose(motions[0], motions[1], atol=2e-4)  # ... in the same way on both faces
    assert len(model(Speech.of(audio, 44100), faces[0], fps=30.0)) == round(len(audio) / 44100 * 30)
    with pytest.raises(MediaError, match="too short for one frame"):  # as the phonetic model (talkface.contracts)
        model(Speech.of(np.zeros(100, np.float32), SAMPLE_RATE), faces[0])


def test_chunk_layout_covers_with_enough_overlap():
    for n in (CHUNK_FRAMES + 1, 201, 500, 1234):
        starts = chunk_starts(n)
        assert starts[0] == 0 and starts[-1] + CHUNK_FRAMES == n
        assert all(b - a <= CHUNK_FRAMES - 40 for a, b in zip(starts, starts[1:]))
        total = np.zeros(n)
        for s, w in zip(starts, chunk_weights(starts, CHUNK_FRAMES)):
            total[s:s + CHUNK_FRAMES] += w
        assert total.min() > 0.2


@pytest.mark.parametrize("kind", ["tcn", "lstm"])
def test_chunked_long_input_matches_short_single_pass_without_seams(kind):
    # the windows against one pass of the net: no voice gate (to the detector this synthetic buzz is partly not a voice)
    model = LearnedAudio2Lmk(tiny_net(kind), {"calibration": {"voice_gate": False}})
    long_audio = speech_like(12.0)  # 300 frames: three overlapping windows
    long_motion = model.predict(long_audio)[0]
    short_motion = model.predict(long_audio[: 4 * SAMPLE_RATE])[0]  # 100 frames: one window
    scale = np.abs(short_motion).max()
    assert np.abs(long_motion[:60] - short_motion[:60]).max() < 0.05 * scale

    mel = model_mel(long_audio, len(long_motion))  # one pass over everything: what the windows approximate
    whole = model.net.decode(model.net(mel, utterance_level(mel)))
    assert np.abs(long_motion - whole).max() < 0.1 * scale

    speed = np.linalg.norm(np.diff(long_motion, axis=0), axis=-1).mean(axis=-1)
    starts = chunk_starts(len(long_motion))
    borders = sorted({s for s in starts[1:]} | {s + CHUNK_FRAMES - 1 for s in starts[:-1]})
    elsewhere = np.delete(speed, [b + d for b in borders for d in (-1, 0) if 0 <= b + d < len(speed)])
    assert speed[borders].max() <= elsewhere.max()


def test_silence_gives_a_closed_still_mouth():
    model = LearnedAudio2Lmk(tiny_net())
    closed = face(100.0, 0.1, (200.0, 180.0), 3)
    silence = np.zeros(int(2.5 * 44100), np.float32)  # any rate: resampled to 16 kHz
    track = model(Speech.of(silence, 44100), closed, blink=False, head_motion=False)
    assert track.shape == (62, 68, 2)
    assert np.allclose(track, closed[None], atol=1e-4)  # closed source stays exactly as it was

    norm, sim = to_normalised(closed)
    opened = norm.copy()
    opened[LOWER_INNER, 1] += 0.2
    opened_face = sim.inverse().apply(opened)
    assert mouth_opening(opened) > 0.2
    track = model(Speech.of(silence, 44100), opened_face, blink=False, head_motion=False)
    assert np.all(mouth_opening(track) <= 0.15 + 1e-2)  # an open photo is closed to rest ...
    assert np.abs(np.diff(track, axis=0)).max() < 1e-4  # ... and stays still


@pytest.mark.skipif(not SHIPPED_CHECKPOINT.is_file(), reason="no shipped audio2lmk checkpoint yet")
def test_shipped_checkpoint_keeps_a_quiet_recording_closed():
    model = load_checkpoint()
    source = face(100.0, 0.0, (200.0, 180.0), 4)
    quiet = (10 ** (-60 / 20) * np.random.default_rng(0).standard_normal(3 * SAMPLE_RATE)).astype(np.float32)
    track = model(Speech.of(quiet, SAMPLE_RATE), source, blink=False, head_motion=False)
    assert np.all(mouth_opening(track) < mouth_opening(source) + 0.03)
    speech = model(Speech.of(speech_like(3.0), SAMPLE_RATE), source, blink=False, head_motion=False)
    assert np.ptp(mouth_opening(speech)) > 0.02


# ------------------------------------------------------------------------------ checkpoints


def test_checkpoint_save_load_roundtrip(tmp_path):
    net = tiny_net("lstm", seed=3)
    path = save_model(tmp_path / "a2l", net)
    loaded = load_checkpoint(path)
    audio = speech_like(1.5, seed=1)
    source = face(100.0, 0.0, (150.0, 150.0), 5)
    expected = LearnedAudio2Lmk(net)(Speech.of(audio, SAMPLE_RATE), source, seed=7)
    assert np.array_equal(loaded(Speech.of(audio, SAMPLE_RATE), source, seed=7), expected)

    save_checkpoint(tmp_path / "other", net.state_dict(), {"config": {}})
    with pytest.raises(CheckpointError, match="not a checkpoint of the audio2lmk model"):
        load_checkpoint(tmp_path / "other.safetensors")
    save_checkpoint(tmp_path / "wrong", tiny_net("tcn").state_dict(), {"arch": net.arch})  # the older sidecar schema
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(tmp_path / "wrong.safetensors")


# ----------------------------------------------------------------------------- training smoke


def make_prepared_set(root: Path, ids: list[str], n_frames: int = 40) -> None:
    """A tiny prepared folder (`talkface prepare grid` layout) whose mouth opens with the audio's loudness."""
    clips = {}
    base = face(40.0, 0.0, (64.0, 50.0), 0)
    for k, clip_id in enumerate(ids):
        folder = root / "s1" / clip_id
        folder.mkdir(parents=True)
        audio = speech_like(n_frames / 25.0, seed=k)
        audio[: SAMPLE_RATE // 4] *= 0.01  # a quiet lead-in: the clip's rest
        mel = mel_per_video_frame(audio, SAMPLE_RATE, n_frames)
        loud = np.clip((mel.mean(axis=(1, 2)) + 8) / 6, 0, 1)
        lmk = np.repeat(base[None], n_frames, axis=0)
        lmk[:, [57, 8, 65, 66, 67], 1] += 6.0 * loud[:, None]
        fixed = np.round(lmk / (1 / 16)).astype(np.int16)
        np.savez_compressed(folder / "track.npz", crop_landmarks_delta=np.concatenate([fixed[:1], np.diff(fixed, axis=0)]),
                            landmark_step=np.float32(1 / 16), crop_matrix=np.eye(2, 3), fps=np.float32(25),
                            image_size=np.array([128, 128]))
        np.savez_compressed(folder / "mel.npz", mel_u8=quantise_mel(mel))
        write_audio(folder / "audio.opus", audio, SAMPLE_RATE, bitrate="24k")
        (folder / "words.json").write_text(json.dumps({"transcript": "", "words": []}))
        clips[clip_id] = {"speaker": "s1", "n_frames": n_frames, "status": "ok"}
    clips["bbizzn"] = {"speaker": "s1", "status": "skipped", "reason": "damaged"}
    (root / "manifest.json").write_text(json.dumps({"size": 128, "fps": 25, "clips": clips}))


def write_grid_splits(grid_root: Path, train_ids: list[str], test_ids: list[str]) -> Path:
    """The corpus's split lists (`splits/s1_train.txt`, `s1_test.txt`) under grid_root; returns the splits folder."""
    splits = grid_root / "splits"
    splits.mkdir(parents=True, exist_ok=True)
    (splits / "s1_train.txt").write_text("\n".join(train_ids) + "\n")
    (splits / "s1_test.txt").write_text("\n".join(test_ids) + "\n")
    return splits


def test_training_smoke_run_resume_and_evaluation(tmp_path):
    from audio2lmk.evaluate import run_eval_audio2lmk

    train_ids = ["bbaf2n", "bbaf3s", "bgaa6n", "lrae3s", "pgwr6p", "sbbh4p", "bbizzn"]
    test_ids = ["lwaz5a"]
    make_prepared_set(tmp_path / "prepared", train_ids[:-1] + test_ids)
    splits = write_grid_splits(tmp_path / "grid", train_ids, test_ids)
    config = Audio2LmkConfig(prepared=str(tmp_path / "prepared"), grid_root=str(tmp_path / "grid"),
                             out_dir=str(tmp_path / "run"), hidden=16, dilations=[1, 2], n_components=4,
                             batch_size=3, val_fraction=0.2, max_epochs=2, max_pad_frames=5, threads=1)
    best = train(config)
    meta = json.loads(best.with_suffix(".json").read_text())
    assert meta["data"]["n_train"] == 5 and len(meta["data"]["val_ids"]) == 1
    assert meta["data"]["excluded"] == {"bbizzn": "damaged"}
    assert set(meta["data"]["val_ids"]).isdisjoint(test_ids)
    assert meta["config"]["kind"] == "tcn" and meta["step"] > 0 and "val_mouth_lmd" in meta["val"]
    assert meta["hardware"]["device"] == meta["train_config"]["run"]["device"] == "cpu"  # the device it ran on
    assert (tmp_path / "run" / "log.csv").read_text().count("\n") == 3

    config.max_epochs = 3  # resume: one more epoch, continuing the logged run
    train(config)
    last = json.loads((tmp_path / "run" / "last.json").read_text())
    assert last["progress"]["epoch"] == 2 and last["progress"]["step"] == 3 * 2
    assert (tmp_path / "run" / "log.csv").read_text().count("\n") == 4

    result = run_eval_audio2lmk(best, tmp_path / "prepared", "test", tmp_path / "eval", grid_root=tmp_path / "grid")
    assert result["clips"] == test_ids and set(result["summary"]) >= {"learned", "still"}
    assert result["summary"]["still"]["mouth_opening_corr"] == 0.0
    assert (tmp_path / "eval" / "audio2lmk_test.md").read_text().count("| still |") == 1

    (splits / "s1_train.txt").write_text("\n".join(train_ids + test_ids) + "\n")
    with pytest.raises(TalkfaceError, match="also in"):
        train(config)
