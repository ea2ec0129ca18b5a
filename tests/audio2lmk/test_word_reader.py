"""The landmark lipreader (audio2lmk.word_reader) and its word-discrimination loss in audio2lmk training.
All data is synthetic: word 'shapes' are lip motions made up here."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from audio2lmk.ensemble import save_ensemble, save_member
from audio2lmk.models import Audio2LmkNet
from audio2lmk.pca import INNER_ROWS, LIP_ROWS, MOTION_POINTS
from audio2lmk.train import Audio2LmkConfig, train
from audio2lmk.word_reader import WORD_INDEX, WORDS, LandmarkWordReader, crop_windows, frozen, word_windows
from talkface.checkpoint import load_model, save_model
from talkface.errors import CheckpointError, TalkfaceError
from tests.audio2lmk.test_audio2lmk_learned import make_prepared_set, write_grid_splits

pytestmark = pytest.mark.usefixtures("one_torch_thread")

P = len(MOTION_POINTS)


def test_word_windows_skip_silence_pad_and_clip():
    words = [{"start": 0.0, "end": 10.5, "word": "sil"}, {"start": 10.5, "end": 16.0, "word": "bin"},
             {"start": 16.0, "end": 21.2, "word": "blue"}, {"start": 21.2, "end": 30.0, "word": "sp"}]
    assert word_windows(words, 40) == [(8, 18, WORD_INDEX["bin"]), (14, 24, WORD_INDEX["blue"])]
    assert word_windows(words, 20) == [(8, 18, WORD_INDEX["bin"]), (14, 20, WORD_INDEX["blue"])]
    assert len(WORDS) == 51 and word_windows(words, 9) == []  # nothing of 'bin' left but one frame


def test_crop_windows_pads_masks_and_passes_gradients_only_inside_the_windows():
    motion = torch.randn(2, 30, P, 2, requires_grad=True)
    crops, mask, labels = crop_windows(motion, [(0, 5, 9, 3), (1, 20, 30, 7)])
    assert crops.shape == (2, 10, P, 2) and labels.tolist() == [3, 7]
    assert mask.sum(1).tolist() == [4, 10]
    assert torch.equal(crops[0, :4], motion[0, 5:9]) and float(crops[0, 4:].detach().abs().max()) == 0.0
    assert torch.equal(crops[1], motion[1, 20:30])
    crops.sum().backward()
    grad = motion.grad.abs().sum(dim=(2, 3))
    assert float(grad[0, 5:9].min()) > 0 and float(grad[1, 20:30].min()) > 0
    assert float(grad[0, :5].sum() + grad[0, 9:].sum() + grad[1, :20].sum()) == 0.0


def test_a_window_reads_the_same_whatever_it_is_padded_to():
    reader = frozen(LandmarkWordReader(hidden=16))
    motion = torch.randn(1, 40, P, 2) * 0.02
    alone = reader(*crop_windows(motion, [(0, 10, 16, 0)])[:2])
    padded = reader(*crop_windows(motion, [(0, 10, 16, 0), (0, 0, 40, 1)])[:2])[:1]
    assert torch.allclose(alone, padded, atol=1e-5)


def shape_motion(word: int, n: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    """(n, frames, P, 2) motion saying a made-up word: 0 opens the inner lips, 1 spreads the mouth sideways."""
    out = rng.normal(0, 0.003, (n, frames, P, 2)).astype(np.float32)
    envelope = np.sin(np.pi * np.arange(frames) / (frames - 1))[None, :] * rng.uniform(0.7, 1.3, (n, 1))
    if word == 0:
        for _, lower in INNER_ROWS:
            out[:, :, lower, 1] += 0.06 * envelope
    else:
        lips = np.array(LIP_ROWS)
        out[:, :, lips, 0] += 0.04 * envelope[..., None] * np.sign(np.arange(len(lips)) - len(lips) / 2 + 0.5)
    return out


def trained_toy_reader() -> LandmarkWordReader:
    """A reader taught the two made-up words (ids 0 and 1 of the vocabulary) for a few dozen steps."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    reader = LandmarkWordReader(hidden=16, dropout=0.0)
    reader.scale.fill_(0.02)
    opt = torch.optim.Adam(reader.parameters(), lr=1e-2)
    for _ in range(40):
        motion = torch.as_tensor(np.concatenate([shape_motion(0, 8, 12, rng), shape_motion(1, 8, 12, rng)]))
        windows = [(b, 0, 12, 0 if b < 8 else 1) for b in range(16)]
        loss = reader.word_loss(motion, windows)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return frozen(reader)


def test_the_word_loss_is_low_when_the_shapes_say_the_word_and_descends_towards_it():
    reader = trained_toy_reader()
    rng = np.random.default_rng(1)
    opens, spreads = (torch.as_tensor(shape_motion(w, 4, 12, rng)) for w in (0, 1))
    windows = [(b, 0, 12, 0) for b in range(4)]  # all labelled "opens"
    right, wrong = reader.word_loss(opens, windows), reader.word_loss(spreads, windows)
    assert float(right) < 0.2 < 1.0 < float(wrong)
    # differentiable: gradient steps on the motion (the reader frozen) move the wrong shapes towards the word
    motion = spreads.clone().requires_grad_(True)
    for _ in range(30):
        loss = reader.word_loss(motion, windows)
        (grad,) = torch.autograd.grad(loss, motion)
        motion = (motion - 0.002 * grad / grad.abs().max()).detach().requires_grad_(True)
    assert float(reader.word_loss(motion.detach(), windows)) < 0.5 * float(wrong)
    assert not any(p.requires_grad for p in reader.parameters()) and not reader.training


def write_words(prepared, ids):
    """Aligned words in each tiny clip's words.json (the synthetic audio does not say them: only the plumbing)."""
    for clip_id in ids:
        words = [{"start": 0.0, "end": 8.0, "word": "sil"}, {"start": 8.0, "end": 20.0, "word": "bin"},
                 {"start": 20.0, "end": 34.0, "word": "now"}, {"start": 34.0, "end": 40.0, "word": "sil"}]
        (prepared / "s1" / clip_id / "words.json").write_text(json.dumps({"transcript": "bin now", "words": words}))


@pytest.fixture
def tiny_set(tmp_path):
    ids = ["bbaf2n", "bbaf3s", "bgaa6n", "lrae3s", "pgwr6p"]
    make_prepared_set(tmp_path / "prepared", ids)
    write_words(tmp_path / "prepared", ids)
    write_grid_splits(tmp_path / "grid", ids, ["lwaz5a"])
    reader = LandmarkWordReader(hidden=8)
    reader.scale.fill_(0.02)
    save_model(tmp_path / "reader.safetensors", reader)
    return tmp_path


def tiny_config(root, out: str, **extra) -> Audio2LmkConfig:
    settings = dict(model="lstm", hidden=16, n_components=4, batch_size=2, val_fraction=0.2, max_epochs=1,
                    max_pad_frames=5, threads=1)
    return Audio2LmkConfig(prepared=str(root / "prepared"), grid_root=str(root / "grid"), out_dir=str(root / out),
                           **{**settings, **extra})


def weights(path):
    net, meta = load_model(path, Audio2LmkNet)
    return net.state_dict(), meta


def test_word_loss_off_leaves_training_unchanged_and_on_changes_it(tiny_set):
    plain, _ = weights(train(tiny_config(tiny_set, "plain")))
    off, _ = weights(train(tiny_config(tiny_set, "off", word_reader=str(tiny_set / "reader.safetensors"))))
    on, meta = weights(train(tiny_config(tiny_set, "on", word_weight=1.0,
                                         word_reader=str(tiny_set / "reader.safetensors"))))
    assert all(torch.equal(plain[k], off[k]) for k in plain)
    assert any(not torch.equal(plain[k], on[k]) for k in plain)
    row = next(csv.DictReader(open(tiny_set / "on" / "log.csv")))
    assert float(row["word"]) > 0 and 0.0 <= float(row["val_word_acc"]) <= 1.0
    assert next(csv.DictReader(open(tiny_set / "plain" / "log.csv")))["word"] == ""
    assert meta["train_config"]["loss"]["word_weight"] == 1.0


def test_word_loss_without_a_reader_is_refused(tiny_set):
    with pytest.raises(TalkfaceError, match="word_reader"):
        train(tiny_config(tiny_set, "none", word_weight=1.0))


def test_fine_tuning_starts_from_the_given_net_and_keeps_the_last_epoch(tiny_set):
    first = train(tiny_config(tiny_set, "first"))
    start, _ = weights(first)
    tuned = train(tiny_config(tiny_set, "tuned", init_from=str(first), lr=0.0, warmup_epochs=0, keep_last=True,
                              max_epochs=2))
    after, meta = weights(tuned)
    assert meta["epoch"] == 1  # the last epoch, whatever its validation score
    assert all(torch.allclose(start[k], after[k]) for k in start)  # lr 0: nothing moved from the given net
    with pytest.raises(CheckpointError, match="architecture"):
        train(tiny_config(tiny_set, "other", init_from=str(first), hidden=8))


def test_an_ensemble_member_is_saved_as_a_net_of_its_own(tiny_set):
    a = train(tiny_config(tiny_set, "a"))
    b = train(tiny_config(tiny_set, "b", seed=1))
    ensemble = save_ensemble([a, b], tiny_set / "ens.safetensors")
    member, meta = weights(save_member(ensemble, 1, tiny_set / "member.safetensors"))
    original, original_meta = weights(b)
    assert all(torch.equal(member[k], original[k]) for k in original)
    assert meta["data"]["val_ids"] == original_meta["data"]["val_ids"] and meta["epoch"] == original_meta["epoch"]
    with pytest.raises(CheckpointError, match="member 2"):
        save_member(ensemble, 2, tiny_set / "none.safetensors")
