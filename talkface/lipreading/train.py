"""Training the GRID lipreader on prepared clips of one speaker's train split.

Per-frame cross-entropy on word labels from the alignments is the main signal (CTC alone barely learns
on this data in CPU budgets, see DESIGN.md); CTC can be mixed in. Mouth crops of all clips are extracted
once and cached in the run folder, then training runs from RAM. Early stopping on validation WER (grammar
decoding, as used at evaluation). `resume=True` continues from the last epoch's state.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import jiwer
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from talkface.checkpoint import hardware_summary, load_checkpoint, model_sidecar, save_checkpoint
from talkface.config import config_dict
from talkface.errors import TalkfaceError
from talkface.grid import read_split, split_path
from talkface.lipreading.decode import SIL, ctc_greedy_decode, grammar_decode, word_class
from talkface.lipreading.model import LipreaderModelConfig, LipreaderNet
from talkface.lipreading.mouth import mouth_crops
from talkface.prepared import PreparedSet, holdout_split
from talkface.training import (CsvLog, RunCheckpoints, cosine_decay, load_module_tensors, module_tensors,
                               optimizer_tensors, restore_optimizer, set_lr)

IGNORE = -100  # label of padding frames


@dataclass
class LipreaderConfig:
    prepared: str = "data/prepared"
    grid_root: str = "../shared/data/grid"     # for splits/<speaker>_{train,test}.txt (packaged copies otherwise)
    speaker: str = "s1"
    out_dir: str = "runs/lipreader"
    # model
    mouth_height: int = 24
    mouth_width: int = 48
    channels: list[int] = field(default_factory=lambda: [24, 48, 64])
    embed: int = 192
    hidden: int = 128
    dropout: float = 0.3
    # optimisation
    max_epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    ctc_weight: float = 0.0                    # > 0 adds word-level CTC (blank = silence class)
    patience: int = 8                          # epochs without a better val WER before stopping
    val_fraction: float = 0.1
    seed: int = 0
    # augmentation
    flip: bool = True
    shift: int = 2                             # random translation, mouth-crop pixels
    temporal_jitter: float = 0.05              # probability a frame is dropped, and that one is duplicated
    brightness: float = 0.2                    # random gain 1 +/- b and offset +/- b (in per-clip std units)
    # machine / run
    device: str = "cpu"
    threads: int = 2
    resume: bool = False
    max_steps: int | None = None               # stop early (smoke tests)
    evaluate_test: bool = True                 # read the test split once with the best checkpoint

    SECTIONS = {  # the nested YAML shape every trainer's config shares (talkface.config)
        "model": ("mouth_height", "mouth_width", "channels", "embed", "hidden", "dropout"),
        "data": ("prepared", "grid_root", "speaker", "val_fraction", "flip", "shift", "temporal_jitter", "brightness"),
        "loss": ("label_smoothing", "ctc_weight"),
        "optim": ("max_epochs", "batch_size", "lr", "weight_decay", "warmup_epochs", "patience", "max_steps"),
        "run": ("out_dir", "seed", "device", "threads", "resume", "evaluate_test"),
    }

    def model_config(self) -> LipreaderModelConfig:
        return LipreaderModelConfig(self.mouth_height, self.mouth_width, tuple(self.channels), self.embed,
                                    self.hidden, self.dropout)


# ---------------------------------------------------------------- data


def frame_labels(words: list[dict], n_frames: int) -> np.ndarray:
    """(T,) class per video frame: the word whose alignment interval holds the frame's centre."""
    labels = np.full(n_frames, SIL, np.int64)
    centres = np.arange(n_frames) + 0.5
    for w in words:
        labels[(centres >= w["start"]) & (centres < w["end"])] = word_class(w["word"])
    return labels


@dataclass
class MouthData:
    """Mouth crops and frame labels of clips, kept in RAM (float16)."""
    mouths: dict[str, np.ndarray]   # id -> (T, H, W) float16
    labels: dict[str, np.ndarray]   # id -> (T,) int64
    transcripts: dict[str, str]


def load_mouth_data(prepared: PreparedSet, ids: list[str], size: tuple[int, int], cache: Path) -> MouthData:
    """Mouth crops for `ids`, from the npz cache where present; new clips are extracted and the cache rewritten."""
    mouths, labels, transcripts = {}, {}, {}
    if cache.is_file():
        with np.load(cache) as z:  # each z[key] reads the array from disk: read each once
            all_mouths, all_labels, lengths = z["mouths"], z["labels"].astype(np.int64), z["lengths"]
            cached_ids, cached_transcripts = z["ids"].tolist(), z["transcripts"].tolist()
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        for i, clip_id in enumerate(cached_ids):
            sl = slice(offsets[i], offsets[i + 1])
            mouths[clip_id], labels[clip_id] = all_mouths[sl], all_labels[sl]
            transcripts[clip_id] = str(cached_transcripts[i])
    missing = [i for i in ids if i not in mouths]
    for clip_id in tqdm(missing, desc="mouth crops", disable=not missing):
        clip = prepared.load(clip_id)
        mouths[clip_id] = mouth_crops(clip.crops, clip.crop_landmarks, size).astype(np.float16)
        labels[clip_id] = frame_labels(clip.words, len(clip.crops))
        transcripts[clip_id] = clip.transcript
    if missing:
        keys = sorted(mouths)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.stem + ".tmp.npz")
        np.savez(tmp, ids=np.array(keys), lengths=np.array([len(mouths[k]) for k in keys]),
                 mouths=np.concatenate([mouths[k] for k in keys]),
                 labels=np.concatenate([labels[k] for k in keys]).astype(np.int8),
                 transcripts=np.array([transcripts[k] for k in keys]))
        os.replace(tmp, cache)
    return MouthData({i: mouths[i] for i in ids}, {i: labels[i] for i in ids}, {i: transcripts[i] for i in ids})


def augment(mouths: np.ndarray, labels: np.ndarray, config: LipreaderConfig,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random temporal jitter, flip, shift and brightness of one clip (labels follow the frames)."""
    x = mouths.astype(np.float32)
    if config.temporal_jitter > 0:
        # Speaking-rate noise: drop k frames and repeat k others (labels move with them). The length is
        # kept so that batches stay unpadded (the unpacked GRU is much faster).
        n = len(x)
        k = min(rng.binomial(n, config.temporal_jitter), n // 2)
        order = rng.permutation(n)
        repeats = np.ones(n, np.int64)
        repeats[order[:k]] = 0
        repeats[order[k:2 * k]] = 2
        idx = np.repeat(np.arange(n), repeats)
        x, labels = x[idx], labels[idx]
    if config.flip and rng.random() < 0.5:
        x = x[:, :, ::-1]
    if config.shift > 0:
        s = config.shift
        h, w = x.shape[1:]
        padded = np.pad(x, ((0, 0), (s, s), (s, s)), mode="edge")
        dy, dx = rng.integers(0, 2 * s + 1, size=2)
        x = padded[:, dy:dy + h, dx:dx + w]
    if config.brightness > 0:
        b = config.brightness
        x = x * rng.uniform(1 - b, 1 + b) + rng.uniform(-b, b)
    return np.ascontiguousarray(x), labels


def collate(items: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad to the longest clip: mouths (B,T,H,W) float32, labels (B,T) with IGNORE padding, lengths (B,)."""
    lengths = [len(m) for m, _ in items]
    t = max(lengths)
    h, w = items[0][0].shape[1:]
    mouths = np.zeros((len(items), t, h, w), np.float32)
    labels = np.full((len(items), t), IGNORE, np.int64)
    for i, (m, lab) in enumerate(items):
        mouths[i, :len(m)] = m
        labels[i, :len(m)] = lab
    return torch.from_numpy(mouths), torch.from_numpy(labels), torch.tensor(lengths)


# ---------------------------------------------------------------- losses and evaluation


def lipreader_loss(log_probs: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor,
                   config: LipreaderConfig) -> torch.Tensor:
    loss = F.cross_entropy(log_probs.transpose(1, 2), labels, ignore_index=IGNORE,
                           label_smoothing=config.label_smoothing)
    if config.ctc_weight > 0:
        targets = []
        for lab, n in zip(labels, lengths):
            seq = lab[:n]
            words = seq[(seq != SIL) & torch.cat([torch.tensor([True]), seq[1:] != seq[:-1]])]
            targets.append(words)
        target_lengths = torch.tensor([len(t) for t in targets])
        ctc = F.ctc_loss(log_probs.transpose(0, 1), torch.cat(targets), lengths, target_lengths,
                         blank=SIL, zero_infinity=True)
        loss = loss + config.ctc_weight * ctc
    return loss


@torch.no_grad()
def evaluate(model: LipreaderNet, data: MouthData, ids: list[str], device: str, batch_size: int = 64) -> dict:
    """Grammar-decoded WER/CER (jiwer), greedy CTC WER, frame accuracy and loss over clips."""
    model.eval()
    refs, hyps, greedy = [], [], []
    correct = total = 0
    loss_sum = 0.0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        mouths, labels, lengths = collate([(data.mouths[i], data.labels[i]) for i in chunk])
        log_probs = model(mouths.to(device), lengths).cpu()
        loss_sum += F.nll_loss(log_probs.transpose(1, 2), labels, ignore_index=IGNORE, reduction="sum").item()
        mask = labels != IGNORE
        correct += (log_probs.argmax(-1)[mask] == labels[mask]).sum().item()
        total += mask.sum().item()
        for clip_id, lp, n in zip(chunk, log_probs.numpy(), lengths.tolist()):
            refs.append(data.transcripts[clip_id])
            hyps.append(" ".join(grammar_decode(lp[:n])))
            greedy.append(" ".join(ctc_greedy_decode(lp[:n])))
    return {"wer": jiwer.wer(refs, hyps), "cer": jiwer.cer(refs, hyps), "greedy_wer": jiwer.wer(refs, greedy),
            "frame_acc": correct / max(total, 1), "loss": loss_sum / max(total, 1), "n_clips": len(ids)}


# ---------------------------------------------------------------- training


def _lr_at(config: LipreaderConfig, epoch_float: float) -> float:
    """Linear warm-up, then cosine decay to 2% of the peak at the last epoch."""
    if epoch_float < config.warmup_epochs:
        return config.lr * (epoch_float + 1e-3) / config.warmup_epochs
    annealed = (epoch_float - config.warmup_epochs) / max(config.max_epochs - config.warmup_epochs, 1e-6)
    return cosine_decay(config.lr, annealed, floor=0.02)


def split_ids(prepared: PreparedSet, config: LipreaderConfig) -> dict:
    """Train/val/test ids (prepared, usable) and the split ids left out with reasons."""
    train_all = read_split(split_path(config.grid_root, config.speaker, "train"))
    test_all = read_split(split_path(config.grid_root, config.speaker, "test"))
    n_val = max(1, round(config.val_fraction * len(prepared.ids(train_all))))
    train, val, _ = holdout_split(prepared, config.grid_root, config.speaker, n_val, config.seed)
    return {"train": sorted(train), "val": val, "test": prepared.ids(test_all),
            "excluded_train": prepared.excluded(train_all), "excluded_test": prepared.excluded(test_all)}


LOG_FIELDS = ["epoch", "step", "lr", "train_loss", "val_loss", "val_frame_acc", "val_wer", "val_cer", "val_greedy_wer",
              "seconds"]


def _finished(progress: dict, config: LipreaderConfig) -> bool:
    """All epochs done, early stop (no val improvement for `patience` epochs), or the step limit reached."""
    return (progress["epoch"] >= config.max_epochs or progress["epoch"] - progress["best_epoch"] >= config.patience
            or (config.max_steps is not None and progress["step"] >= config.max_steps))


def train(config: LipreaderConfig) -> Path:
    """Train; returns the path of the best checkpoint (`<out_dir>/best.safetensors`, sidecar beside it)."""
    torch.set_num_threads(config.threads)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prepared = PreparedSet(config.prepared)
    split = split_ids(prepared, config)
    size = (config.mouth_height, config.mouth_width)
    ids = split["train"] + split["val"] + (split["test"] if config.evaluate_test else [])
    data = load_mouth_data(prepared, ids, size, out / f"mouths_{size[0]}x{size[1]}.npz")

    torch.manual_seed(config.seed)
    model = LipreaderNet(config.model_config()).to(config.device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    progress = {"epoch": 0, "step": 0, "best_wer": math.inf, "best_loss": math.inf, "best_epoch": 0,
                "train_seconds": 0.0}
    run = RunCheckpoints(out, model_sidecar(model, train_config=config_dict(config),
                 classes="decode.CLASSES (0 = silence/blank, 1.. = grid.VOCABULARY)",
                 data={"prepared": str(config.prepared), "speaker": config.speaker,
                       "n_train": len(split["train"]), "val_ids": split["val"], "n_test": len(split["test"]),
                       "excluded_train": split["excluded_train"], "excluded_test": split["excluded_test"]},
                 hardware=hardware_summary(config.device)))
    saved = run.load_last(config.device) if config.resume else None
    if saved is not None:
        load_module_tensors(model, saved[0], "model")
        restore_optimizer(opt, saved[0])
        progress = saved[1]["progress"]
        print(f"resuming after epoch {progress['epoch']} (step {progress['step']}, best val WER {progress['best_wer']:.3f})")
    log = CsvLog(out / "log.csv", LOG_FIELDS, fresh=saved is None)  # a fresh run starts a fresh log
    steps_per_epoch = math.ceil(len(split["train"]) / config.batch_size)
    while not _finished(progress, config):
        epoch = progress["epoch"]
        rng = np.random.default_rng([config.seed, epoch])  # per-epoch seeds make resume reproducible
        torch.manual_seed(config.seed * 1000 + epoch)
        model.train()
        began = time.time()
        order = [split["train"][i] for i in rng.permutation(len(split["train"]))]
        loss_sum = n_batches = 0
        lr = _lr_at(config, epoch)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.max_epochs}", leave=False)
        for b in bar:
            if config.max_steps is not None and progress["step"] >= config.max_steps:
                break
            lr = _lr_at(config, epoch + b / steps_per_epoch)
            set_lr(lr, opt)
            chunk = order[b * config.batch_size:(b + 1) * config.batch_size]
            mouths, labels, lengths = collate([augment(data.mouths[i], data.labels[i], config, rng) for i in chunk])
            log_probs = model(mouths.to(config.device), lengths)
            loss = lipreader_loss(log_probs, labels.to(config.device), lengths, config)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            progress["step"] += 1
            loss_sum += loss.item()
            n_batches += 1
            bar.set_postfix(loss=f"{loss.item():.3f}")
        val = evaluate(model, data, split["val"], config.device)
        progress["epoch"] = epoch + 1
        progress["train_seconds"] += time.time() - began
        improved = (val["wer"], val["loss"]) < (progress["best_wer"], progress["best_loss"])
        if improved:
            progress.update(best_wer=val["wer"], best_loss=val["loss"], best_epoch=epoch + 1)
            run.save_model("best", model.state_dict(), epochs=epoch + 1, steps=progress["step"], val=val)
        row = {"epoch": epoch + 1, "step": progress["step"], "lr": round(lr, 6),
               "train_loss": round(loss_sum / max(n_batches, 1), 4), "val_loss": round(val["loss"], 4),
               "val_frame_acc": round(val["frame_acc"], 4), "val_wer": round(val["wer"], 4),
               "val_cer": round(val["cer"], 4), "val_greedy_wer": round(val["greedy_wer"], 4),
               "seconds": round(time.time() - began, 1)}
        log.write(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()) + (" *" if improved else ""), flush=True)
        run.save_last({**module_tensors("model", model), **optimizer_tensors(opt)}, progress)

    if not run.best.is_file():
        raise TalkfaceError(f"{out}: no epoch finished, nothing to save")
    tensors, meta = load_checkpoint(run.best, config.device)
    meta.update(epochs_run=progress["epoch"], steps_run=progress["step"], train_seconds=round(progress["train_seconds"]))
    if config.evaluate_test and split["test"]:
        model.load_state_dict(tensors)
        meta["test"] = {**evaluate(model, data, split["test"], config.device), "clips": "prepared test split",
                        "excluded": split["excluded_test"]}
        print(f"test: WER {meta['test']['wer']:.3f} CER {meta['test']['cer']:.3f} on {len(split['test'])} clips")
    save_checkpoint(run.best, tensors, meta)
    return run.best
