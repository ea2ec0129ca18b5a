"""Learned lmk2video: network shapes, ConvLSTM streaming, attention compositing, losses, flip
augmentation, sampling rules, checkpoints, and a training/evaluation smoke run on a tiny synthetic set."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lmk2video import LearnedGenerator, WarpGenerator
from lmk2video import losses
from lmk2video.conditioning import WarpStream, mesh_warp
from lmk2video.learned import load_checkpoint as load_any
from lmk2video.learned_torch import TorchNet, run_generator, to_signed
from lmk2video.data import FLIP_ORDER, mirror, pick_frames, recolour
from lmk2video.regions import eye_masks, lip_masks, lower_face_masks, mouth_masks
from lmk2video.networks import (Conditioning, FrameCritic, FrameCriticArch, Generator, GeneratorArch, VideoCritic,
                                VideoCriticArch, composite)
from lmk2video.train import Lmk2VideoConfig, learning_rate, train
from lmk2video.triangulation import mean_face_in_crop
from talkface.checkpoint import save_checkpoint, save_model
from talkface.errors import CheckpointError
from talkface.grid import read_split, split_path
from talkface.landmarks.indices import LEFT_EYE, MOUTH, RIGHT_EYE
from talkface.media import write_video

torch.set_num_threads(1)


def load_checkpoint(path, **options):
    """These tests save small torch checkpoints without exporting them: the torch backend runs them (ONNX vs torch:
    tests/lmk2video/test_learned_onnx.py)."""
    return load_any(path, backend="torch", **options)


def tiny_generator(lmk_channels: int = 4, seed: int = 0, residual: bool = True) -> Generator:
    torch.manual_seed(seed)
    return Generator(GeneratorArch(lmk_channels, base=4, n_res=1, residual_color=residual))


def randomise_heads(g: Generator) -> None:
    """Untrained heads are zero (residual colour): give them weights so tests see a real network."""
    with torch.no_grad():
        g.to_color.weight.normal_(0, 0.05)
        g.to_attention.bias.fill_(0.0)


def inputs(b: int = 2, t: int = 4, size: int = 128, lmk_channels: int = 4, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(b, 3, size, size, generator=gen) * 2 - 1, torch.rand(b, lmk_channels, size, size, generator=gen),
            torch.rand(b, t, lmk_channels, size, size, generator=gen),
            torch.rand(b, t, 3, size, size, generator=gen) * 2 - 1)


def face_landmarks(size: int = 128, opening: float = 0.0) -> np.ndarray:
    lmk = mean_face_in_crop(size).astype(np.float32).copy()
    lmk[[65, 66, 67, 56, 57, 58], 1] += opening * size / 16
    return lmk


def face_image(size: int, lmk: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(120, 25, (size, size, 3)), 0, 255).astype(np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    cv2.fillPoly(img, [np.round(cv2.convexHull(lmk[:27])).astype(np.int32)], (210, 165, 140))
    for part in (range(36, 42), range(42, 48), range(48, 60)):
        cv2.fillPoly(img, [np.round(lmk[list(part)]).astype(np.int32)], (90, 50, 60))
    return img


# ----------------------------------------------------------------------------- networks


def test_network_shapes_t4_at_128():
    g = tiny_generator()
    s, ls, lt, w = inputs()
    frames, attention, color, (h, c) = g(s, ls, lt, w)
    assert frames.shape == (2, 4, 3, 128, 128) and color.shape == frames.shape
    assert attention.shape == (2, 4, 1, 128, 128)
    assert h.shape == c.shape == (2, 16, 32, 32)  # 4 x base channels at 1/4 resolution
    assert frames.abs().max() <= 1.0 and 0.0 <= attention.min() and attention.max() <= 1.0

    d_f = FrameCritic(FrameCriticArch(4, base=4, n_layers=4))
    logits, feats = d_f(s.repeat(4, 1, 1, 1), ls.repeat(4, 1, 1, 1), frames.flatten(0, 1), lt.flatten(0, 1))
    assert logits.shape == (8, 1, 8, 8) and len(feats) == 4

    d_v = VideoCritic(VideoCriticArch(base=4, n_layers=4))
    v_logits, v_lmk, v_feats = d_v(frames)
    assert v_logits.shape == (2, 1, 4, 8, 8)
    assert v_lmk.shape == (2, 4, 68, 2)  # 136 values per frame
    assert len(v_feats) == 4


def test_full_heatmap_option_shapes():
    g = tiny_generator(lmk_channels=68)
    frames, *_ = g(*inputs(b=1, t=2, size=64, lmk_channels=68))
    assert frames.shape == (1, 2, 3, 64, 64)


def test_convlstm_state_carried_across_calls_matches_one_long_call():
    g = tiny_generator().eval()
    randomise_heads(g)
    s, ls, lt, w = inputs(b=1, t=6, size=64)
    with torch.no_grad():
        whole, *_ = g(s, ls, lt, w)
        first, _, _, state = g(s, ls, lt[:, :2], w[:, :2])
        second, _, _, state = g(s, ls, lt[:, 2:5], w[:, 2:5], state)
        third, *_ = g(s, ls, lt[:, 5:], w[:, 5:], state)
        restarted, *_ = g(s, ls, lt[:, 2:5], w[:, 2:5])
    torch.testing.assert_close(torch.cat([first, second, third], dim=1), whole, rtol=1e-5, atol=1e-5)
    assert (restarted - whole[:, 2:5]).abs().max() > 1e-4  # the state really carries information


def test_attention_one_returns_the_warped_source_exactly():
    for residual in (True, False):
        g = tiny_generator(residual=residual)
        with torch.no_grad():
            g.to_attention.weight.zero_()
            g.to_attention.bias.fill_(100.0)  # sigmoid -> exactly 1.0 in float32
            g.to_color.weight.normal_(0, 0.5)
        s, ls, lt, w = inputs(b=1, t=3, size=64)
        frames, attention, color, _ = g(s, ls, lt, w)
        assert torch.equal(attention, torch.ones_like(attention))
        assert torch.equal(frames, w)
        assert (color - w).abs().max() > 0.01  # the painted layer differs, but is not used
    a = torch.rand(2, 1, 8, 8)
    w, c = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(composite(torch.zeros_like(a), w, c), c)


def test_untrained_generator_reproduces_the_warp_at_full_resolution():
    """Residual colour + zero head: the output is the warp default; at work_size < N the full-size
    warp is composited, not a blurred copy."""
    g = tiny_generator().eval()
    size = 64
    lmk = face_landmarks(size)
    targets = np.stack([face_landmarks(size, o) for o in (0.0, 0.5, 1.0)])
    source = face_image(size, lmk)
    warped = WarpStream(mouth=True)(source, lmk, targets)
    np.testing.assert_array_equal(warped, WarpGenerator(interpolation="bilinear", forehead=False)(source, lmk, targets))
    with torch.no_grad():
        out, *_ = run_generator(g, to_signed(torch.from_numpy(source))[None], torch.from_numpy(lmk)[None],
                                torch.from_numpy(targets)[None], to_signed(torch.from_numpy(warped))[None],
                                "compact", work_size=32)
    w = to_signed(torch.from_numpy(warped))[None]
    assert (out - w).abs().max() < 2e-3


# ----------------------------------------------------------------------------- losses


def test_losses_finite_and_differentiable():
    fake = torch.rand(2, 4, 3, 16, 16, requires_grad=True)
    real = torch.rand(2, 4, 3, 16, 16)
    attention = torch.rand(2, 4, 1, 16, 16, requires_grad=True)
    feats_f, feats_r = [fake * 2, fake.mean(2)], [real * 2, real.mean(2)]
    logits = fake.mean(dim=(2, 3, 4))
    parts = {
        "img": losses.reconstruction(fake, real),
        "fm": losses.feature_matching(feats_f, feats_r),
        "lms": losses.landmark_loss(fake[:, :, 0, :2, :2].reshape(2, 4, 2, 2), torch.zeros(2, 4, 2, 2)),
        "id": losses.identity_loss(fake.flatten(1)[:, :128], torch.rand(2, 128), torch.rand(2, 128)),
        "mask": losses.attention_loss(attention, 0.03),
        "g_adv": losses.generator_adversarial(logits, "hinge") + losses.generator_adversarial(logits, "lsgan"),
    }
    for mode in losses.GAN_MODES:
        assert torch.isfinite(losses.critic_adversarial(logits, -logits, mode))
    total = losses.weighted_sum(parts, vars(losses.LossWeights()))
    total.backward()
    assert torch.isfinite(total)
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
    assert torch.isfinite(attention.grad).all() and attention.grad.abs().sum() > 0
    assert losses.identity_loss(torch.ones(3, 8), torch.ones(3, 8), torch.ones(3, 8), "cosine").abs() < 1e-6
    assert losses.reconstruction(real, real) == 0
    ones = torch.ones(1, 1, 8, 8)
    assert losses.attention_loss(ones, 0.1, "sparse") == 0  # keeping the warp costs nothing
    assert losses.attention_loss(ones, 0.1, "ganimation") == 1  # GANimation penalises keeping
    with pytest.raises(ValueError):
        losses.critic_adversarial(logits, logits, "wgan")


def test_paper_weights_are_the_defaults():
    w = losses.LossWeights()
    assert (w.img, w.fm, w.lms, w.id, w.dv_adv, w.dv_lms) == (1.0, 0.01, 10.0, 0.1, 1.0, 100.0)
    c = Lmk2VideoConfig()
    assert (c.lr, list(c.betas), c.frames) == (1e-4, [0.9, 0.999], 4)


# ----------------------------------------------------------------------------- data


def test_learning_rate_warms_up_holds_then_decays_to_zero():
    config = Lmk2VideoConfig(lr=1e-3, warmup_steps=10, decay_steps=100, max_steps=1000)
    assert learning_rate(config, 0) == pytest.approx(1e-4)
    assert learning_rate(config, 500) == pytest.approx(1e-3)
    assert learning_rate(config, 950) == pytest.approx(5e-4)
    assert learning_rate(config, 1000) == 0.0
    assert learning_rate(Lmk2VideoConfig(lr=1e-3), 10**6) == 1e-3


def test_flip_mirrors_landmarks_and_is_an_involution():
    size = 128
    lmk = face_landmarks(size)
    lmk[:, 0] += 5.0  # off-centre, so the mirror image differs
    frames = face_image(size, lmk)[None]
    flipped_frames, flipped = mirror(frames, lmk[None])
    np.testing.assert_array_equal(flipped_frames[0], frames[0, :, ::-1])
    assert sorted(FLIP_ORDER) == list(range(68))
    np.testing.assert_array_equal(FLIP_ORDER[FLIP_ORDER], np.arange(68))
    # The mirrored right mouth corner (48) is the original left corner (54), reflected.
    assert flipped[0, 48, 0] == pytest.approx(size - 1 - lmk[54, 0])
    assert flipped[0, 48, 1] == pytest.approx(lmk[54, 1])
    assert flipped[0, 36, 0] < flipped[0, 45, 0]  # point 36 stays on the image's left
    assert flipped[0, 0, 0] < flipped[0, 16, 0]
    # A symmetric face maps onto itself: points stay where their labels expect them.
    sym = face_landmarks(size)
    _, sym_flipped = mirror(frames, sym[None])
    np.testing.assert_allclose(sym_flipped[0], sym, atol=0.6)
    back_frames, back = mirror(flipped_frames, flipped)
    np.testing.assert_array_equal(back_frames, frames)
    np.testing.assert_allclose(back, lmk[None], atol=1e-4)


def test_source_frame_is_never_consecutive_with_the_first_target():
    rng = np.random.default_rng(0)
    for _ in range(300):  # default: outside the window and not next to it
        src, start = pick_frames(12, 4, rng)
        assert 0 <= start <= 8
        assert src < start - 1 or src > start + 4
    inside = 0
    for _ in range(300):  # near_prob: sometimes one of the later window frames (a target equals the source)
        src, start = pick_frames(12, 4, rng, near_prob=0.5)
        assert abs(src - start) > 1
        inside += start + 2 <= src <= start + 3
    assert 100 < inside < 200
    with pytest.raises(ValueError):
        pick_frames(6, 4, rng)


# ----------------------------------------------------------------------------- checkpoint + generator


def save_tiny(path: Path, g: Generator, size: int = 64, work_size: int = 32) -> Path:
    g.conditioning = Conditioning(size, work_size, heatmaps="compact")
    return save_model(path, g)


def test_checkpoint_roundtrip_and_chunking_give_identical_outputs(tmp_path):
    g = tiny_generator(seed=3)
    randomise_heads(g)
    path = save_tiny(tmp_path / "g", g)
    size = 64
    lmk = face_landmarks(size)
    targets = np.stack([face_landmarks(size, o) for o in np.linspace(0, 1, 7)])
    source = face_image(size, lmk)
    direct = LearnedGenerator(TorchNet(g))
    loaded = load_checkpoint(path)
    a = direct(source, lmk, targets, batch_size=16)
    b = loaded(source, lmk, targets, batch_size=16)
    c = loaded(source, lmk, targets, batch_size=3)  # chunks with the ConvLSTM state carried
    assert a.shape == (7, size, size, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(b.astype(int) - c.astype(int)).max() <= 1
    stream = loaded.stream(source, lmk, batch_size=16)  # the pipeline's chunk-by-chunk rendering
    streamed = np.concatenate([stream(targets[:4]), stream(targets[4:])])
    assert np.abs(b.astype(int) - streamed.astype(int)).max() <= 1
    assert np.abs(a.astype(int) - WarpGenerator()(source, lmk, targets).astype(int)).max() > 0
    with pytest.raises(ValueError):
        loaded(source[..., :2], lmk, targets)
    # A sidecar of the schema before models saved themselves (`arch`) still loads, and is checked the same.
    legacy = save_checkpoint(tmp_path / "legacy", g.state_dict(), {"kind": "lmk2video", "arch": {
        "generator": vars(g.arch), "size": 64, "work_size": 32, "heatmaps": "compact", "warp_mouth": True}})
    np.testing.assert_array_equal(load_checkpoint(legacy)(source, lmk, targets, batch_size=16), b)
    bad = save_checkpoint(tmp_path / "bad", {"x": torch.zeros(1)}, {"kind": "lmk2video", "arch": {
        "generator": vars(g.arch), "size": 64, "work_size": 32, "heatmaps": "compact", "warp_mouth": True}})
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)
    other = save_checkpoint(tmp_path / "other", {"x": torch.zeros(1)}, {"kind": "audio2lmk", "arch": {}})
    with pytest.raises(CheckpointError):
        load_checkpoint(other)


# ----------------------------------------------------------------------------- training smoke


def make_prepared_set(root: Path, ids: list[str], size: int = 64, n_frames: int = 12) -> None:
    """A tiny prepared folder (`talkface prepare grid` layout) of drawn faces whose mouths open and close."""
    clips = {}
    for k, clip_id in enumerate(ids):
        folder = root / "s1" / clip_id
        folder.mkdir(parents=True)
        openings = 0.5 + 0.5 * np.sin(np.arange(n_frames) * 0.7 + k)
        lmk = np.stack([face_landmarks(size, o) for o in openings])
        write_video(folder / "crops.mp4", np.stack([face_image(size, x, seed=k) for x in lmk]), 25.0, crf=10)
        fixed = np.round(lmk * 16).astype(np.int16)
        np.savez_compressed(folder / "track.npz", crop_landmarks_delta=np.concatenate([fixed[:1], np.diff(fixed, axis=0)]),
                            landmark_step=np.float32(1 / 16), crop_matrix=np.eye(2, 3), fps=np.float32(25),
                            image_size=np.array([size, size]))
        np.savez_compressed(folder / "mel.npz", mel_u8=np.zeros((n_frames, 4, 80), np.uint8))
        (folder / "words.json").write_text(json.dumps({"transcript": "", "words": []}))
        clips[clip_id] = {"speaker": "s1", "n_frames": n_frames, "status": "ok"}
    (root / "manifest.json").write_text(json.dumps({"size": size, "fps": 25, "clips": clips}))


def test_training_smoke_run_resume_and_evaluation(tmp_path):
    from lmk2video.evaluate import run_eval_lmk2video

    grid_root = tmp_path / "grid"  # no split files here: the copies in talkface/splits are used
    train_ids = read_split(split_path(grid_root, "s1", "train"))[:5]
    test_ids = read_split(split_path(grid_root, "s1", "test"))[:1]
    make_prepared_set(tmp_path / "prepared", train_ids + test_ids)
    config = Lmk2VideoConfig(
        prepared=str(tmp_path / "prepared"), grid_root=str(grid_root), out_dir=str(tmp_path / "run"),
        size=64, work_size=32, heatmaps="compact", g_base=4, g_res=1, df_base=4, df_layers=3, dv_base=4,
        dv_layers=3, batch_size=2, lr=1e-3, max_steps=2, val_clips=1, val_frames=8, workers=0, log_every=1,
        val_every=2, sample_every=2, tensorboard=False, lambda_id=0.0, threads=1, device="cpu")
    best = train(config)
    lmk = face_landmarks(64)
    probe = (face_image(64, lmk), lmk, np.stack([face_landmarks(64, o) for o in (0.3, 0.9)]))
    meta = json.loads(best.with_suffix(".json").read_text())
    assert meta["step"] == 2 and meta["kind"] == "lmk2video"
    assert meta["trained_face"]["speaker"] == "s1" and len(meta["trained_face"]["descriptor"]) == 128
    assert not set(meta["data"]["val_ids"]) & set(test_ids)
    assert len(meta["data"]["val_ids"]) == 1 and meta["data"]["n_train"] == 4
    assert np.isfinite(meta["val"]["val_psnr"])
    assert (tmp_path / "run" / "samples" / "step_0000002.png").is_file()
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and len(rows) == 3

    final = tmp_path / "run" / "final.safetensors"  # the last step's generator, here also the best
    np.testing.assert_array_equal(load_checkpoint(final)(*probe), load_checkpoint(best)(*probe))

    config.max_steps = 3  # resume from last.safetensors and go one step further
    train(config)
    last = json.loads((tmp_path / "run" / "last.json").read_text())
    assert last["progress"]["step"] == 3
    assert json.loads(final.with_suffix(".json").read_text())["step"] == 3
    assert len((tmp_path / "run" / "log.csv").read_text().splitlines()) == 4

    report = run_eval_lmk2video(best, tmp_path / "prepared", grid_root, "test", tmp_path / "eval", limit=1)
    assert report["clips"] == test_ids and report["real_crops_from"]["crops.mp4"] == 1
    for method in ("learned", "product", "product_other_faces", "learned_shading", "warp", "copy"):
        assert np.isfinite(report["summary"][method]["psnr"])
    assert report["summary"]["copy"]["psnr"] < 100.0
    assert (tmp_path / "eval" / "lmk2video_eval.md").read_text().count("|") > 10


def test_recolour_changes_every_frame_of_a_sample_the_same_way():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    frames[1] = frames[0]
    out = recolour(frames, np.random.default_rng(5))
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.array_equal(out[0], out[1])  # one transform for the whole sample
    assert not np.array_equal(out, frames)
    assert np.array_equal(out, recolour(frames, np.random.default_rng(5)))
    grey = np.full((1, 4, 4, 3), 128, np.uint8)  # a grey stays grey-ish: gains and shift only, no tint beyond 30 %
    g = recolour(grey, np.random.default_rng(1)).astype(float)
    assert g.max() - g.min() <= 0.6 * 128 + 1


def test_recolour_field_varies_smoothly_over_the_image_and_alike_in_every_frame():
    grey = np.full((2, 32, 32, 3), 128, np.uint8)
    flat = recolour(grey, np.random.default_rng(2))
    assert np.ptp(flat[0].reshape(-1, 3), axis=0).max() == 0  # no field: one colour everywhere
    varied = recolour(grey, np.random.default_rng(2), field=0.3).astype(int)
    assert np.array_equal(varied[0], varied[1])
    assert np.ptp(varied[0].reshape(-1, 3), axis=0).max() > 10
    assert np.abs(np.diff(varied[0], axis=0)).max() <= 8  # smooth: no jumps between neighbouring rows


def trained_looking_checkpoint(tmp_path: Path, seed: int, size: int = 64) -> tuple[Path, np.ndarray, np.ndarray]:
    """A saved tiny generator with non-zero heads, plus a drawn source face and its landmarks."""
    g = tiny_generator(seed=seed)
    randomise_heads(g)
    lmk = face_landmarks(size)
    return save_tiny(tmp_path / "g", g, size), lmk, face_image(size, lmk)


def test_identity_calibration_gives_the_photo_back_for_its_own_landmarks(tmp_path):
    size = 64
    path, lmk, source = trained_looking_checkpoint(tmp_path, seed=4, size=size)
    own = np.repeat(lmk[None], 3, axis=0)
    raw = load_checkpoint(path, calibrate=False, keep_eyes=False, mouth_only=False)
    calibrated = load_checkpoint(path, keep_eyes=False, mouth_only=False)
    assert np.abs(raw(source, lmk, own).astype(int) - source.astype(int)).max() > 5  # the net alters the photo
    assert np.abs(calibrated(source, lmk, own[:1]).astype(int) - source.astype(int)).max() <= 1
    targets = np.stack([face_landmarks(size, o) for o in (0.5, 1.0)])
    bias = calibrated.identity_bias(source, lmk)
    expected = raw(source, lmk, targets).astype(np.float32) - mesh_warp(bias, lmk, targets)
    got = calibrated(source, lmk, targets).astype(np.float32)
    assert np.abs(got - np.clip(np.round(expected), 0, 255)).max() <= 1


def test_eye_masks_cover_eyes_and_brows_not_the_mouth_and_follow_the_landmarks():
    size = 64
    lmk = face_landmarks(size)
    moved = lmk + np.float32([3, 2])
    masks = eye_masks(np.stack([lmk, moved]), size)
    assert masks.shape == (2, size, size) and masks.dtype == np.float32
    for mask, points in zip(masks, (lmk, moved)):
        for eye in (RIGHT_EYE, LEFT_EYE):
            x, y = np.round(points[list(eye)].mean(axis=0)).astype(int)
            assert mask[y, x] > 0.95
        x, y = np.round(points[list(MOUTH)].mean(axis=0)).astype(int)
        assert mask[y, x] < 0.01
    assert not np.array_equal(masks[0], masks[1])


def test_keep_eyes_takes_the_eye_regions_from_the_warp_and_the_rest_from_the_net(tmp_path):
    size = 64
    path, lmk, source = trained_looking_checkpoint(tmp_path, seed=5, size=size)
    targets = np.stack([face_landmarks(size, o) for o in (0.4, 0.8)])
    net = load_checkpoint(path, calibrate=False, keep_eyes=False, mouth_only=False)(source, lmk, targets).astype(int)
    kept = load_checkpoint(path, calibrate=False, mouth_only=False)(source, lmk, targets).astype(int)
    warped = WarpGenerator(interpolation="bilinear", forehead=False)(source, lmk, targets).astype(int)  # the net's warp
    eyes = eye_masks(targets, size)
    assert np.abs(kept - warped)[eyes > 0.999].max() <= 1
    assert np.array_equal(kept[eyes == 0], net[eyes == 0])
    assert np.abs(net - warped)[eyes > 0.999].max() > 3  # the net alone does change the eyes


def test_larger_crops_get_the_full_size_warp_plus_the_nets_upsampled_correction(tmp_path):
    """At twice the net's size: untrained (zero colour head, A = 1) gives the full-size warp itself; a net
    that paints gives the full-size warp plus its own change, kept where correction_field keeps it, at its
    size, upsampled (a low-frequency correction: the photo's fine detail is the warp's)."""
    from lmk2video.learned import correction_field

    net_size, size = 64, 128
    lmk = face_landmarks(size)
    source = face_image(size, lmk)
    targets = np.stack([face_landmarks(size, o) for o in (0.3, 0.9)])
    full_warp = WarpGenerator()(source, lmk, targets).astype(int)
    untrained = load_checkpoint(save_tiny(tmp_path / "u", tiny_generator(), net_size), keep_eyes=False)
    out = untrained(source, lmk, targets)
    assert out.shape == (2, size, size, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - full_warp).max() <= 3

    path, _, _ = trained_looking_checkpoint(tmp_path, seed=6, size=net_size)
    painter = load_checkpoint(path, calibrate=False, keep_eyes=False)
    small = cv2.resize(source, (net_size, net_size), interpolation=cv2.INTER_AREA)
    small_targets = (targets + 0.5) * (net_size / size) - 0.5
    small_lmk = (lmk + 0.5) * (net_size / size) - 0.5
    net_alone = load_checkpoint(path, calibrate=False, keep_eyes=False, mouth_only=False)
    change = net_alone(small, small_lmk, small_targets).astype(np.float32) - WarpGenerator(
        interpolation="bilinear", forehead=False)(small, small_lmk, small_targets)
    change = correction_field(change, small_targets, keep_teeth=False)
    expected = full_warp + np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR) for c in change])
    got = painter(source, lmk, targets).astype(int)
    assert np.abs(got - full_warp).max() > 10  # the net does change the frame
    assert np.abs(got - np.clip(np.round(expected), 0, 255)).max() <= 2
    far = mouth_masks(targets, size, 0.3)[..., None].repeat(3, -1) == 0  # away from the mouth: the warp alone
    assert np.abs(got - full_warp)[far].max() <= 1


def test_on_its_own_training_face_the_whole_correction_is_added_elsewhere_only_the_mouths(tmp_path):
    """The sidecar's trained_face is the drawn source's own descriptor: that face gets the net's own frames (with
    the full-size warp's finer detail, none here at the net's size); own_face=False, a sidecar without it, or a record of another face leave the warp away from the
    mouth."""
    from lmk2video.trained_face import SIDECAR_KEY, distance_to_trained_face, trained_face_record
    from talkface.metrics import FaceDescriber

    size = 64
    path, lmk, source = trained_looking_checkpoint(tmp_path, seed=7, size=size)
    targets = np.stack([face_landmarks(size, o) for o in (0.3, 0.9)])
    full_warp = WarpGenerator()(source, lmk, targets).astype(int)
    far = mouth_masks(targets, size, 0.3)[..., None].repeat(3, -1) == 0
    unknown = load_checkpoint(path, calibrate=False, keep_eyes=False)(source, lmk, targets).astype(int)
    assert np.abs(unknown - full_warp)[far].max() <= 1  # no trained_face in the sidecar: mouth only

    own = FaceDescriber().describe(source, lmk)
    other_lmk = face_landmarks(size)
    other = FaceDescriber().describe(face_image(size, other_lmk, seed=3)[:, ::-1].copy(), other_lmk)
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta[SIDECAR_KEY] = trained_face_record(np.stack([own, own]), "drawn", "test")
    sidecar.write_text(json.dumps(meta))
    known = load_checkpoint(path, calibrate=False, keep_eyes=False)
    assert distance_to_trained_face(known.meta, source, lmk) < 1e-3
    whole = known(source, lmk, targets).astype(int)
    assert np.abs(whole - full_warp)[far].max() > 5  # the net's change away from the mouth is kept
    own_frames = load_checkpoint(path, calibrate=False, keep_eyes=False, mouth_only=False)(source, lmk, targets)
    assert np.abs(whole - own_frames.astype(int)).max() <= 1  # at the net's size: its own frames
    not_asked = load_checkpoint(path, calibrate=False, keep_eyes=False, own_face=False)(source, lmk, targets)
    assert np.array_equal(not_asked.astype(int), unknown)

    meta[SIDECAR_KEY] = {**meta[SIDECAR_KEY], "descriptor": (own + 10.0 * (other - own)).tolist()}
    sidecar.write_text(json.dumps(meta))
    stranger = load_checkpoint(path, calibrate=False, keep_eyes=False)
    assert distance_to_trained_face(stranger.meta, source, lmk) > 0.6
    assert np.array_equal(stranger(source, lmk, targets).astype(int), unknown)


def test_correction_field_by_default_is_the_smoothed_change_inside_the_mouth_opening_only():
    """Default: inside the mouth opening the change itself, smoothed: a constant colour passes whole there, the
    net's 1-px texture (a checkerboard) does not; outside the opening nothing reaches the output, so it is the
    warp there -- not even a pure colour shift or a luminance change on the lips; kept teeth: nothing anywhere."""
    from lmk2video.learned import correction_field

    size = 256
    targets = np.stack([face_landmarks(size, 1.5)])  # an open mouth
    opening = mouth_masks(targets, size, 0.0)[0]
    inside = opening > 0.999
    outside = opening == 0  # beyond the opening's feathered edge
    assert inside.sum() > 200 and (lip_masks(targets, size)[0][outside] > 0.999).sum() > 50  # lips are outside

    colour = np.array([30.0, -10.0, 5.0], np.float32)
    field = correction_field(np.broadcast_to(colour, (1, size, size, 3)).copy(), targets, keep_teeth=False)[0]
    assert field.shape == (size, size, 3) and field.dtype == np.float32
    np.testing.assert_allclose(field[inside], np.broadcast_to(colour, field[inside].shape), atol=0.05)
    assert not field[outside].any()

    checker = (np.indices((size, size)).sum(0) % 2 * 2 - 1).astype(np.float32) * 40.0
    field = correction_field(np.repeat(checker[None, ..., None], 3, -1), targets, keep_teeth=False)[0]
    assert np.abs(field[inside]).max() < 0.1 * 40.0 and not field[outside].any()
    rng = np.random.default_rng(0)
    change = rng.normal(0, 20, (1, size, size, 3)).astype(np.float32)
    assert not correction_field(change, targets, keep_teeth=False)[0][outside].any()
    assert not correction_field(change, targets, keep_teeth=True).any()


def test_correction_field_with_shading_adds_grey_shading_of_the_lips_and_lower_face():
    """shading=True, a change of constant colour: inside the mouth opening it passes whole; on the lips and the
    rest of the lower face only its luminance, the same on R, G and B; a chroma-only change (zero luminance)
    adds nothing outside the opening; eyes and forehead get nothing; kept teeth: nothing anywhere."""
    from lmk2video.learned import correction_field
    from lmk2video.mouth import LUMA

    size = 256  # lips a few pixels thick at the net's 128 px; here thick enough to test inside them
    targets = np.stack([face_landmarks(size, 1.5)])
    opening = mouth_masks(targets, size, 0.0)[0]
    lower = lower_face_masks(targets, size)[0]
    colour = np.array([30.0, -10.0, 5.0], np.float32)
    change = np.broadcast_to(colour, (1, size, size, 3)).copy()
    field = correction_field(change, targets, keep_teeth=False, shading=True)[0]
    assert field.shape == (size, size, 3) and field.dtype == np.float32
    inside = opening > 0.999
    np.testing.assert_allclose(field[inside], np.broadcast_to(colour, field[inside].shape), atol=0.05)
    grey = float(colour @ LUMA)
    on_lips = (lip_masks(targets, size)[0] > 0.999) & (opening < 0.001)
    cheek = np.round((targets[0, 4] + targets[0, 48] + targets[0, 31]) / 3).astype(int)  # below nose, beside lips
    assert on_lips.sum() > 50 and lower[cheek[1], cheek[0]] > 0.95
    for where in (on_lips, (slice(cheek[1], cheek[1] + 1), slice(cheek[0], cheek[0] + 1))):
        values = field[where].reshape(-1, 3)
        np.testing.assert_allclose(values, (grey * lower[where].reshape(-1, 1)).repeat(3, 1), atol=0.05)
    eyes = eye_masks(targets, size)[0] > 0.5
    assert not field[eyes].any() and not field[: int(targets[0, 19, 1])].any()  # eyes, forehead

    chroma = np.array([10.0, -10.0 * 0.299 / 0.587, 0.0], np.float32)  # no luminance
    assert abs(float(chroma @ LUMA)) < 1e-5
    field = correction_field(np.broadcast_to(chroma, (1, size, size, 3)).copy(), targets, False, shading=True)[0]
    assert np.abs(field[opening < 0.001]).max() < 0.01
    assert not correction_field(change, targets, keep_teeth=True, shading=True).any()


def test_shading_blurs_fine_texture_on_the_lips_and_more_on_the_face_but_not_in_the_opening():
    """A 1-px checkerboard change: kept as it is inside the mouth opening; smoothed away on the lips (lip blur)
    and on the cheeks (the broader face blur)."""
    from lmk2video.learned import correction_field

    size = 256
    targets = np.stack([face_landmarks(size, 1.5)])
    checker = (np.indices((size, size)).sum(0) % 2 * 2 - 1).astype(np.float32) * 40.0
    change = np.repeat(checker[None, ..., None], 3, -1)
    field = correction_field(change, targets, keep_teeth=False, shading=True)[0]
    opening = mouth_masks(targets, size, 0.0)[0]
    inside = opening > 0.999
    np.testing.assert_allclose(field[inside], change[0][inside], atol=0.05)
    outside = opening < 0.001
    assert np.abs(field[outside]).max() < 0.1 * 40.0


def test_lower_face_mask_covers_lips_chin_and_cheeks_not_eyes_and_fades_at_its_edge():
    size = 128
    lmk = face_landmarks(size)
    mask = lower_face_masks(lmk[None], size)[0]
    chin_above = np.round(lmk[8] + (lmk[57] - lmk[8]) / 2).astype(int)
    cheek = np.round((lmk[4] + lmk[48] + lmk[31]) / 3).astype(int)
    for x, y in (np.round(lmk[62]).astype(int), chin_above, cheek):
        assert mask[y, x] > 0.95
    for x, y in np.round(lmk[list(LEFT_EYE) + list(RIGHT_EYE) + [27]]).astype(int):
        assert mask[y, x] < 0.01
    x, y = np.round(lmk[8]).astype(int)  # the chin point is on the edge: about half
    assert 0.2 < mask[y, x] < 0.8
    assert mask.min() >= 0 and mask.max() <= 1


def test_teeth_in_the_photo_are_reused_not_repainted(tmp_path):
    """A photo with an open mouth showing teeth: the learned stage adds nothing (the warp carries the photo's
    own teeth with their lips); the same net on a closed-mouth photo does paint the opening."""
    from lmk2video.mouth import estimate_appearance

    net_size, size = 64, 128
    path, _, _ = trained_looking_checkpoint(tmp_path, seed=7, size=net_size)
    painter = load_checkpoint(path, calibrate=False, keep_eyes=False)
    targets = np.stack([face_landmarks(size, o) for o in (1.0, 1.5)])
    smiling_lmk = face_landmarks(size, 0.8)
    smiling = face_image(size, smiling_lmk)
    cv2.fillPoly(smiling, [np.round(smiling_lmk[60:68]).astype(np.int32)], (245, 245, 235))  # teeth
    assert estimate_appearance(smiling, smiling_lmk).source_teeth
    reused = painter(smiling, smiling_lmk, targets).astype(int)
    assert np.abs(reused - WarpGenerator()(smiling, smiling_lmk, targets).astype(int)).max() <= 1
    closed_lmk = face_landmarks(size)
    closed = face_image(size, closed_lmk)
    painted = painter(closed, closed_lmk, targets).astype(int)
    assert np.abs(painted - WarpGenerator()(closed, closed_lmk, targets).astype(int)).max() > 5
