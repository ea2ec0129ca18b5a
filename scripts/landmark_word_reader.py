"""Train the landmark lipreader (audio2lmk.word_reader) on real s1 tracks, and score audio2lmk checkpoints with it.

    python scripts/landmark_word_reader.py train --prepared /work/main/data/prepared \
        --out audio2lmk/data/landmark_word_reader.safetensors
    python scripts/landmark_word_reader.py score --prepared /work/main/data/prepared \
        --reader audio2lmk/data/landmark_word_reader.safetensors CHECKPOINT [CHECKPOINT ...]

train: the speaker's train split only (a seeded 10 % of it held out for early stopping: with seed 0 the same
clips the seed-0 audio2lmk net validates on), augmented with amplitude scaling, noise and temporal smoothing (so
that it also reads the smoother predicted motion; `--smooth-prob 0`: never smoothed, a stricter judge of blur);
reports word accuracy on the held-out clips and the test split.
score: word accuracy on the test split of the real tracks and of each checkpoint's predicted motion (its sidecar's
calibration and voice gate applied, as the product does; photo = nothing, motion is about each clip's rest).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from audio2lmk.pca import clip_motion
from audio2lmk.word_reader import LandmarkWordReader, crop_windows, frozen, word_windows
from talkface import grid
from talkface.checkpoint import hardware_summary, load_model, save_model
from talkface.prepared import PreparedSet, holdout_split


def load_tracks(prepared: PreparedSet, ids: list[str], audio: bool = False) -> list[dict]:
    """Per clip: real motion (T, P, 2), word windows, and (audio) its 16 kHz speech."""
    out = []
    for clip_id in ids:
        c = prepared.load(clip_id, crops=False, audio=audio)
        n = min(len(c.mel), len(c.landmarks))
        motion, _ = clip_motion(c.landmarks[:n])
        out.append({"id": clip_id, "motion": motion, "windows": word_windows(c.words, n), "audio": c.audio})
    return out


def batches(tracks: list[dict], motions: list[np.ndarray], size: int, rng: np.random.Generator | None):
    """(motion (B, T, P, 2) tensor, windows) batches of whole clips (padded to the longest)."""
    order = rng.permutation(len(tracks)) if rng is not None else np.arange(len(tracks))
    for i in range(0, len(order), size):
        idx = order[i:i + size]
        length = max(len(motions[j]) for j in idx)
        block = np.zeros((len(idx), length, *motions[idx[0]].shape[1:]), np.float32)
        windows = []
        for b, j in enumerate(idx):
            block[b, :len(motions[j])] = motions[j]
            for start, end, word in tracks[j]["windows"]:
                if rng is not None:  # jitter the window's edges by a frame
                    start = int(np.clip(start + rng.integers(-1, 2), 0, end - 2))
                    end = int(np.clip(end + rng.integers(-1, 2), start + 2, len(motions[j])))
                windows.append((b, start, end, word))
        yield torch.as_tensor(block), windows


def augmented(motion: np.ndarray, rng: np.random.Generator, smooth_prob: float = 0.5) -> np.ndarray:
    """Amplitude x [0.8, 1.25], with probability smooth_prob smoothed in time (sigma up to 1.5 frames), small noise."""
    out = motion * rng.uniform(0.8, 1.25)
    if rng.random() < smooth_prob:
        out = gaussian_filter1d(out, rng.uniform(0.3, 1.5), axis=0, mode="nearest")
    return (out + rng.normal(0, 0.002, out.shape)).astype(np.float32)


@torch.no_grad()
def accuracy(reader: LandmarkWordReader, tracks: list[dict], motions: list[np.ndarray] | None = None) -> float:
    reader.eval()
    right = total = 0
    for block, windows in batches(tracks, motions or [t["motion"] for t in tracks], 64, None):
        crops, mask, labels = crop_windows(block, windows)
        right += int((reader(crops, mask).argmax(-1) == labels).sum())
        total += len(labels)
    return right / max(total, 1)


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    prepared = PreparedSet(args.prepared)
    n_usable = len(prepared.ids(grid.read_split(grid.split_path(args.grid_root, "s1", "train"))))
    train_ids, val_ids, provenance = holdout_split(prepared, args.grid_root, "s1", round(0.1 * n_usable), args.seed)
    test_ids = prepared.ids(grid.read_split(grid.split_path(args.grid_root, "s1", "test")))
    train_tracks, val_tracks = load_tracks(prepared, sorted(train_ids)), load_tracks(prepared, val_ids)
    test_tracks = load_tracks(prepared, test_ids)
    reader = LandmarkWordReader(hidden=args.hidden)
    reader.scale.fill_(float(np.sqrt(np.mean(np.concatenate([t["motion"] for t in train_tracks]) ** 2))))
    opt = torch.optim.AdamW(reader.parameters(), lr=args.lr, weight_decay=1e-3)
    rng = np.random.default_rng(args.seed)
    best, best_state, best_epoch, start = -1.0, None, -1, time.monotonic()
    for epoch in range(args.epochs):
        reader.train()
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 * (1 + np.cos(np.pi * epoch / args.epochs))
        motions = [augmented(t["motion"], rng, args.smooth_prob) for t in train_tracks]
        for block, windows in batches(train_tracks, motions, 32, rng):
            loss = reader.word_loss(block, windows)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        val = accuracy(reader, val_tracks)
        print(f"epoch {epoch}: loss {loss.item():.3f} held-out word accuracy {val:.3f}", flush=True)
        if val > best:
            best, best_epoch = val, epoch
            best_state = {k: v.clone() for k, v in reader.state_dict().items()}
    reader.load_state_dict(best_state)
    test = accuracy(reader, test_tracks)
    print(f"best epoch {best_epoch}: held-out {best:.3f}, s1 test (real tracks) {test:.3f}")
    save_model(args.out, reader, data={**provenance, "test_split": str(grid.split_path(args.grid_root, "s1", "test"))},
               train_config={k: str(v) for k, v in vars(args).items() if k != "func"}, epoch=best_epoch,
               val={"heldout_word_acc": best, "test_word_acc_real": test, "n_test_clips": len(test_tracks)},
               train_time_s=round(time.monotonic() - start, 1), hardware=hardware_summary("cpu"))


def score(args: argparse.Namespace) -> None:
    from audio2lmk.learned import load_checkpoint

    torch.set_num_threads(1)
    prepared = PreparedSet(args.prepared)
    reader, _ = load_model(args.reader, LandmarkWordReader)
    frozen(reader)
    test_ids = prepared.ids(grid.read_split(grid.split_path(args.grid_root, "s1", args.split)))[:args.clips or None]
    tracks = load_tracks(prepared, test_ids, audio=True)
    result = {"split": args.split, "n_clips": len(tracks), "real": accuracy(reader, tracks)}
    for path in args.checkpoints:
        model = load_checkpoint(path)
        motions = [model.predict(t["audio"], len(t["motion"]))[0].astype(np.float32) for t in tracks]
        result[str(path)] = accuracy(reader, tracks, motions)
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--hidden", type=int, default=128)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--smooth-prob", type=float, default=0.5,
                   help="share of training tracks blurred in time (0: as blur-intolerant as a pixel lipreader)")
    t.set_defaults(func=train)
    s = sub.add_parser("score")
    s.add_argument("checkpoints", nargs="*", type=Path)
    s.add_argument("--reader", type=Path, required=True)
    s.add_argument("--split", default="test")
    s.add_argument("--clips", type=int, default=0, help="first N clips of the split (0: all)")
    s.add_argument("--out", type=Path, default=None)
    s.set_defaults(func=score)
    for p in (t, s):
        p.add_argument("--prepared", type=Path, required=True)
        p.add_argument("--grid-root", default="../shared/data/grid")
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
