"""Training the learned fetch blend (lmk2video.fetch_attention) on a speaker's prepared clips.

Each sample re-enacts one frame of the dub with the real frame as the answer: a clip's own mouth bank
(talkface.mouth_bank.MouthBank, as the dub collects it) without the frames within `exclude` of the target
frame (so no candidate is the answer itself), the candidates the dub would fetch for the target's mouth
(`fetch_weights`), each warped onto the target landmarks (`mesh_points` + `warp_pairs`) and colour-matched
(`match_colour`), the frame itself played by a nearby frame of the clip (the dub's own frame shows the same
head with another mouth). Each sample is built with the `k_max` best bank candidates; training draws either
those or the dub's FETCH_K best (the shape blend's weights recomputed for that k), so the net serves both.

Loss: L1 (+ `lambda_grad` x L1 of the image gradients) of the dub's composite (the frame itself, the blend
inside the lip mask) against the real frame, over the box around the lips. Validation: lip-mask PSNR of the
net's blend and of the shape blend at each k on held-out clips of the train split.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lmk2video.fetch_attention import box_inputs, mouth_box, to_box
from lmk2video.fetch_attention_net import FetchAttention
from lmk2video.triangulation import mesh_points, triangles
from lmk2video.warp import warp_pairs
from talkface.checkpoint import hardware_summary, model_sidecar
from talkface.config import config_dict
from talkface.face_crop import crop_face, crop_transform
from talkface.mouth_bank import MouthBank, fetch_weights, lip_masks, match_colour, mouth_shapes, shape_distance
from talkface.prepared import PreparedClip, PreparedSet, holdout_split
from talkface.training import CsvLog, RunCheckpoints, cosine_decay, set_lr, start_run


@dataclass
class FetchAttentionConfig:
    SECTIONS = {"model": ("width", "work_size"),
                "data": ("prepared", "grid_root", "speaker", "val_clips", "max_train_clips", "targets_per_clip",
                         "exclude", "k_max", "k_dub", "own_offset"),
                "loss": ("lambda_grad",),
                "optim": ("batch_size", "lr", "max_steps"),
                "run": ("out_dir", "max_minutes", "val_every", "seed", "threads")}
    width: int = 16
    work_size: int = 32
    prepared: str = "data/prepared"
    grid_root: str = "../shared/data/grid"
    speaker: str = "s1"
    val_clips: int = 40
    max_train_clips: int = 0        # 0: all
    targets_per_clip: int = 10
    exclude: int = 3                # bank frames within this many frames of the target are not fetched
    k_max: int = 5
    k_dub: int = 3                  # talkface.dub.FETCH_K
    own_offset: int = 10            # the frame itself is played by a frame 4..own_offset away
    lambda_grad: float = 0.5
    batch_size: int = 32
    lr: float = 2e-3
    max_steps: int = 4000
    out_dir: str = "runs/fetch_attention"
    max_minutes: float = 20.0
    val_every: int = 250
    seed: int = 0
    threads: int = 1


FIELDS = ("pixels", "distances", "w_max", "w_dub", "masks", "real", "lips")


def clip_samples(clip: PreparedClip, targets: np.ndarray, config: FetchAttentionConfig, rng: np.random.Generator,
                 tri: np.ndarray) -> list[dict]:
    """One sample per target frame of a prepared clip (fields FIELDS, candidates padded to 1 + k_max)."""
    crops, lmk = clip.crops, clip.crop_landmarks
    size, work, c_max = crops.shape[1], config.work_size, 1 + config.k_max
    bank = MouthBank(size)
    for t in range(len(crops)):
        bank.offer(crops[t], lmk[t], t)
    shapes, bank_shapes, bank_frames = mouth_shapes(lmk), bank.shapes, np.array(bank.frame_index)
    out = []
    for t in targets:
        allowed = np.flatnonzero(np.abs(bank_frames - t) > config.exclude)
        offsets = [o for o in range(-config.own_offset, config.own_offset + 1)
                   if abs(o) > config.exclude and 0 <= t + o < len(crops)]
        if len(allowed) == 0 or not offsets:
            continue
        s = int(t + rng.choice(offsets))
        w_max = fetch_weights(shapes[t:t + 1], bank_shapes[allowed], shapes[s:s + 1], k=config.k_max, time_sigma=0)[0][0]
        w_dub = fetch_weights(shapes[t:t + 1], bank_shapes[allowed], shapes[s:s + 1], k=config.k_dub, time_sigma=0)[0][0]
        columns = [0, *sorted(np.flatnonzero(w_max[1:]) + 1, key=lambda c: -w_max[c])]
        transform = crop_transform(lmk[t], size)
        l = transform.to_crop(lmk[t])
        images = [crop_face(crops[s], transform) if c == 0 else bank.crops[allowed[c - 1]] for c in columns]
        points = [transform.to_crop(lmk[s]) if c == 0 else bank.landmarks[allowed[c - 1]] for c in columns]
        meshes = [mesh_points(p, l[None], size) for p in points]
        lips, band = lip_masks(l, size)
        box = mouth_box(lips)
        if box is None:
            continue
        candidates = match_colour(warp_pairs(images, [m[0] for m in meshes], [m[1][0] for m in meshes], tri), band)
        pixels, masks = box_inputs(candidates, l, box, work)
        sample = {"pixels": np.zeros((c_max, 3, work, work), np.float16), "distances": np.zeros(c_max, np.float32),
                  "w_max": np.zeros(c_max, np.float32), "w_dub": np.zeros(c_max, np.float32), "masks": masks,
                  "real": to_box(crop_face(crops[t], transform), box, work).transpose(2, 0, 1) / 255.0,
                  "lips": to_box(lips, box, work)}
        n = len(columns)
        sample["pixels"][:n] = pixels
        sample["distances"][:n] = shape_distance(shapes[t], np.concatenate([shapes[s:s + 1], bank_shapes[allowed[np.array(columns[1:], int) - 1]]]))
        sample["w_max"][:n], sample["w_dub"][:n] = w_max[columns], w_dub[columns]
        out.append(sample)
    return out


def build_samples(prepared: PreparedSet, ids: list[str], config: FetchAttentionConfig, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    tri, samples = triangles(), []
    for n, clip_id in enumerate(ids):
        clip = prepared.load(clip_id)
        targets = rng.choice(len(clip.crops), min(config.targets_per_clip, len(clip.crops)), replace=False)
        samples += clip_samples(clip, targets, config, rng, tri)
        if n % 100 == 0:
            print(f"samples: {n}/{len(ids)} clips, {len(samples)} samples", flush=True)
    return {k: np.stack([s[k] for s in samples]) for k in FIELDS}


def composite(weights: torch.Tensor, pixels: torch.Tensor, lips: torch.Tensor) -> torch.Tensor:
    """The dub's lips: the frame itself (candidate 0) with the blend inside the lip mask -> (B, 3, w, w)."""
    fetched = (weights[:, :, None] * pixels).sum(1)
    own = pixels[:, 0]
    return own + lips[:, None] * (fetched - own)


def batch_tensors(data: dict[str, np.ndarray], index: np.ndarray, use_dub_k: np.ndarray) -> dict[str, torch.Tensor]:
    """A batch; rows with use_dub_k keep only the frame itself and the dub's k best, with their weights."""
    b = {k: torch.from_numpy(np.asarray(data[k][index], np.float32)) for k in FIELDS}
    dub_k = torch.from_numpy(use_dub_k)[:, None]
    weights = torch.where(dub_k, b["w_dub"], b["w_max"])
    valid = torch.where(dub_k, b["w_dub"] > 0, b["w_max"] > 0)
    valid[:, 0] = True
    b["weights"], b["valid"] = weights / weights.sum(1, keepdim=True).clamp(min=1e-12), valid
    return b


def loss_of(out: torch.Tensor, real: torch.Tensor, lambda_grad: float) -> torch.Tensor:
    diff = out - real
    loss = diff.abs().mean()
    if lambda_grad:
        loss = loss + lambda_grad * ((diff[..., 1:, :] - diff[..., :-1, :]).abs().mean() +
                                     (diff[..., :, 1:] - diff[..., :, :-1]).abs().mean())
    return loss


def lip_psnr(out: torch.Tensor, real: torch.Tensor, lips: torch.Tensor) -> float:
    """PSNR (0-1 images) of the squared error weighted by the lip mask, over all samples."""
    mse = float(((out - real) ** 2 * lips[:, None]).sum() / (3 * lips.sum()).clamp(min=1e-9))
    return 10 * math.log10(1.0 / max(mse, 1e-12))


@torch.no_grad()
def evaluate(model: FetchAttention, data: dict[str, np.ndarray]) -> dict[str, float]:
    """Lip PSNR of the net's blend and the shape blend, with the dub's k and with k_max candidates."""
    out = {}
    index = np.arange(len(data["real"]))
    for name, dub_k in (("dub_k", True), ("k_max", False)):
        rows = {"learned": [], "shape": []}
        reals, lips = [], []
        for start in range(0, len(index), 256):
            b = batch_tensors(data, index[start:start + 256], np.full(len(index[start:start + 256]), dub_k))
            rows["learned"].append(composite(model(b["pixels"], b["distances"], b["weights"], b["masks"], b["valid"]),
                                             b["pixels"], b["lips"]))
            rows["shape"].append(composite(b["weights"][:, :, None, None], b["pixels"], b["lips"]))
            reals.append(b["real"])
            lips.append(b["lips"])
        real, lip = torch.cat(reals), torch.cat(lips)
        for method, images in rows.items():
            out[f"{method}_{name}_psnr"] = lip_psnr(torch.cat(images), real, lip)
    return out


def train(config: FetchAttentionConfig) -> Path:
    out_dir = start_run(config.threads, config.seed, config.out_dir)
    prepared = PreparedSet(config.prepared)
    train_ids, val_ids, provenance = holdout_split(prepared, config.grid_root, config.speaker, config.val_clips, config.seed)
    if config.max_train_clips:
        train_ids = train_ids[:config.max_train_clips]
    cache = out_dir / "samples.npz"
    key = {k: v for k, v in dataclasses.asdict(config).items() if k in FetchAttentionConfig.SECTIONS["data"] or k == "work_size"}
    if cache.is_file() and str(np.load(cache)["key"]) == repr(key):
        stored = np.load(cache)
        train_data = {k: stored["train_" + k] for k in FIELDS}
        val_data = {k: stored["val_" + k] for k in FIELDS}
    else:
        started = time.time()
        train_data = build_samples(prepared, train_ids, config, config.seed)
        val_data = build_samples(prepared, val_ids, config, config.seed + 1)
        print(f"built {len(train_data['real'])} train / {len(val_data['real'])} val samples in {time.time() - started:.0f} s")
        np.savez(cache, key=repr(key), **{"train_" + k: v for k, v in train_data.items()},
                 **{"val_" + k: v for k, v in val_data.items()})

    model = FetchAttention(config.width, config.work_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    meta = model_sidecar(model, train_config=config_dict(config),
                         data={**provenance, "train_clips_used": len(train_ids),
                               "train_samples": len(train_data["real"]), "val_samples": len(val_data["real"])},
                         hardware=hardware_summary("cpu"))
    checkpoints = RunCheckpoints(out_dir, meta)
    log = CsvLog(out_dir / "log.csv", ["step", "minutes", "loss", "learned_dub_k_psnr", "shape_dub_k_psnr",
                                       "learned_k_max_psnr", "shape_k_max_psnr"], fresh=True)
    rng = np.random.default_rng(config.seed)
    best = evaluate(model, val_data)
    print(f"step 0 (= the shape blend): {best}")
    checkpoints.save_model("best", model.state_dict(), step=0, val=best, minutes=0.0)
    best_score, best_step, started, step = best["learned_dub_k_psnr"], 0, time.time(), 0
    n = len(train_data["real"])
    while step < config.max_steps and time.time() - started < config.max_minutes * 60:
        index = rng.choice(n, config.batch_size, replace=False)
        b = batch_tensors(train_data, index, rng.random(config.batch_size) < 0.5)
        set_lr(cosine_decay(config.lr, (time.time() - started) / (config.max_minutes * 60), 0.05), optimiser)
        weights = model(b["pixels"], b["distances"], b["weights"], b["masks"], b["valid"])
        loss = loss_of(composite(weights, b["pixels"], b["lips"]), b["real"], config.lambda_grad)
        optimiser.zero_grad()
        loss.backward()
        loss = loss.item()
        optimiser.step()
        step += 1
        last = step >= config.max_steps or time.time() - started >= config.max_minutes * 60
        if step % config.val_every == 0 or last:
            metrics = evaluate(model, val_data)
            log.write({"step": step, "minutes": (time.time() - started) / 60, "loss": loss, **metrics})
            print(f"step {step} ({(time.time() - started) / 60:.1f} min) loss {loss:.4f} {metrics}", flush=True)
            if metrics["learned_dub_k_psnr"] > best_score:
                best_score, best_step, best = metrics["learned_dub_k_psnr"], step, metrics
                checkpoints.save_model("best", model.state_dict(), step=step, val=metrics,
                                       minutes=(time.time() - started) / 60)
    print(f"best step {best_step}: {best}")
    return checkpoints.best
