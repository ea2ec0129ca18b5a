"""Speaker-independent inputs of the learned audio2lmk nets (audio2lmk.inputs), their augmentation,
nets and inference on them, and a training smoke run on phones + cepstra with the amplitude loss."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audio2lmk.augment import perturb_phones
from audio2lmk.features import model_mel
from talkface.audio import SAMPLE_RATE
from audio2lmk.inputs import (N_CEPSTRA, SILENCE_PHONE, cepstra, envelope, n_inputs, net_input, phone_ids,
                              phone_speech_gate)
from audio2lmk.learned import LearnedAudio2Lmk, load_checkpoint
from audio2lmk.models import Audio2LmkNet
from audio2lmk.pca import MOTION_POINTS, MotionPCA, OpenMouthCorrection
from audio2lmk.phonemes import PHONE_SET, Phone
from audio2lmk.train import Audio2LmkConfig, train
from talkface.audio_features import N_MELS
from talkface.checkpoint import save_model
from talkface.errors import CheckpointError
from talkface.landmarks.indices import mouth_opening
from talkface.speech import Speech
from test_audio2lmk_learned import face, make_prepared_set, speech_like, write_grid_splits

MOVING = list(MOTION_POINTS)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_envelope_and_cepstra_ignore_loudness_and_the_voices_average_spectrum():
    mel = model_mel(speech_like(2.0), 50)
    tilt = np.linspace(-2.0, 1.5, 80, dtype=np.float32)  # another channel / vocal tract on average
    np.testing.assert_allclose(envelope(mel + 2.0), envelope(mel), atol=1e-5)
    np.testing.assert_allclose(cepstra(mel + 2.0 + tilt), cepstra(mel), atol=1e-3)
    env = envelope(mel)
    assert env.shape == (50, 4, 1) and env.min() >= 0 and env.max() <= 1 and env.max() == 1.0
    assert cepstra(mel).shape == (50, 4, N_CEPSTRA)


def test_normalised_mel_ignores_the_voices_average_spectrum_but_keeps_its_detail():
    mel = model_mel(speech_like(2.0), 50)
    tilt = np.linspace(-2.0, 1.5, 80, dtype=np.float32)
    x = net_input("normmel", mel)
    assert x.shape == (50, 4, N_MELS + 1)
    np.testing.assert_allclose(net_input("normmel", mel + 2.0 + tilt)[..., :N_MELS], x[..., :N_MELS], atol=1e-3)
    speech = x[..., -1] > 0.5  # envelope: the frames the normalisation is fitted on
    assert abs(float(x[..., :N_MELS][speech].mean())) < 0.2
    # unlike the 19 cepstra, every mel bin survives: a narrow-band change moves the bins it touches only
    bumped = mel.copy()
    bumped[:25, :, 40] += 3.0
    changed = np.abs(net_input("normmel", bumped) - x)[:25, :, :N_MELS].mean(axis=(0, 1))
    assert changed.argmax() == 40 and changed[40] > 5 * np.delete(changed, 40).max()


def test_phone_ids_and_net_input_layout():
    phones = [Phone("M", 0.10, 0.18), Phone("AA", 0.18, 0.40)]
    ids = phone_ids(phones, 5)  # 5 video frames = 20 sub-frames of 10 ms
    flat = ids.reshape(-1)
    assert ids.shape == (5, 4)
    assert (flat[:10] == SILENCE_PHONE).all() and (flat[10:18] == PHONE_SET.index("M")).all()
    assert (flat[18:] == PHONE_SET.index("AA")).all()
    mel = model_mel(speech_like(0.2), 5)
    for kind in ("phones", "cepstra", "phones+cepstra", "mel", "normmel", "phones+normmel", "cmnmel"):
        x = net_input(kind, mel, ids)
        assert x.shape == (5, 4, n_inputs(kind)) and np.isfinite(x).all()
    assert np.array_equal(net_input("phones", mel, ids)[..., :len(PHONE_SET)].argmax(-1), ids)
    with pytest.raises(ValueError):
        n_inputs("pitch")
    with pytest.raises(CheckpointError):
        Audio2LmkNet(features="pitch")


def test_perturb_phones_substitutes_segments_and_shifts_time():
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(10) % len(PHONE_SET), 8).reshape(20, 4)
    assert np.array_equal(perturb_phones(ids, rng, 0.0, max_shift=0), ids)
    changed = [np.mean(perturb_phones(ids, np.random.default_rng(s), 1.0, max_shift=0) != ids) for s in range(5)]
    assert np.mean(changed) > 0.8  # nearly every segment replaced (a random draw may hit the same phone)
    shifted = perturb_phones(ids, rng, 0.0, max_shift=2)
    assert shifted.shape == ids.shape
    assert np.mean(shifted != ids) <= 2 * 10 / ids.size + 1e-9  # at most 2 sub-frames at each of 10 boundaries


def _tiny(features: str) -> Audio2LmkNet:
    torch.manual_seed(0)
    net = Audio2LmkNet("tcn", n_components=6, n_points=len(MOVING), hidden=16, dilations=(1, 2), features=features)
    torch.nn.init.normal_(net.head.weight, std=0.3)
    basis = np.linalg.qr(np.random.default_rng(0).standard_normal((2 * len(MOVING), 6)))[0].T
    net.set_pca(MotionPCA(basis.astype(np.float32), np.full(6, 0.05, np.float32)))
    net.set_open_correction(OpenMouthCorrection(np.zeros((len(MOVING), 2), np.float32), 0.15))
    return net.eval()


@pytest.mark.parametrize("features", ["phones", "cepstra", "normmel", "cmnmel"])
def test_speaker_free_nets_run_the_stage_contract(features, tmp_path):
    source = face(100.0, 0.0, (200.0, 180.0), 1)
    model = LearnedAudio2Lmk(_tiny(features))
    track = model(Speech.of(speech_like(2.0, 8000), 8000), source, fps=30.0, blink=False, head_motion=False)
    assert track.shape == (60, 68, 2) and np.isfinite(track).all()
    assert np.ptp(mouth_opening(track)) > 1e-3
    silent = model(Speech.of(np.zeros(2 * SAMPLE_RATE, np.float32), SAMPLE_RATE), source, blink=False,
                   head_motion=False)
    assert np.abs(silent - source[None]).max() < 1e-3

    net = _tiny(features)
    path = save_model(tmp_path / "a2l", net, calibration={"motion_gain": 2.0})
    loaded = load_checkpoint(path)
    assert loaded.motion_gain == 2.0
    wave = speech_like(1.5, seed=2)
    np.testing.assert_allclose(loaded.predict(wave)[0], 2.0 * model.predict(wave)[0], atol=1e-6)


def test_phone_gate_closes_the_mouth_where_the_decoder_hears_no_speech():
    ids = np.full((60, 4), SILENCE_PHONE)
    ids[20:40] = PHONE_SET.index("AA")
    ids[50:] = PHONE_SET.index("+NSN+")
    gate = phone_speech_gate(ids)
    assert gate.shape == (60,) and gate[25:35].min() == 1.0
    assert gate[:5].max() == 0.0 and gate[52:].max() == 0.0  # silence and decoded noise
    assert np.abs(np.diff(gate)).max() < 0.2  # opens and closes smoothly

    source = face(100.0, 0.0, (200.0, 180.0), 1)
    wave = speech_like(2.0)
    gated = LearnedAudio2Lmk(_tiny("normmel"), {"calibration": {"phone_gate": True}})
    gated._decoder = lambda wave16k, sample_rate: []  # hears nothing: SIL throughout
    still = gated(Speech.of(wave, SAMPLE_RATE), source, blink=False, head_motion=False)
    assert np.abs(still - source[None]).max() < 1e-3
    gated._decoder = lambda wave16k, sample_rate: [Phone("AA", 0.0, 2.0)]
    moving = gated(Speech.of(wave, SAMPLE_RATE), source, blink=False, head_motion=False)
    free = LearnedAudio2Lmk(_tiny("normmel"))(Speech.of(wave, SAMPLE_RATE), source, blink=False, head_motion=False)
    np.testing.assert_allclose(moving, free, atol=1e-5)  # all speech: the gate changes nothing


def test_training_smoke_on_speaker_free_inputs_with_the_amplitude_loss(tmp_path):
    ids = ["bbaf2n", "bbaf3s", "bgaa6n", "lrae3s", "pgwr6p"]
    make_prepared_set(tmp_path / "prepared", ids)
    write_grid_splits(tmp_path / "grid", ids, ["lwaz5a"])
    config = Audio2LmkConfig(prepared=str(tmp_path / "prepared"), grid_root=str(tmp_path / "grid"),
                             out_dir=str(tmp_path / "run"), features="phones+cepstra",
                             phone_cache=str(tmp_path / "phones"), phone_noise=0.2, amplitude_weight=1.0,
                             hidden=16, dilations=[1, 2], n_components=4, batch_size=2, val_fraction=0.2,
                             max_epochs=2, max_pad_frames=5, threads=1)
    best = train(config)
    meta = json.loads(best.with_suffix(".json").read_text())
    assert meta["config"]["features"] == "phones+cepstra" and "val_amp_ratio" in meta["val"]
    assert len(list((tmp_path / "phones").glob("*.json"))) == len(ids)  # decoded once, cached
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert "amplitude" in log[0] and len(log) == 3
    assert load_checkpoint(best).net.features == "phones+cepstra"


def test_amplitude_calibration_scales_up_only_and_only_on_enough_speech():
    from audio2lmk.calibration import MAX_GAIN, MIN_ACTIVE_FRAMES, amplitude_gain, fit_target
    from audio2lmk.pca import INNER_ROWS, inner_gap

    motion = np.zeros((100, len(MOVING), 2), np.float32)
    lower = [lo for _, lo in INNER_ROWS]
    motion[:, lower, 1] = (0.02 * np.sin(np.arange(100) / 3.0))[:, None]  # lower lip down and up
    spread = inner_gap(motion).std()
    assert spread == pytest.approx(0.02 / np.sqrt(2), rel=0.05)
    active = np.ones(100, bool)
    assert amplitude_gain(motion, active, 1.5 * spread) == pytest.approx(1.5)
    assert amplitude_gain(motion, active, 0.5 * spread) == 1.0  # never shrinks
    assert amplitude_gain(motion, active, 10 * spread) == MAX_GAIN
    assert amplitude_gain(motion, active, None) == 1.0
    few = np.zeros(100, bool)
    few[:MIN_ACTIVE_FRAMES - 1] = True
    assert amplitude_gain(motion, few, 2 * spread) == 1.0  # too little speech to measure
    mel = model_mel(speech_like(4.0), 100)
    assert fit_target([(mel, motion), (mel, 2 * motion)]) == pytest.approx(1.5 * spread, rel=0.2)


def test_held_out_shrink_is_the_real_over_the_predicted_spread_on_clips_with_speech():
    from audio2lmk.calibration import MIN_ACTIVE_FRAMES, fit_shrink
    from audio2lmk.pca import INNER_ROWS

    def clip(amplitude: float, seed: int) -> np.ndarray:
        motion = np.zeros((80, len(MOVING), 2), np.float32)
        phase = np.random.default_rng(seed).uniform(0, 6)
        motion[:, [lo for _, lo in INNER_ROWS], 1] = (amplitude * np.sin(np.arange(80) / 3.0 + phase))[:, None]
        return motion

    speech = np.ones(80, bool)
    # a net that opens 0.8 as wide as the real mouth on every held-out clip, whatever that clip's own amplitude
    clips = [(clip(0.8 * a, s), clip(a, s), speech) for s, a in enumerate([0.01, 0.02, 0.03])]
    assert fit_shrink(clips) == pytest.approx(1.25, rel=0.02)
    few = np.zeros(80, bool)
    few[:MIN_ACTIVE_FRAMES - 1] = True
    # a clip with too little speech to measure counts for nothing, even a wildly wrong one
    assert fit_shrink(clips + [(clip(0.001, 9), clip(0.05, 9), few)]) == pytest.approx(1.25, rel=0.02)
    with pytest.raises(ValueError):
        fit_shrink([(clip(0.01, 0), clip(0.01, 0), few)])


def test_held_out_shrink_is_applied_before_the_per_utterance_floor(tmp_path):
    from audio2lmk.calibration import active_frames, opening_spread
    from audio2lmk.features import silence_gate

    net = _tiny("cepstra")
    wave = speech_like(3.0, seed=3)
    plain = LearnedAudio2Lmk(net, {"calibration": {"voice_gate": False}}).predict(wave)[0]
    n = len(plain)  # the spread over the frames the calibration measures: loud ones outside digital silence
    spread = opening_spread(plain, active_frames(model_mel(wave, n), silence_gate(wave, n)))
    assert spread is not None and spread > 0
    # the shrink alone already brings this utterance above the floor: the floor adds nothing (not 2 x 1.5)
    above = LearnedAudio2Lmk(net, {"calibration": {"motion_gain": 2.0, "opening_std": 1.5 * spread,
                                                 "voice_gate": False}})
    np.testing.assert_allclose(above.predict(wave)[0], 2.0 * plain, atol=1e-6)
    # the floor still lifts an utterance the shrink leaves below it, to the floor and no further
    below = LearnedAudio2Lmk(net, {"calibration": {"motion_gain": 1.2, "opening_std": 1.5 * spread,
                                                 "voice_gate": False}})
    lifted = below.predict(wave)[0]
    np.testing.assert_allclose(lifted, lifted.ravel() @ plain.ravel() / (plain.ravel() @ plain.ravel()) * plain, atol=1e-6)
    # (the spread here is measured after the silence gate, the calibration's before it: within a percent)
    assert lifted.ravel() @ plain.ravel() / (plain.ravel() @ plain.ravel()) == pytest.approx(1.5, rel=0.01)


def test_ship_checkpoint_fits_the_shrink_on_the_validation_clips(tmp_path):
    from audio2lmk.pca import MotionPCA
    from scripts.ship_checkpoint import fit_calibration

    ids = ["bbaf2n", "bbaf3s", "bgaa6n", "lrae3s", "pgwr6p", "sbbh4p"]
    make_prepared_set(tmp_path / "prepared", ids, n_frames=60)
    splits = write_grid_splits(tmp_path / "grid", ids, ["lwaz5a"])
    meta = {"data": {"val_ids": ids[:2], "split_file": str(splits / "s1_train.txt")}}
    net = _tiny("cepstra")
    full = save_model(tmp_path / "full", net)
    # the same net opening half as wide: its held-out shrink doubles, the target (real training clips) stays
    net.set_pca(MotionPCA(net.pca_components.numpy(), 0.5 * net.pca_scale.numpy()))
    half = save_model(tmp_path / "half", net)
    wide, narrow = fit_calibration(full, meta, tmp_path / "prepared"), fit_calibration(half, meta, tmp_path / "prepared")
    assert narrow["heldout_spread_ratio"] == pytest.approx(2 * wide["heldout_spread_ratio"], rel=1e-3)
    assert narrow["opening_std"] == wide["opening_std"] > 0
    for cal in (wide, narrow):
        assert cal["motion_gain"] == min(max(cal["heldout_spread_ratio"], 1.0), 2.0)
        assert cal["motion_gain_fitted_on"].startswith("2 validation clips")
        assert cal["fitted_on"].startswith("4 training clips")


def test_calibrated_checkpoint_opens_wider_on_speech_and_stays_closed_in_silence(tmp_path):
    net = _tiny("cepstra")
    plain = LearnedAudio2Lmk(net)
    wave = speech_like(3.0, seed=3)
    spread = np.std(mouth_opening(plain(Speech.of(wave, SAMPLE_RATE), face(100.0, 0.0, (200.0, 180.0), 1), blink=False,
                                        head_motion=False)))
    path = save_model(tmp_path / "cal", net, calibration={"opening_std": 1.0})
    calibrated = load_checkpoint(path)
    source = face(100.0, 0.0, (200.0, 180.0), 1)
    wider = np.std(mouth_opening(calibrated(Speech.of(wave, SAMPLE_RATE), source, blink=False, head_motion=False)))
    assert wider > 1.5 * spread
    quiet = Speech.of(np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE)
    silent = calibrated(quiet, source, blink=False, head_motion=False)
    assert np.abs(silent - source[None]).max() < 1e-3


def test_sharpen_scales_the_fast_detail_and_keeps_slow_motion():
    from scipy.ndimage import gaussian_filter1d

    from audio2lmk.calibration import SHARPEN_SIGMA, sharpen

    t = np.arange(200)
    slow = np.sin(2 * np.pi * t / 80.0)
    fast = 0.1 * np.random.default_rng(0).standard_normal(200)
    motion = np.zeros((200, len(MOVING), 2), np.float32)
    motion[:, 5, 1] = slow + fast
    sharp = sharpen(motion, 1.0)
    assert sharp.dtype == motion.dtype and sharp.shape == motion.shape
    assert sharpen(motion, 0.0) is motion
    high = lambda m: m[:, 5, 1] - gaussian_filter1d(m[:, 5, 1], SHARPEN_SIGMA, mode="nearest")
    assert high(sharp).std() == pytest.approx(2.0 * high(motion).std(), rel=0.15)  # detail x (1 + amount)
    assert np.abs(gaussian_filter1d(sharp[:, 5, 1] - motion[:, 5, 1], 8.0)).max() < 0.02  # the slow shape stays
    assert np.all(sharp[:, 0] == 0)  # still points stay still


def test_sharpened_checkpoint_moves_faster_and_stays_closed_in_silence(tmp_path):
    net = _tiny("cepstra")
    source = face(100.0, 0.0, (200.0, 180.0), 1)
    wave = speech_like(3.0, seed=3)
    jerk = lambda track: np.abs(np.diff(mouth_opening(track), 2)).mean()
    plain = LearnedAudio2Lmk(net)(Speech.of(wave, SAMPLE_RATE), source, blink=False, head_motion=False)
    sharpened = load_checkpoint(save_model(tmp_path / "sharp", net, calibration={"sharpen": 1.0}))
    assert sharpened.sharpen == 1.0
    assert jerk(sharpened(Speech.of(wave, SAMPLE_RATE), source, blink=False, head_motion=False)) > 1.3 * jerk(plain)
    quiet = Speech.of(np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE)
    silent = sharpened(quiet, source, blink=False, head_motion=False)
    assert np.abs(silent - source[None]).max() < 1e-3


@pytest.mark.parametrize("size", [3, 25])
@pytest.mark.parametrize("n", [1, 5, 24, 300])
def test_moving_average_is_scipys_nearest_uniform_filter(size, n):
    from scipy.ndimage import uniform_filter1d

    from audio2lmk.features import moving_average

    x = np.random.default_rng(n).random(n)
    np.testing.assert_allclose(moving_average(x, size), uniform_filter1d(x, size, mode="nearest"), rtol=0, atol=1e-12)
    assert moving_average(np.zeros(0), size).shape == (0,)
    with pytest.raises(ValueError, match="odd"):
        moving_average(x, size + 1)
