"""Lipreader: grammar decoding, mouth crops, model shapes, a training smoke run, WER scoring, and the shipped
reader on real GRID test clips (skips without prepared data / shipped checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import jiwer
import numpy as np
import pytest
import torch

from talkface.errors import NoFaceError, TalkfaceError
from talkface.grid import read_split, split_path, transcript_from_id
from talkface.lipreading.decode import CLASSES, SIL, SLOTS, WORD_CLASS, ctc_greedy_decode, grammar_decode
from talkface.lipreading.model import LipreaderModelConfig, LipreaderNet
from talkface.lipreading.mouth import mouth_affine, mouth_crops
from talkface.lipreading.train import LipreaderConfig, frame_labels, train
from talkface.lipreading.wer import DEFAULT_CHECKPOINT, LipReader, evaluate_wer, list_videos, read_transcripts
from talkface.media import write_video

REPO = Path(__file__).resolve().parents[2]


def one_hot_log_probs(labels: list[int], floor: float = 0.02) -> np.ndarray:
    p = np.full((len(labels), len(CLASSES)), floor / len(CLASSES))
    p[np.arange(len(labels)), labels] += 1 - floor
    return np.log(p)


def sentence_labels(words: list[str], lead: int = 5, per_word: int = 6, tail: int = 6) -> list[int]:
    return [SIL] * lead + [WORD_CLASS[w] for w in words for _ in range(per_word)] + [SIL] * tail


# ---------------------------------------------------------------- decoding


def test_grammar_decode_clean_path():
    words = transcript_from_id("bbaf2n").split()
    lp = one_hot_log_probs(sentence_labels(words))
    assert grammar_decode(lp) == words
    assert ctc_greedy_decode(lp) == words


def test_grammar_decode_noisy_path_obeys_grammar():
    rng = np.random.default_rng(0)
    for _ in range(5):
        lp = np.log(rng.dirichlet(np.ones(len(CLASSES)), size=40))
        words = grammar_decode(lp)
        assert len(words) == 6
        assert all(w in slot for w, slot in zip(words, SLOTS))


def test_grammar_decode_fixes_an_out_of_slot_word():
    words = transcript_from_id("pgwr6p").split()  # place green with r six please
    labels = sentence_labels(words)
    lp = one_hot_log_probs(labels)
    letter_frames = [i for i, c in enumerate(labels) if c == WORD_CLASS["r"]]
    p = np.exp(lp)
    p[letter_frames] = 0.01 / len(CLASSES)
    p[letter_frames, WORD_CLASS["blue"]] = 0.6     # the network prefers a colour in the letter slot ...
    p[letter_frames, WORD_CLASS["r"]] = 0.3        # ... the grammar only allows letters there
    lp = np.log(p / p.sum(1, keepdims=True))
    assert grammar_decode(lp) == words
    assert "blue" in ctc_greedy_decode(lp)


def test_grammar_decode_rejects_too_few_frames():
    with pytest.raises(TalkfaceError, match="6-word"):
        grammar_decode(np.zeros((5, len(CLASSES))))


def test_frame_labels_follow_alignment():
    words = [{"start": 0.0, "end": 2.0, "word": "sil"}, {"start": 2.0, "end": 4.5, "word": "bin"},
             {"start": 4.5, "end": 6.0, "word": "blue"}]
    labels = frame_labels(words, 7)
    # frame t is labelled by the word holding its centre t + 0.5
    assert labels.tolist() == [SIL, SIL, WORD_CLASS["bin"], WORD_CLASS["bin"], WORD_CLASS["blue"],
                               WORD_CLASS["blue"], SIL]


# ---------------------------------------------------------------- mouth crops


def synthetic_face(size: int = 128, centre=(70.0, 90.0), width: float = 36.0, t: int = 4):
    """Face crops with a dark ellipse 'mouth' and matching mouth landmarks (others at the crop centre)."""
    crops = np.full((t, size, size, 3), 200, np.uint8)
    cx, cy = centre
    cv2.ellipse(crops[0], (round(cx), round(cy)), (round(width / 2), round(width / 6)), 0, 0, 360, (30, 30, 30), -1)
    crops[1:] = crops[0]
    lmk = np.full((t, 68, 2), size / 2, np.float32)
    angles = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    lmk[:, 48:68, 0] = cx + width / 2 * np.cos(angles)
    lmk[:, 48:68, 1] = cy + width / 6 * np.sin(angles)
    lmk[:, 48] = (cx - width / 2, cy)
    lmk[:, 54] = (cx + width / 2, cy)
    return crops, lmk


def test_mouth_crops_shape_and_placement():
    crops, lmk = synthetic_face()
    m = mouth_crops(crops, lmk, (24, 48))
    assert m.shape == (4, 24, 48) and m.dtype == np.float32
    assert abs(m.mean()) < 1e-4 and abs(m.std() - 1) < 1e-3
    dark = m[0] < 0
    ys, xs = np.nonzero(dark)
    assert abs(ys.mean() - 11.5) < 1.0 and abs(xs.mean() - 23.5) < 1.0   # mouth centred
    assert 0.45 < (xs.max() - xs.min() + 1) / 48 < 0.75                    # about 1 / BOX_WIDTH of the width
    assert m[:, 0].mean() > 0 and m[:, -1].mean() > 0                      # skin above and below


def test_mouth_crops_do_not_depend_on_crop_size():
    small = mouth_crops(*synthetic_face(128, (70, 90), 36), (24, 48))
    large = mouth_crops(*synthetic_face(256, (140, 180), 72), (24, 48))
    assert np.abs(small - large).mean() < 0.15


def test_mouth_affine_maps_mouth_centre_to_crop_centre():
    _, lmk = synthetic_face()
    box = mouth_affine(lmk, (32, 64))
    centre = box[:, :2] @ lmk[0, 48:68].mean(0) + box[:, 2]
    np.testing.assert_allclose(centre, [31.5, 15.5], atol=1e-4)


# ---------------------------------------------------------------- model


def test_model_shapes_and_padding():
    torch.manual_seed(0)
    model = LipreaderNet(LipreaderModelConfig(channels=(8, 8, 8), embed=16, hidden=8)).eval()
    x = torch.randn(2, 12, 24, 48)
    x[1, 9:] = 0  # padding, as collate writes it
    with torch.no_grad():
        out = model(x, torch.tensor([12, 9]))
        alone = model(x[1:, :9])
    assert out.shape == (2, 12, len(CLASSES))
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(2, 12))
    torch.testing.assert_close(out[1, :9], alone[0], atol=1e-5, rtol=1e-4)  # padding does not leak in


@pytest.mark.parametrize("config", ["cpu", "gpu"])
def test_configs_load_and_fit_size_budget(config):
    from talkface.config import load_config

    cfg = load_config(LipreaderConfig, REPO / "configs" / "lipreader" / f"{config}.yaml")
    model = LipreaderNet(cfg.model_config())
    assert sum(p.numel() for p in model.parameters()) * 4 < 25e6
    out = model(torch.randn(1, 8, cfg.mouth_height, cfg.mouth_width))
    assert out.shape == (1, 8, len(CLASSES))


# ---------------------------------------------------------------- training smoke run


class SyntheticPrepared:
    """Stands in for PreparedSet (same ids/excluded/load interface) with synthetic clips in memory,
    so the smoke run does not depend on the on-disk prepared format."""

    def __init__(self, ids: list[str], skipped: dict[str, str], n_frames: int = 18):
        self.root = Path("synthetic")
        self.ok, self.skipped, self.n_frames = ids, skipped, n_frames

    def ids(self, split_ids):
        return [i for i in split_ids if i in self.ok]

    def excluded(self, split_ids):
        return {i: self.skipped.get(i, "not prepared") for i in split_ids if i not in self.ok}

    def load(self, clip_id):
        rng = np.random.default_rng(len(clip_id) + sum(map(ord, clip_id)))
        crops, lmk = synthetic_face(t=self.n_frames)
        crops = np.clip(crops.astype(int) + rng.integers(-20, 20, crops.shape), 0, 255).astype(np.uint8)
        words = transcript_from_id(clip_id).split()
        aligned = [{"start": 0.0, "end": 3.0, "word": "sil"}]
        aligned += [{"start": 3.0 + 2 * i, "end": 5.0 + 2 * i, "word": w} for i, w in enumerate(words)]
        aligned += [{"start": 15.0, "end": float(self.n_frames), "word": "sil"}]
        return SimpleNamespace(crops=crops, crop_landmarks=lmk, words=aligned, transcript=" ".join(words))


def test_training_smoke_run_and_resume(tmp_path, monkeypatch):
    train_ids = ["bbaf2n", "bbaf3s", "bgaa6n", "lrae3s", "pgwr6p", "sbbh4p"]
    test_ids = ["bbizzn", "lwaz5a"]
    fake = SyntheticPrepared(train_ids + test_ids[1:], {"bbizzn": "damaged"})
    monkeypatch.setattr("talkface.lipreading.train.PreparedSet", lambda root: fake)
    splits = tmp_path / "grid" / "splits"
    splits.mkdir(parents=True)
    (splits / "s1_train.txt").write_text("\n".join(train_ids) + "\n")
    (splits / "s1_test.txt").write_text("\n".join(test_ids) + "\n")
    config = LipreaderConfig(prepared="synthetic", grid_root=str(tmp_path / "grid"),
                             out_dir=str(tmp_path / "run"), channels=[4, 8, 8], embed=16, hidden=8,
                             batch_size=2, max_epochs=3, val_fraction=0.2, max_steps=2, threads=1)
    best = train(config)
    meta = json.loads(best.with_suffix(".json").read_text())
    assert meta["steps"] == 2 and meta["data"]["n_train"] == 5 and len(meta["data"]["val_ids"]) == 1
    assert set(meta["data"]["val_ids"]).isdisjoint(test_ids)
    assert meta["test"]["n_clips"] == 1 and meta["test"]["excluded"] == {"bbizzn": "damaged"}
    assert 0 <= meta["val"]["wer"] <= 1.5
    assert (tmp_path / "run" / "mouths_24x48.npz").is_file()
    assert (tmp_path / "run" / "log.csv").read_text().count("\n") == 2

    config.resume, config.max_steps = True, 4
    train(config)
    last = json.loads((tmp_path / "run" / "last.json").read_text())
    assert last["progress"]["step"] == 4 and last["progress"]["epoch"] == 2
    assert (tmp_path / "run" / "log.csv").read_text().count("\n") == 3

    reader = LipReader.load(best)
    mouths = np.random.default_rng(1).standard_normal((18, 24, 48)).astype(np.float32)
    words = reader.read(mouths).split()
    assert len(words) == 6 and all(w in slot for w, slot in zip(words, SLOTS))


# ---------------------------------------------------------------- WER


def test_jiwer_hand_cases():
    ref = "bin blue at f two now"
    assert jiwer.wer(ref, ref) == 0
    assert jiwer.wer(ref, "bin blue at f three now") == pytest.approx(1 / 6)          # substitution
    assert jiwer.wer(ref, "bin blue f two now") == pytest.approx(1 / 6)               # deletion
    assert jiwer.wer(ref, "bin blue at at f two now") == pytest.approx(1 / 6)         # insertion
    assert jiwer.wer([ref, ref], [ref, "lay blue at f two soon"]) == pytest.approx(2 / 12)
    assert jiwer.cer("two", "too") == pytest.approx(1 / 3)


class GreyLevelReader:
    """Stand-in reader: the sentence is chosen by the video's grey level (no model, no face needed)."""
    checkpoint = "stub"

    def __init__(self, sentences: dict[int, str]):
        self.sentences = sentences

    def read(self, frames, name="video"):
        level = int(round(frames.mean() / 50.0)) * 50
        if level not in self.sentences:
            raise NoFaceError(f"{name}: no face found")
        return self.sentences[level]


def test_evaluate_wer_report(tmp_path):
    for name, level in (("bbaf2n", 50), ("bbaf3s", 100), ("lwaz5a", 150)):
        write_video(tmp_path / f"{name}.mp4", np.full((4, 32, 32, 3), level, np.uint8), 25.0)
    reader = GreyLevelReader({50: "bin blue at f two now", 100: "bin blue at f three again"})
    report = evaluate_wer(list_videos(tmp_path), reader=reader, progress=False)
    rows = {r["id"]: r for r in report["videos"]}
    assert rows["bbaf2n"]["wer"] == 0
    assert rows["bbaf3s"]["reference"] == "bin blue at f three soon" and rows["bbaf3s"]["wer"] == pytest.approx(1 / 6)
    assert rows["lwaz5a"]["hypothesis"] == "" and "no face" in rows["lwaz5a"]["error"]
    assert report["wer"] == pytest.approx(7 / 18) and report["n_failed"] == 1
    refs = [r["reference"] for r in report["videos"]]
    assert report["cer"] == pytest.approx(jiwer.cer(refs, [r["hypothesis"] for r in report["videos"]]))

    # A transcript file overrides the id-derived sentence; a list file names videos relative to itself.
    (tmp_path / "refs.txt").write_text("bbaf3s bin blue at f three again\n")
    (tmp_path / "list.txt").write_text("bbaf3s.mp4\n")
    report = evaluate_wer(list_videos(tmp_path / "list.txt"), read_transcripts(tmp_path / "refs.txt"),
                          reader=reader, progress=False)
    assert report["wer"] == 0 and report["n_videos"] == 1


def test_list_videos_errors(tmp_path):
    with pytest.raises(TalkfaceError, match="no video files"):
        list_videos(tmp_path)
    (tmp_path / "list.txt").write_text("missing.mp4\n")
    with pytest.raises(TalkfaceError, match="not found"):
        list_videos(tmp_path / "list.txt")


# ---------------------------------------------------------------- shipped reader on real clips


@pytest.mark.slow
def test_shipped_reader_on_real_test_clips(grid_root):
    """The shipped reader on raw s1 test videos, through the `eval wer` path (tracking -> crop -> mouth)."""
    assert DEFAULT_CHECKPOINT.is_file(), "the lipreader checkpoint must ship with the package"
    damaged = {"pbio7a", "prii9a"}  # grey first frames in the corpus itself
    ids = [i for i in read_split(split_path(grid_root, "s1", "test")) if i not in damaged][:10]
    report = evaluate_wer([grid_root / "s1" / f"{i}.mp4" for i in ids], reader=LipReader.load(), progress=False)
    assert report["n_failed"] == 0
    assert report["wer"] < 0.2
