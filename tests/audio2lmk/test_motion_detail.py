"""The fast-lip-detail losses of audio2lmk training: high-pass spread matching and the motion critic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from audio2lmk.motion_detail import MotionCritic, detail_loss, gaussian_blur, lip_signals
from audio2lmk.pca import LIP_ROWS, MOTION_POINTS
from audio2lmk.train import Audio2LmkConfig, train
from tests.audio2lmk.test_audio2lmk_learned import make_prepared_set, write_grid_splits

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def lip_motion(batch: int, frames: int, seed: int, sigma: float = 0.0) -> torch.Tensor:
    """(B, T, P, 2) random lip motion (smooth syllables + per-frame detail), optionally Gaussian-smoothed."""
    rng = np.random.default_rng(seed)
    motion = np.zeros((batch, frames, len(MOTION_POINTS), 2), np.float32)
    t = np.arange(frames)
    for b in range(batch):
        slow = 0.03 * np.sin(2 * np.pi * t / rng.uniform(8, 14) + rng.uniform(0, 6))
        motion[b][:, LIP_ROWS] = (slow[:, None, None] * rng.uniform(0.5, 1.5, (len(LIP_ROWS), 2))
                                  + rng.normal(0, 0.006, (frames, len(LIP_ROWS), 2)))
    if sigma:
        motion = gaussian_filter1d(motion, sigma, axis=1, mode="nearest")
    return torch.as_tensor(motion)


def test_gaussian_blur_matches_scipy_nearest():
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(2, 40, 3)), dtype=torch.float32)
    for sigma in (1.0, 2.0):
        expected = gaussian_filter1d(x.numpy(), sigma, axis=1, mode="nearest")
        np.testing.assert_allclose(gaussian_blur(x, sigma).numpy(), expected, atol=1e-5)


def test_lip_signals_are_lip_coordinates_and_inner_gap():
    motion = lip_motion(2, 30, seed=1)
    signals = lip_signals(motion)
    assert signals.shape == (2, 30, 2 * len(LIP_ROWS) + 1)
    assert torch.equal(signals[..., :2], motion[..., LIP_ROWS[0], :])  # first lip point, x then y


def test_detail_loss_is_zero_on_the_real_motion_and_grows_with_smoothing():
    real = lip_motion(3, 60, seed=2)
    assert detail_loss(real, real, [1.0, 2.0]).item() == pytest.approx(0.0, abs=1e-7)
    losses = [detail_loss(lip_motion(3, 60, seed=2, sigma=s), real, [1.0, 2.0]).item() for s in (0.7, 1.5, 3.0)]
    assert 0 < losses[0] < losses[1] < losses[2]
    # a smooth prediction scaled up to the real amplitude still loses its detail: amplitude is not detail
    smooth = lip_motion(3, 60, seed=2, sigma=2.0)
    assert detail_loss(smooth * 1.5, real, [1.0]).item() > 0.5 * detail_loss(smooth, real, [1.0]).item()


def test_detail_loss_gradient_restores_fast_detail():
    real = lip_motion(2, 50, seed=3)
    pred = lip_motion(2, 50, seed=3, sigma=2.0).requires_grad_()
    opt = torch.optim.Adam([pred], lr=1e-3)
    start = detail_loss(pred, real, [1.0]).item()
    for _ in range(60):
        opt.zero_grad()
        detail_loss(pred, real, [1.0]).backward()
        opt.step()
    high = lambda m: (m - gaussian_filter1d(m, 1.0, axis=1, mode="nearest")).std()
    assert detail_loss(pred, real, [1.0]).item() < 0.5 * start
    assert high(pred.detach().numpy()) > 1.5 * high(lip_motion(2, 50, seed=3, sigma=2.0).numpy())


def test_critic_learns_to_tell_smooth_from_real_motion_and_pushes_back():
    torch.manual_seed(0)
    critic = MotionCritic(channels=16, lr=2e-3)
    real, smooth = lip_motion(8, 48, seed=4), lip_motion(8, 48, seed=5, sigma=2.0)
    losses = [critic.step(smooth, real) for _ in range(80)]
    assert losses[-1] < 0.5 * losses[0]
    _, fake_score = critic.features(smooth)
    _, real_score = critic.features(real)
    assert fake_score.mean() < real_score.mean()
    fake = smooth.clone().requires_grad_()
    adversarial, matching = critic.generator_losses(fake, real)
    assert adversarial.item() > 0 and matching.item() > 0
    (adversarial + matching).backward()
    assert fake.grad is not None and fake.grad[:, :, LIP_ROWS].abs().sum() > 0
    assert fake.grad[:, :, [i for i in range(len(MOTION_POINTS)) if i not in LIP_ROWS]].abs().sum() == 0


def test_training_with_detail_and_critic_resumes_the_critic(tmp_path):
    ids = ["bbaf2n", "bbaf3s", "bgaa6n", "lrae3s", "pgwr6p"]
    make_prepared_set(tmp_path / "prepared", ids)
    write_grid_splits(tmp_path / "grid", ids, ["lwaz5a"])
    config = Audio2LmkConfig(prepared=str(tmp_path / "prepared"), grid_root=str(tmp_path / "grid"),
                             out_dir=str(tmp_path / "run"), model="lstm", hidden=16, n_components=4, batch_size=2,
                             val_fraction=0.2, max_epochs=1, max_pad_frames=5, threads=1, detail_weight=5.0,
                             adversarial_weight=0.05, feature_match_weight=0.5)
    train(config)
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    header, row = log[0].split(","), dict(zip(log[0].split(","), log[1].split(",")))
    assert {"detail", "adversarial", "feature_match", "critic"} <= set(header)
    assert all(float(row[k]) > 0 for k in ("detail", "adversarial", "feature_match", "critic"))
    config.max_epochs = 2
    train(config)  # resume restores the critic and its optimiser beside the net's
    last = json.loads((tmp_path / "run" / "last.json").read_text())
    assert last["progress"]["epoch"] == 1
    meta = json.loads((tmp_path / "run" / "best.json").read_text())
    assert meta["train_config"]["loss"]["detail_weight"] == 5.0
