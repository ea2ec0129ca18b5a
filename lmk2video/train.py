"""Training the learned lmk2video generator (MotionGAN + attention over the warped source).

Data: the speaker's prepared train split (never the test ids); a seeded few clips are held out for
validation. Each step: G produces T frames from a non-adjacent source frame; the critics D_f and
D_v take one Adam step on real vs generated; then G takes one on the weighted losses of
lmk2video.losses. Validation drives each held-out clip's first frame with its real landmark track
(the evaluation protocol) and reports PSNR/SSIM at crop size, next to the warp default on the same
frames. Outputs in out_dir: log.csv (+ TensorBoard if installed), samples/step_*.png
(source | target | warp | generated | attention), best.safetensors + .json (generator only, best
val PSNR), last.safetensors + .json (everything, for resume) and, when the run stops,
final.safetensors + .json (the generator of the last step; the best validation PSNR on the one
training face is not the only thing that matters, e.g. for faces it never saw).

Multi-GPU: `torchrun --nproc_per_node K -m talkface.cli ...`: WORLD_SIZE set -> DDP, each rank
takes its DistributedSampler share of every epoch; rank 0 validates, logs and saves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from lmk2video import losses
from lmk2video.conditioning import WarpStream, landmark_channels, landmark_maps, normalise_points, rescale_points
from lmk2video.data import ClipFrames, WindowDataset, load_clips
from lmk2video.learned import generate_frames
from lmk2video.learned_torch import TorchNet, resize, run_generator, to_signed, to_uint8
from lmk2video.networks import (Conditioning, FrameCritic, FrameCriticArch, Generator, GeneratorArch, VideoCritic,
                                VideoCriticArch, count_parameters)
from lmk2video.trained_face import FRAMES as FACE_FRAMES, fit_trained_face
from talkface.checkpoint import hardware_summary, model_sidecar
from talkface.config import config_dict
from talkface.errors import TalkfaceError
from talkface.metrics import frame_psnr, frame_ssim, mouth_box
from talkface.prepared import PreparedSet, holdout_split
from talkface.training import (CsvLog, RunCheckpoints, load_module_tensors, module_tensors, optimizer_tensors,
                               restore_optimizer, set_lr, warmup_linear_decay)


@dataclass
class Lmk2VideoConfig:
    prepared: str = "data/prepared"
    grid_root: str = "../shared/data/grid"  # for the split lists (falls back to talkface/splits)
    speaker: str = "s1"
    out_dir: str = "runs/lmk2video/paper"
    # model
    size: int = 128             # crop size of the prepared data (frames are generated at this size)
    work_size: int = 128        # resolution the networks run at (< size: CPU configs)
    heatmaps: str = "full"      # "full" (68 Gaussians, the paper) or "compact" (4 contour channels)
    warp_mouth: bool = True     # the fetching stream includes the warp default's mouth synthesis
    g_base: int = 64
    g_res: int = 6
    df_base: int = 64
    df_layers: int = 4
    dv_base: int = 32
    dv_layers: int = 4
    frames: int = 4             # T
    # losses (paper mapping in lmk2video/losses.py)
    gan_mode: str = "lsgan"
    lambda_img: float = 1.0     # lambda1
    lambda_fm: float = 0.01     # lambda2
    lambda_lms: float = 10.0    # lambda3
    lambda_id: float = 0.1      # lambda4 (dlib ResNet V; costly on CPU)
    lambda_dv_adv: float = 1.0  # lambda5
    lambda_dv_lms: float = 100.0  # lambda6
    lambda_mask: float = 0.001
    lambda_mask_tv: float = 0.03
    lambda_color: float = 0.5   # L1 on the colour layer C, so it learns where A does not use it yet
    mask_prior_steps: int = 0   # curriculum: the attention prior only acts for this many steps (0: always)
    mask_mode: str = "sparse"   # attention prior: "sparse" (penalise painting) or "ganimation" (penalise keeping)
    lambda_g_adv: float = 0.0
    id_metric: str = "l2"
    # G follows D_v's landmark head only while that head's error on the batch's real clips (MSE in
    # [-1, 1] crop units) is below this: an untrained head's gradients are noise, not landmarks. 0: always.
    lms_gate: float = 0.0
    # optimisation
    batch_size: int = 8
    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0       # linear learning-rate warm-up (Adam's first steps are sign-sized)
    decay_steps: int = 0        # linear decay to 0 over the last decay_steps before max_steps (0: constant)
    max_steps: int = 200_000
    max_minutes: float = 0.0    # 0: no time limit
    amp: bool = True            # bf16 autocast on CPU; fp16 autocast + GradScaler on CUDA
    # data
    val_clips: int = 8
    val_frames: int = 75
    max_train_clips: int = 0    # 0: every train clip (a subset keeps RAM and load time down on CPU)
    flip: bool = True
    near_source_prob: float = 0.0  # share of samples whose source lies later in the target window (data.pick_frames)
    recolour_prob: float = 0.0  # share of samples re-coloured as a whole (data.recolour): faces other than s1's
    recolour_field: float = 0.0  # amplitude of the smooth spatial gain field within a recolouring (0: uniform)
    workers: int = 4
    # bookkeeping
    log_every: int = 20
    val_every: int = 1000
    sample_every: int = 1000
    seed: int = 0
    threads: int = 2
    device: str = "auto"        # "auto": cuda when available
    tensorboard: bool = True
    resume: bool = True

    SECTIONS = {  # the nested YAML shape every trainer's config shares (talkface.config)
        "model": ("size", "work_size", "heatmaps", "warp_mouth", "g_base", "g_res", "df_base", "df_layers", "dv_base",
                  "dv_layers", "frames"),
        "data": ("prepared", "grid_root", "speaker", "val_clips", "val_frames", "max_train_clips", "flip",
                 "near_source_prob", "recolour_prob", "recolour_field", "workers"),
        "loss": ("gan_mode", "lambda_img", "lambda_fm", "lambda_lms", "lambda_id", "lambda_dv_adv", "lambda_dv_lms",
                 "lambda_mask", "lambda_mask_tv", "lambda_color", "mask_prior_steps", "mask_mode", "lambda_g_adv",
                 "id_metric", "lms_gate"),
        "optim": ("batch_size", "lr", "betas", "warmup_steps", "decay_steps", "max_steps", "amp"),
        "run": ("out_dir", "max_minutes", "log_every", "val_every", "sample_every", "seed", "threads", "device",
                "tensorboard", "resume"),
    }


LOG_FIELDS = ["step", "epoch", "loss_g", "img", "color", "fm", "lms", "id", "mask", "g_adv", "loss_d", "df_adv",
              "dv_adv", "dv_lms", "lms_on", "attention", "val_psnr", "val_ssim", "val_mouth_psnr", "warp_val_psnr",
              "frames_per_s", "elapsed_s"]


def build_generator(config: Lmk2VideoConfig) -> Generator:
    """The generator a config trains (its conditioning is recorded with it, for inference)."""
    try:
        conditioning = Conditioning(config.size, config.work_size, config.heatmaps, config.warp_mouth, config.frames)
    except ValueError as err:
        raise TalkfaceError(f"lmk2video config: {err}") from None
    return Generator(GeneratorArch(landmark_channels(config.heatmaps), config.g_base, config.g_res), conditioning)


def loss_weights(config: Lmk2VideoConfig) -> losses.LossWeights:
    return losses.LossWeights(img=config.lambda_img, fm=config.lambda_fm, lms=config.lambda_lms,
                              id=config.lambda_id, dv_adv=config.lambda_dv_adv, dv_lms=config.lambda_dv_lms,
                              mask=config.lambda_mask, mask_tv=config.lambda_mask_tv, color=config.lambda_color,
                              g_adv=config.lambda_g_adv)


def split_ids(config: Lmk2VideoConfig, prepared: PreparedSet) -> tuple[list[str], list[str], dict]:
    """(train ids, validation ids, provenance) from the speaker's train split; refuses test ids."""
    train, val, provenance = holdout_split(prepared, config.grid_root, config.speaker, config.val_clips, config.seed)
    if config.max_train_clips:
        train = train[:config.max_train_clips]
    provenance["n_train"] = len(train)
    return sorted(train), val, provenance


# ---------------------------------------------------------------------------------------------- devices


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def autocast(self, enabled: bool):
        if not enabled:
            return contextlib.nullcontext()
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)


def setup_runtime(config: Lmk2VideoConfig) -> Runtime:
    torch.set_num_threads(config.threads)
    name = config.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        cuda = name.startswith("cuda")
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}") if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(device)
        return Runtime(device, dist.get_rank(), dist.get_world_size())
    return Runtime(torch.device(name))


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return module.module if isinstance(module, DDP) else module


# ---------------------------------------------------------------------------------------------- validation


@dataclass
class ValExample:
    clip_id: str
    source: np.ndarray   # (N, N, 3) the clip's first frame
    source_lmk: np.ndarray
    targets: np.ndarray  # (T, N, N, 3) real frames
    target_lmk: np.ndarray
    warped: np.ndarray   # (T, N, N, 3) the warp default's frames (fetching stream)


def make_val_examples(clips: list[ClipFrames], n_frames: int, warp_mouth: bool) -> list[ValExample]:
    warp = WarpStream(mouth=warp_mouth)
    out = []
    for c in clips:
        lmk = c.landmarks[:n_frames]
        source = c.crops[0].copy()  # writable: the warp wraps it as a tensor
        out.append(ValExample(c.clip_id, source, c.landmarks[0], c.crops[:n_frames], lmk, warp(source, c.landmarks[0], lmk)))
    return out


def image_scores(frames: np.ndarray, ex: ValExample) -> dict[str, float]:
    x0, y0, x1, y1 = mouth_box(ex.target_lmk, ex.targets.shape[1])
    return {"psnr": float(frame_psnr(frames, ex.targets).mean()), "ssim": float(frame_ssim(frames, ex.targets).mean()),
            "mouth_psnr": float(frame_psnr(frames[:, y0:y1, x0:x1], ex.targets[:, y0:y1, x0:x1]).mean())}


def validate(g: Generator, examples: list[ValExample], config: Lmk2VideoConfig, device: torch.device) -> dict:
    g.eval()
    net = TorchNet(g, device)  # g's own conditioning: config.heatmaps and config.work_size
    scores = [image_scores(generate_frames(net, ex.source, ex.source_lmk, ex.target_lmk, ex.warped, 25), ex)
              for ex in examples]
    g.train()
    return {f"val_{k}": float(np.mean([s[k] for s in scores])) for k in scores[0]}


# ---------------------------------------------------------------------------------------------- one step


@dataclass
class Batch:
    source: torch.Tensor      # (B, 3, N, N) [-1, 1]
    source_lmk: torch.Tensor  # (B, 68, 2) px
    targets: torch.Tensor     # (B, T, 3, N, N)
    target_lmk: torch.Tensor  # (B, T, 68, 2)
    warped: torch.Tensor      # (B, T, 3, N, N)


def to_batch(raw: dict[str, torch.Tensor], device: torch.device) -> Batch:
    return Batch(to_signed(raw["source"].to(device)), raw["source_lmk"].to(device).float(),
                 to_signed(raw["targets"].to(device)), raw["target_lmk"].to(device).float(),
                 to_signed(raw["warped"].to(device)))


class CriticInputs:
    """The critics' views of a batch at the working resolution (conditioning computed once)."""

    def __init__(self, batch: Batch, heatmaps: str, work: int):
        n = batch.source.shape[-1]
        b, t = batch.targets.shape[:2]
        self.t = t
        with torch.autocast(batch.source.device.type, enabled=False):
            maps_s = landmark_maps(rescale_points(batch.source_lmk, n, work), work, heatmaps)
            maps_t = landmark_maps(rescale_points(batch.target_lmk, n, work), work, heatmaps)
        self.source = resize(batch.source, work)[:, None].expand(-1, t, -1, -1, -1).flatten(0, 1)
        self.maps_s = maps_s[:, None].expand(-1, t, -1, -1, -1).flatten(0, 1)
        self.maps_t = maps_t.flatten(0, 1)
        self.lmk_target = normalise_points(batch.target_lmk, n)

    def frame(self, d_f: torch.nn.Module, frames_w: torch.Tensor):
        """D_f on (B, T, 3, w, w) frames -> (logits, features)."""
        return d_f(self.source, self.maps_s, frames_w.flatten(0, 1), self.maps_t)


def write_sample_grid(path: Path, batch: Batch, fake: torch.Tensor, attention: torch.Tensor, rows: int = 4) -> None:
    """PNG rows of source | target | warp | generated | attention (first target frame of each sample)."""
    tiles = []
    for i in range(min(rows, batch.source.shape[0])):
        mask = attention[i, 0, 0].detach().float().clamp(0, 1)
        mask = (mask * 255).round().to(torch.uint8)[..., None].expand(-1, -1, 3)
        row = [to_uint8(batch.source[i]), to_uint8(batch.targets[i, 0]), to_uint8(batch.warped[i, 0]),
               to_uint8(fake[i, 0].detach()), mask]
        tiles.append(torch.cat([r.cpu() for r in row], dim=1))
    image = torch.cat(tiles, dim=0).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


# ---------------------------------------------------------------------------------------------- training


class Trainer:
    def __init__(self, config: Lmk2VideoConfig, runtime: Runtime):
        self.config, self.rt = config, runtime
        self.weights = loss_weights(config)
        lmk_channels = landmark_channels(config.heatmaps)
        dev = runtime.device
        self.g = build_generator(config).to(dev)
        self.d_f = FrameCritic(FrameCriticArch(lmk_channels, config.df_base, config.df_layers)).to(dev)
        self.d_v = VideoCritic(VideoCriticArch(config.dv_base, config.dv_layers, config.frames)).to(dev)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr, betas=tuple(config.betas))
        self.opt_d = torch.optim.Adam([*self.d_f.parameters(), *self.d_v.parameters()], lr=config.lr,
                                      betas=tuple(config.betas))
        fp16 = config.amp and dev.type == "cuda"  # bf16 needs no loss scaling
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=fp16)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=fp16)
        self.identity = None
        if config.lambda_id:
            from lmk2video.identity import DlibFaceNet  # loads dlib's ResNet weights (~0.2 s)
            self.identity = DlibFaceNet.from_dlib(device=dev)
        if runtime.world > 1:
            ids = [dev.index] if dev.type == "cuda" else None
            self.g = DDP(self.g, device_ids=ids)
            # The critics' heads go unused when their term has weight 0.
            self.d_f = DDP(self.d_f, device_ids=ids, find_unused_parameters=True)
            self.d_v = DDP(self.d_v, device_ids=ids, find_unused_parameters=True)

    def critics_requires_grad(self, flag: bool) -> None:
        for p in [*self.d_f.parameters(), *self.d_v.parameters()]:
            p.requires_grad_(flag)

    def step(self, batch: Batch, step: int) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
        cfg, w = self.config, self.weights
        work = cfg.work_size
        with self.rt.autocast(cfg.amp):
            fake, attention, color, _ = run_generator(self.g, batch.source, batch.source_lmk, batch.target_lmk,
                                                      batch.warped, cfg.heatmaps, work)
        views = CriticInputs(batch, cfg.heatmaps, work)
        real_w, fake_w = resize(batch.targets, work), resize(fake, work)

        # Critics: D_f on L_adv^{D_f}; D_v on lambda5 L_adv^{D_v} + lambda6 L_lms^{D_v} (real clips only).
        self.critics_requires_grad(True)
        b = real_w.shape[0]
        with self.rt.autocast(cfg.amp):
            both = torch.cat([real_w, fake_w.detach()])
            df_logits, _ = self.d_f(torch.cat([views.source] * 2), torch.cat([views.maps_s] * 2),
                                    both.flatten(0, 1), torch.cat([views.maps_t] * 2))
            df_real, df_fake = df_logits.chunk(2)
            dv_logits, dv_lmk, _ = self.d_v(both)
            df_adv = losses.critic_adversarial(df_real, df_fake, cfg.gan_mode)
            dv_adv = losses.critic_adversarial(dv_logits[:b], dv_logits[b:], cfg.gan_mode)
            dv_lms = losses.landmark_loss(dv_lmk[:b], views.lmk_target)
            loss_d = df_adv + w.dv_adv * dv_adv + w.dv_lms * dv_lms
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss_d).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()

        # Generator: the critics are fixed here (no weight gradients, no DDP sync).
        self.critics_requires_grad(False)
        d_f, d_v = unwrap(self.d_f), unwrap(self.d_v)
        with self.rt.autocast(cfg.amp):
            f_logits, f_feats = views.frame(d_f, fake_w)
            v_logits, v_lmk, v_feats = d_v(fake_w)
            with torch.no_grad():
                _, f_real = views.frame(d_f, real_w)
                _, _, v_real = d_v(real_w)
            parts = {
                "img": losses.reconstruction(fake.float(), batch.targets),
                "color": losses.reconstruction(color.float(), batch.targets),
                "fm": losses.feature_matching(f_feats, f_real) + losses.feature_matching(v_feats, v_real),
                "lms": losses.landmark_loss(v_lmk, views.lmk_target),
                "mask": losses.attention_loss(attention.float(), w.mask_tv, cfg.mask_mode),
                "g_adv": losses.generator_adversarial(f_logits, cfg.gan_mode)
                + losses.generator_adversarial(v_logits, cfg.gan_mode),
            }
            if self.identity is not None:
                parts["id"] = self.identity_term(batch, fake)
        weights = dataclasses.asdict(w)
        lms_on = not cfg.lms_gate or float(dv_lms) < cfg.lms_gate
        if not lms_on:
            weights["lms"] = 0.0
        if cfg.mask_prior_steps and step >= cfg.mask_prior_steps:
            weights["mask"] = 0.0
        loss_g = losses.weighted_sum(parts, weights)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss_g).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()

        logs = {k: float(v.detach()) for k, v in parts.items()}
        logs.update(loss_g=float(loss_g.detach()), loss_d=float(loss_d.detach()), df_adv=float(df_adv.detach()),
                    dv_adv=float(dv_adv.detach()), dv_lms=float(dv_lms.detach()), lms_on=float(lms_on),
                    attention=float(attention.detach().float().mean()))
        return logs, fake.detach(), attention.detach()

    def identity_term(self, batch: Batch, fake: torch.Tensor) -> torch.Tensor:
        """L_id with V = dlib's face-recognition ResNet on 150 px chips aligned by the landmarks."""
        v = self.identity
        with torch.autocast(batch.source.device.type, enabled=False):
            pixels = lambda x: (x.float() + 1.0) * 127.5  # noqa: E731  [-1, 1] -> dlib's [0, 255]
            gen = v.describe(pixels(fake.flatten(0, 1)), batch.target_lmk.flatten(0, 1))
            with torch.no_grad():
                src = v.describe(pixels(batch.source), batch.source_lmk)
                tgt = v.describe(pixels(batch.targets.flatten(0, 1)), batch.target_lmk.flatten(0, 1))
            src = src[:, None].expand(-1, batch.targets.shape[1], -1).flatten(0, 1)
            return losses.identity_loss(gen, src, tgt, self.config.id_metric)

    def modules(self) -> dict[str, torch.nn.Module]:
        """The trained networks by their prefix in the training state."""
        return {"g": unwrap(self.g), "d_f": unwrap(self.d_f), "d_v": unwrap(self.d_v)}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {k: v for prefix, m in self.modules().items() for k, v in module_tensors(prefix, m).items()}
        return {**tensors, **optimizer_tensors(self.opt_g, "opt_g"), **optimizer_tensors(self.opt_d, "opt_d")}

    def load_state(self, state: dict[str, torch.Tensor], meta: dict) -> None:
        for prefix, module in self.modules().items():
            load_module_tensors(module, state, prefix)
        restore_optimizer(self.opt_g, state, "opt_g")
        restore_optimizer(self.opt_d, state, "opt_d")
        self.scaler_g.load_state_dict(meta.get("scaler_g", {}) or self.scaler_g.state_dict())
        self.scaler_d.load_state_dict(meta.get("scaler_d", {}) or self.scaler_d.state_dict())


class Logger(CsvLog):
    """log.csv (every field, blanks where a value is not due) and optional TensorBoard scalars."""

    def __init__(self, out: Path, fresh: bool, tensorboard: bool):
        super().__init__(out / "log.csv", LOG_FIELDS, fresh)
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(out / "tb"))
            except ImportError:  # tensorboard is optional
                self.tb = None

    def write(self, values: dict) -> None:
        super().write(values)
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, float) and k not in ("step", "epoch"):
                    self.tb.add_scalar(k, v, values["step"])


def learning_rate(config: Lmk2VideoConfig, step: int) -> float:
    """Warm-up, constant, then a linear decay that reaches 0 at max_steps."""
    return warmup_linear_decay(config.lr, step, config.warmup_steps, config.decay_steps, config.max_steps)


def epoch_batches(n_items: int, config: Lmk2VideoConfig, rt: Runtime, epoch: int) -> list[list[int]]:
    """This rank's batches of dataset indices for one epoch (DistributedSampler order, full batches)."""
    sampler = DistributedSampler(range(n_items), num_replicas=rt.world, rank=rt.rank, shuffle=True,
                                 seed=config.seed, drop_last=True)
    sampler.set_epoch(epoch)
    order = list(sampler)
    n = len(order) // config.batch_size
    return [order[i * config.batch_size:(i + 1) * config.batch_size] for i in range(n)]


def train(config: Lmk2VideoConfig) -> Path:
    """Train one config; returns the best checkpoint's path (`<out_dir>/best.safetensors`)."""
    rt = setup_runtime(config)
    torch.manual_seed(config.seed + rt.rank)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prepared = PreparedSet(config.prepared)
    train_ids, val_ids, provenance = split_ids(config, prepared)
    min_frames = config.frames + 3
    train_clips = load_clips(prepared, train_ids, min_frames, "loading train clips")
    if len(train_clips) < config.batch_size * rt.world:
        raise TalkfaceError(f"{prepared.root}: {len(train_clips)} usable train clips, fewer than one batch")
    dataset = WindowDataset(train_clips, config.frames, config.flip, config.warp_mouth, config.seed,
                            config.near_source_prob, config.recolour_prob, config.recolour_field)
    val_examples = []
    if rt.main:
        val_clips = load_clips(prepared, val_ids, min_frames, "loading validation clips")
        val_examples = make_val_examples(val_clips, config.val_frames, config.warp_mouth)
    warp_val = {f"warp_{k}": float(np.mean([image_scores(ex.warped, ex)[k.removeprefix("val_")]
                                            for ex in val_examples]))
                for k in ("val_psnr", "val_ssim", "val_mouth_psnr")} if val_examples else {}

    # whose face this is, so that the product uses the net's own frames on that person only
    faces = [(c.crops[0], c.landmarks[0]) for c in train_clips[:FACE_FRAMES]]
    trained_face = fit_trained_face(faces, config.speaker, f"first frame of {len(faces)} training clips"
                                    ) if rt.main else None

    trainer = Trainer(config, rt)
    progress = {"step": 0, "epoch": 0, "batch": 0, "best_psnr": -1.0, "best_step": -1, "elapsed_s": 0.0}
    run = RunCheckpoints(out, model_sidecar(unwrap(trainer.g), train_config=config_dict(config),
                 data=provenance, trained_face=trained_face,
                 hardware={**hardware_summary(str(rt.device)), "world_size": rt.world},
                 parameters={"generator": count_parameters(unwrap(trainer.g)),
                             "frame_critic": count_parameters(unwrap(trainer.d_f)),
                             "video_critic": count_parameters(unwrap(trainer.d_v))},
                 warp_default_val=warp_val))
    saved = run.load_last(str(rt.device)) if config.resume else None
    if saved is not None:
        trainer.load_state(*saved)
        progress = saved[1]["progress"]
        if rt.main:
            print(f"resuming {run.last} at step {progress['step']}")
    logger = Logger(out, fresh=progress["step"] == 0, tensorboard=config.tensorboard) if rt.main else None

    def save_last() -> None:
        run.save_last(trainer.state_tensors(), progress, scaler_g=trainer.scaler_g.state_dict(),
                      scaler_d=trainer.scaler_d.state_dict())

    def save_generator(name: str, **extra) -> None:
        run.save_model(name, unwrap(trainer.g).state_dict(), step=progress["step"], epoch=progress["epoch"], **extra,
                       train_time_s=round(progress["elapsed_s"], 1))

    def run_validation() -> dict:
        val = validate(unwrap(trainer.g), val_examples, config, rt.device)
        if val["val_psnr"] > progress["best_psnr"]:
            progress.update(best_psnr=val["val_psnr"], best_step=progress["step"])
            save_generator("best", val=val)
        return val

    start = time.monotonic() - progress["elapsed_s"]
    window_start, window_frames, sums, count = time.monotonic(), 0, {}, 0
    bar = tqdm(total=config.max_steps, initial=progress["step"], desc="lmk2video", disable=not rt.main)
    stop = None
    while stop is None:
        dataset.set_epoch(progress["epoch"])
        batches = epoch_batches(len(dataset), config, rt, progress["epoch"])[progress["batch"]:]
        loader = DataLoader(dataset, batch_sampler=batches, num_workers=config.workers,
                            pin_memory=rt.device.type == "cuda", persistent_workers=False)
        for raw in loader:
            batch = to_batch(raw, rt.device)
            set_lr(learning_rate(config, progress["step"]), trainer.opt_g, trainer.opt_d)
            logs, fake, attention = trainer.step(batch, progress["step"])
            progress["step"] += 1
            progress["batch"] += 1
            progress["elapsed_s"] = time.monotonic() - start
            window_frames += fake.shape[0] * fake.shape[1] * rt.world
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            step = progress["step"]
            if config.max_minutes and progress["elapsed_s"] > 60 * config.max_minutes:
                stop = f"time limit of {config.max_minutes} min"
            elif step >= config.max_steps:
                stop = f"max_steps {config.max_steps}"
            if rt.world > 1:  # every rank stops at the same step (clocks differ)
                flag = torch.tensor([1.0 if stop else 0.0], device=rt.device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                stop = stop or ("another rank's time limit" if flag.item() else None)
            if rt.main:
                bar.update(1)
                row = None
                if step % config.log_every == 0 or stop:
                    now = time.monotonic()
                    row = {k: v / count for k, v in sums.items()}
                    row.update(frames_per_s=window_frames / max(now - window_start, 1e-9))
                    bar.set_postfix(img=f"{row['img']:.4f}", att=f"{row['attention']:.3f}")
                    window_start, window_frames, sums, count = now, 0, {}, 0
                if step % config.sample_every == 0 or stop:
                    write_sample_grid(out / "samples" / f"step_{step:07d}.png", batch, fake, attention)
                if step % config.val_every == 0 or stop:
                    row = {**(row or {}), **run_validation(), "warp_val_psnr": warp_val["warp_val_psnr"]}
                    bar.write(f"step {step}: val PSNR {row['val_psnr']:.2f} dB (warp {warp_val['warp_val_psnr']:.2f}),"
                              f" SSIM {row['val_ssim']:.4f}, mouth PSNR {row['val_mouth_psnr']:.2f}")
                if row is not None:
                    logger.write({**row, "step": step, "epoch": progress["epoch"],
                                  "elapsed_s": round(progress["elapsed_s"], 1)})
                if step % config.val_every == 0 or stop:
                    save_last()
            if rt.world > 1 and (step % config.val_every == 0 or stop):
                dist.barrier()
            if stop:
                break
        else:
            progress.update(epoch=progress["epoch"] + 1, batch=0)
    bar.close()
    if rt.main:
        save_generator("final")
        print(f"stopped at step {progress['step']} ({stop}); best val PSNR {progress['best_psnr']:.2f} dB "
              f"at step {progress['best_step']} (warp default {warp_val['warp_val_psnr']:.2f} dB)")
    if rt.world > 1:
        dist.destroy_process_group()
    return run.best
