"""Training the learned audio2lmk nets on a prepared GRID speaker (`talkface prepare grid`).

Data: the speaker's train split (never the test ids), a seeded 10% of it held out for validation.
Targets: per-frame normalised jaw/lip motion about each clip's rest shape (audio2lmk.pca) and,
with head_pose, the head's pose relative to the first frame (audio2lmk.head_pose).
Loss: point-to-point distance of the decoded motion (lips weighted up), the same on frame-to-frame
velocity, and the inner-lip opening; for the pose, the distance between where the predicted and
the real pose put the mean face, and the same on velocity. Optional fast-detail terms (audio2lmk.motion_detail:
high-passed spread matching, a motion critic with feature matching); optional word-discrimination term: the
cross-entropy of a frozen landmark lipreader (audio2lmk.word_reader) reading each aligned word of the predicted
motion. `init_from` starts from a trained net (fine-tuning). Early stopping on validation mouth LMD
(of the posed face in the first frame's normalised frame when the pose is predicted); `last` checkpoint for
resume, `best` checkpoint (+ JSON sidecar) as the result; scalars in log.csv.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from audio2lmk.encoder_cache import cache_dir, encoded_clip
from audio2lmk.augment import augment_mel, background_at, fit_length, mix_background, perturb_phones, silence_like
from audio2lmk.features import utterance_level
from audio2lmk.inputs import SILENCE_PHONE, decode_cached, net_input, phone_ids
from audio2lmk.nonspeech import nonspeech_bank
from audio2lmk.phonemes import PhoneDecoder
from audio2lmk.head_pose import apply_pose, in_first_frame, posed_points, relative_pose
from audio2lmk.models import MAX_LEVEL_SHIFT, Audio2LmkNet
from audio2lmk.motion_detail import MotionCritic, detail_loss
from audio2lmk.pca import LIP_ROWS, MOTION_POINTS, MotionPCA, OpenMouthCorrection, clip_motion, inner_gap
from audio2lmk.speech_encoder import ENCODERS, encoder_name, shared_encoder
from audio2lmk.word_reader import LandmarkWordReader, crop_windows, frozen, word_windows
from talkface import grid
from talkface.audio import FPS
from talkface.checkpoint import hardware_summary, load_model, model_sidecar
from talkface.config import config_dict
from talkface.errors import CheckpointError, TalkfaceError
from talkface.landmarks.indices import MOUTH, mouth_opening
from talkface.prepared import PreparedSet, holdout_split
from talkface.training import (CsvLog, RunCheckpoints, cosine_decay, load_module_tensors, module_tensors,
                               optimizer_tensors, restore_optimizer, set_lr, start_run)


@dataclass
class Audio2LmkConfig:
    prepared: str = "data/prepared"
    grid_root: str = "../shared/data/grid"  # for the split lists (falls back to the copies in talkface/splits)
    speaker: str = "s1"
    out_dir: str = "runs/audio2lmk/tcn"
    model: str = "tcn"  # "tcn" or "lstm"
    features: str = "mel"  # net input (audio2lmk.inputs): mel | phones | cepstra | phones+cepstra | normmel | phones+normmel
    phone_cache: str = "runs/audio2lmk/phones"  # decoded phones of the training clips (JSON per clip)
    phone_noise: float = 0.0  # fraction of decoded phone segments replaced by random phones (decoder errors)
    encoder_cache: str = "runs/audio2lmk/encoder"  # speech-encoder features of the training clips (encoder kinds)
    hidden: int = 128
    layers: int = 2  # lstm only
    context: int = 0  # lstm only: input window of +-context video frames
    dilations: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 1, 2, 4, 8])  # tcn only
    kernel: int = 3
    dropout: float = 0.1
    n_components: int = 20
    val_fraction: float = 0.1
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 2
    max_epochs: int = 120
    patience: int = 15
    max_minutes: float = 25.0
    mouth_weight: float = 3.0
    velocity_weight: float = 2.0
    opening_weight: float = 1.0
    amplitude_weight: float = 0.0  # per clip |std(predicted opening) - std(real opening)|: against shrinkage
    head_pose: bool = True  # also predict the speech-related head pose
    pose_weight: float = 1.0
    # fast lip detail a regression smooths away (audio2lmk.motion_detail)
    detail_weight: float = 0.0  # per clip, spread of the high-passed lip motion matched to the real one
    detail_sigmas: list[float] = field(default_factory=lambda: [1.0, 2.0])  # high-pass scales (frames)
    adversarial_weight: float = 0.0  # least-squares motion critic on lip velocities
    feature_match_weight: float = 0.0  # L1 between the critic's activations on predicted and real motion
    critic_lr: float = 1e-3
    # word discrimination (audio2lmk.word_reader): cross-entropy of a frozen landmark lipreader on each aligned word
    word_weight: float = 0.0
    word_reader: str = ""  # the reader's checkpoint (scripts/landmark_word_reader.py train)
    init_from: str = ""  # a trained audio2lmk net of the same architecture to start from (fine-tuning)
    keep_last: bool = False  # the result is the last epoch, not the best validation score (a fixed fine-tune)
    noise_prob: float = 0.5
    snr_db: list[float] = field(default_factory=lambda: [0.0, 30.0])
    gain_db: float = 10.0
    voice_warp: float = 0.0  # vocal-tract length perturbation: formants scaled by up to this fraction
    channel_prob: float = 0.0  # share of items through a random equaliser / band limit (audio2lmk.augment)
    max_pad_frames: int = 25
    # non-speech (audio2lmk.nonspeech): a share of the batch's items replaced by music/noise with the mouth closed
    # and the head at rest, the same share of silence pads filled with it, and speech over a background
    nonspeech_prob: float = 0.0
    background_prob: float = 0.0  # speech items mixed over music/noise or babble (other training clips)
    background_snr_db: list[float] = field(default_factory=lambda: [0.0, 20.0])
    babble_share: float = 0.4  # of the backgrounds, babble of 1-3 other talkers
    seed: int = 0
    threads: int = 2
    device: str = "cpu"  # torch device the net trains on (cpu, cuda, cuda:N, mps); the sidecar records it
    resume: bool = True

    SECTIONS = {  # the nested YAML shape every trainer's config shares (talkface.config)
        "model": ("model", "features", "hidden", "layers", "context", "dilations", "kernel", "dropout", "n_components",
                  "head_pose"),
        "data": ("prepared", "grid_root", "speaker", "val_fraction", "phone_cache", "phone_noise", "encoder_cache",
                 "noise_prob",
                 "snr_db", "gain_db", "voice_warp", "channel_prob", "max_pad_frames", "nonspeech_prob",
                 "background_prob", "background_snr_db", "babble_share"),
        "loss": ("mouth_weight", "velocity_weight", "opening_weight", "amplitude_weight", "pose_weight", "detail_weight",
                 "detail_sigmas", "adversarial_weight", "feature_match_weight", "critic_lr", "word_weight", "word_reader"),
        "optim": ("batch_size", "lr", "weight_decay", "warmup_epochs", "max_epochs", "patience", "init_from",
                  "keep_last"),
        "run": ("out_dir", "max_minutes", "seed", "threads", "device", "resume"),
    }


@dataclass
class Clip:
    clip_id: str
    mel: np.ndarray  # (T, 4, 80)
    motion: np.ndarray  # (T, P, 2) about rest
    rest: np.ndarray  # (68, 2) normalised rest shape
    pose: np.ndarray  # (T, 4) head pose relative to the first frame
    frame0: np.ndarray  # (T, 68, 2) the real track in the first frame's normalised frame
    phones: np.ndarray | None = None  # (T, 4) decoded phone ids, for phone-input nets
    words: list[tuple[int, int, int]] = field(default_factory=list)  # aligned (start, end, word id) windows
    encoded: dict[str, np.ndarray] | None = None  # encoder kinds: audio2lmk.encoder_cache.encoded_clip

    def net_input(self, kind: str, noisy: bool = False) -> np.ndarray:
        if self.encoded is None:
            return net_input(kind, self.mel, self.phones)
        if noisy:
            return net_input(kind, self.encoded["noisy_mel"], None, self.encoded["noisy"])
        return net_input(kind, self.mel, None, self.encoded["clean"])


def load_clips(prepared: PreparedSet, ids: list[str], phone_cache: str | None = None,
               encoder: tuple[str, str, tuple[float, float]] | None = None) -> list[Clip]:
    """Clips of the prepared set; with phone_cache, also their decoded phones (decoded once, then cached); with
    `encoder` (name, cache root, noise SNR range), their speech-encoder features (audio2lmk.encoder_cache)."""
    clips = []
    decoder = PhoneDecoder() if phone_cache else None
    folder = cache_dir(encoder[1], encoder[0]) if encoder else None
    for clip_id in tqdm(ids, desc="loading clips", leave=False):
        cached = Path(phone_cache or ".") / f"{clip_id}.json"
        needs_audio = (bool(phone_cache) and not cached.is_file()) or (
            folder is not None and not (folder / f"{clip_id}.npz").is_file())
        c = prepared.load(clip_id, crops=False, audio=needs_audio)
        n = min(len(c.mel), len(c.landmarks))
        motion, rest = clip_motion(c.landmarks[:n])
        phones = phone_ids(decode_cached(decoder, c.audio, cached), n) if phone_cache else None
        encoded = (encoded_clip(shared_encoder(encoder[0], threads=1), folder, clip_id, c.audio, len(c.mel),
                                encoder[2]) if encoder else None)
        if encoded is not None:
            encoded = {k: v[:n] for k, v in encoded.items()}
        clips.append(Clip(clip_id, c.mel[:n], motion, rest, relative_pose(c.landmarks[:n]),
                          in_first_frame(c.landmarks[:n]).astype(np.float32), phones, word_windows(c.words, n),
                          encoded))
    return clips


def split_ids(config: Audio2LmkConfig, prepared: PreparedSet) -> tuple[list[str], list[str], dict]:
    """(train ids, validation ids, provenance) from the speaker's train split; refuses test ids."""
    n_usable = len(prepared.ids(grid.read_split(grid.split_path(config.grid_root, config.speaker, "train"))))
    n_val = max(1, int(round(config.val_fraction * n_usable)))
    train, val, provenance = holdout_split(prepared, config.grid_root, config.speaker, n_val, config.seed)
    return sorted(train), val, provenance


def fit_statistics(net: Audio2LmkNet, clips: list[Clip], n_components: int) -> dict:
    """Fit input statistics, the motion PCA and the open-mouth correction on training clips."""
    levels = np.array([utterance_level(c.mel) for c in clips])
    level_ref = float(np.median(levels))
    shifted = np.concatenate([(c.mel - np.clip(lv - level_ref, -MAX_LEVEL_SHIFT, MAX_LEVEL_SHIFT)).reshape(-1, 80)
                              for c, lv in zip(clips, levels)])
    net.set_input_statistics(shifted.mean(axis=0), shifted.std(axis=0), level_ref)
    motion = np.concatenate([c.motion for c in clips])
    pca = MotionPCA.fit(motion, n_components)
    net.set_pca(pca)
    points = list(MOTION_POINTS)
    openings, rest_openings = [], []
    for c in clips:
        full = np.repeat(c.rest[None], len(c.motion), axis=0)
        full[:, points] += c.motion
        rest_opening = float(mouth_opening(c.rest))
        openings.append(mouth_opening(full) - rest_opening)
        rest_openings.append(rest_opening)
    net.set_open_correction(OpenMouthCorrection.fit(motion, np.concatenate(openings), np.array(rest_openings)))
    stats = {"pca_explained": pca.explained_variance(motion), "level_ref": level_ref}
    if clips[0].encoded is not None:
        inputs = np.concatenate([c.net_input(net.features)[:, 0] for c in clips])
        net.set_feature_statistics(inputs.mean(axis=0), inputs.std(axis=0))
    if net.head_pose:
        pose_rms = np.sqrt((np.concatenate([c.pose for c in clips]) ** 2).mean(axis=0))
        net.set_pose_scale(pose_rms)
        stats["pose_rms"] = [float(v) for v in pose_rms]
    return stats


NONSPEECH_CLIPS = 240  # synthetic non-speech clips generated once per run
NONSPEECH_SECONDS = 8.0


def _babble(clips: list[Clip], skip: int, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(n_frames, 4, 80) log-mel of 1-3 other clips of the batch talking at once (random offsets)."""
    others = [i for i in range(len(clips)) if i != skip] or [skip]
    picks = rng.choice(others, size=min(len(others), int(rng.integers(1, 4))), replace=False)
    return np.logaddexp.reduce([fit_length(clips[i].mel, n_frames, rng) for i in picks]).astype(np.float32)


def _excerpt(bank: list[np.ndarray], n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """n_frames of a random non-speech clip of the bank."""
    return fit_length(bank[int(rng.integers(len(bank)))], n_frames, rng)


def _padding(c: Clip, n_frames: int, config: Audio2LmkConfig, rng: np.random.Generator,
             bank: list[np.ndarray] | None) -> np.ndarray:
    """Frames around a clip where the mouth rests: silence, or (nonspeech_prob) music/noise at a speech-like level."""
    if n_frames and bank and rng.random() < config.nonspeech_prob:
        return background_at(_excerpt(bank, n_frames, rng), c.mel, rng.uniform(*config.background_snr_db))
    return silence_like(c.mel, n_frames, rng)


def make_batch(clips: list[Clip], config: Audio2LmkConfig, rng: np.random.Generator,
               bank: list[np.ndarray] | None = None):
    """Augmented, padded (mel, level, target motion, target pose) tensors and the clips' aligned words in the
    batch's frames, (item, start, end, word id). Padding frames are supervised with the mouth at rest; the head
    at rest before the clip and held after it. With a non-speech `bank` (audio2lmk.nonspeech), items replaced by
    non-speech have the mouth and the head at rest throughout (and no words)."""
    pads = [(int(rng.integers(0, config.max_pad_frames + 1)) if rng.random() < 0.5 else 0,
             int(rng.integers(0, config.max_pad_frames + 1)) if rng.random() < 0.5 else 0) for _ in clips]
    length = max(len(c.mel) + a + b for c, (a, b) in zip(clips, pads))
    mels, levels, motions, poses, words = [], [], [], [], []
    for i, (c, (before, after)) in enumerate(zip(clips, pads)):
        after = length - len(c.mel) - before
        motion = np.zeros((length, *c.motion.shape[1:]), np.float32)
        pose = np.zeros((length, c.pose.shape[1]), np.float32)
        speech = not (bank and rng.random() < config.nonspeech_prob)
        if speech:
            mel = np.concatenate([_padding(c, before, config, rng, bank), c.mel, _padding(c, after, config, rng, bank)])
            if config.background_prob and rng.random() < config.background_prob:
                back = (_babble(clips, i, length, rng) if rng.random() < config.babble_share or not bank
                        else _excerpt(bank, length, rng))
                mel = mix_background(mel, back, rng.uniform(*config.background_snr_db))
            motion[before:before + len(c.motion)] = c.motion
            pose[before:before + len(c.pose)] = c.pose
            pose[before + len(c.pose):] = c.pose[-1]
            words += [(i, before + start, before + end, word) for start, end, word in c.words]
        else:
            mel = _excerpt(bank, length, rng)
            mel = mel + np.float32(utterance_level(c.mel) - utterance_level(mel))  # at the speech's level
        mel = augment_mel(mel, rng, config.noise_prob, tuple(config.snr_db), config.gain_db, config.voice_warp,
                          config.channel_prob)
        ids = None
        if c.phones is not None and speech:
            ids = np.pad(perturb_phones(c.phones, rng, config.phone_noise), ((before, after), (0, 0)),
                         constant_values=SILENCE_PHONE)
        elif c.phones is not None:
            ids = np.full((length, c.phones.shape[1]), SILENCE_PHONE)
        levels.append(utterance_level(mel))
        mels.append(net_input(config.features, mel, ids))
        motions.append(motion)
        poses.append(pose)
    return (torch.as_tensor(np.stack(mels)), torch.as_tensor(np.array(levels, np.float32)),
            torch.as_tensor(np.stack(motions)), torch.as_tensor(np.stack(poses)), words)


def make_encoder_batch(clips: list[Clip], config: Audio2LmkConfig, rng: np.random.Generator):
    """make_batch for encoder inputs: each clip clean or (noise_prob) its cached noisy copy, no padding, non-speech
    or backgrounds (those are log-mel augmentations the encoder cannot see); items shorter than the batch's longest
    are held at their last input with the mouth at rest and the head held."""
    length = max(len(c.mel) for c in clips)
    inputs, levels, motions, poses, words = [], [], [], [], []
    for i, c in enumerate(clips):
        noisy = rng.random() < config.noise_prob
        x = c.net_input(config.features, noisy)
        inputs.append(np.concatenate([x, np.repeat(x[-1:], length - len(x), axis=0)]))
        levels.append(utterance_level(c.encoded["noisy_mel"] if noisy else c.mel))
        motion = np.zeros((length, *c.motion.shape[1:]), np.float32)
        motion[:len(c.motion)] = c.motion
        pose = np.repeat(c.pose[-1:], length, axis=0)
        pose[:len(c.pose)] = c.pose
        motions.append(motion)
        poses.append(pose)
        words += [(i, start, end, word) for start, end, word in c.words]
    return (torch.as_tensor(np.stack(inputs)), torch.as_tensor(np.array(levels, np.float32)),
            torch.as_tensor(np.stack(motions)), torch.as_tensor(np.stack(poses)), words)


def point_weights(mouth_weight: float) -> torch.Tensor:
    w = torch.ones(len(MOTION_POINTS))
    w[LIP_ROWS] = mouth_weight
    return w / w.mean()


def _distance(a: torch.Tensor, b: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean Euclidean distance of (..., P, 2) point sets (smooth at zero)."""
    d = ((a - b) ** 2).sum(-1).add(1e-8).sqrt()
    return (d * weights).mean()


def motion_loss(pred: torch.Tensor, target: torch.Tensor, config: Audio2LmkConfig,
                weights: torch.Tensor) -> tuple[torch.Tensor, dict]:
    position = _distance(pred, target, weights)
    velocity = _distance(pred.diff(dim=1), target.diff(dim=1), weights)
    gap_pred, gap_real = inner_gap(pred), inner_gap(target)
    opening = (gap_pred - gap_real).abs().mean()
    # A mean-regressing net shrinks the opening's range: compare each clip's spread directly.
    amplitude = (gap_pred.std(dim=1) - gap_real.std(dim=1)).abs().mean()
    total = (position + config.velocity_weight * velocity + config.opening_weight * opening
             + config.amplitude_weight * amplitude)
    parts = {"position": position.item(), "velocity": velocity.item(), "opening": opening.item(),
             "amplitude": amplitude.item()}
    if config.detail_weight:
        detail = detail_loss(pred, target, config.detail_sigmas)
        total, parts["detail"] = total + config.detail_weight * detail, detail.item()
    return total, parts


def pose_loss(pred: torch.Tensor, target: torch.Tensor, config: Audio2LmkConfig) -> tuple[torch.Tensor, dict]:
    """(B, T, 4) poses compared through the mean face they move (interocular units, mouth weighted up
    as in the motion loss), and its velocity."""
    a, b = posed_points(pred), posed_points(target)
    weights = torch.ones(a.shape[-2], device=a.device)
    weights[list(MOUTH)] = config.mouth_weight
    weights = weights / weights.mean()
    position = _distance(a, b, weights)
    velocity = _distance(a.diff(dim=1), b.diff(dim=1), weights)
    return config.pose_weight * (position + config.velocity_weight * velocity), {"pose": position.item()}


def word_loss(reader: LandmarkWordReader | None, pred: torch.Tensor, words: list) -> torch.Tensor | None:
    """The frozen reader's cross-entropy on the batch's aligned words of the predicted motion (None: no reader or
    no words in the batch)."""
    if reader is None or not words:
        return None
    return reader.word_loss(pred, words)


def load_word_reader(config: Audio2LmkConfig) -> LandmarkWordReader | None:
    """The frozen reader for `word_weight` (None when the term is off)."""
    if not config.word_weight:
        return None
    if not config.word_reader:
        raise TalkfaceError("audio2lmk training: word_weight is set but no word_reader checkpoint is given")
    reader, _ = load_model(config.word_reader, LandmarkWordReader, config.device)
    return frozen(reader)


def initial_weights(net: Audio2LmkNet, path: str) -> None:
    """Start from a trained net (`init_from`): its weights and buffers (input statistics, motion basis)."""
    trained, _ = load_model(path, Audio2LmkNet)
    if trained.model_config() != net.model_config():
        raise CheckpointError(f"{path}: a different audio2lmk architecture than the config's "
                            f"({trained.model_config()} vs {net.model_config()})")
    net.load_state_dict(trained.state_dict())


@torch.no_grad()
def validate(net: Audio2LmkNet, clips: list[Clip], reader: LandmarkWordReader | None = None) -> dict:
    """Mouth/jaw LMD in the normalised frame (interocular = 1), mouth-opening correlation and, with the
    head pose, the mouth LMD of the posed face against the real one in the first frame's frame; with a word
    reader, its word accuracy on the predicted motion."""
    net.eval()
    right = total = 0
    device = next(net.parameters()).device
    points = list(MOTION_POINTS)
    lmds, jaw_lmds, corrs, posed_lmds, amps = [], [], [], [], []
    for c in clips:
        level = torch.tensor([utterance_level(c.mel)], device=device)
        outputs = net(torch.as_tensor(c.net_input(net.features), device=device)[None], level)
        pred = net.decode(outputs)[0].cpu().numpy()
        err = np.linalg.norm(pred - c.motion, axis=-1)
        lmds.append(err[:, LIP_ROWS].mean())
        jaw_lmds.append(err.mean())
        full_pred = np.repeat(c.rest[None], len(pred), axis=0)
        full_real = full_pred.copy()
        full_pred[:, points] += pred
        full_real[:, points] += c.motion
        a, b = mouth_opening(full_pred), mouth_opening(full_real)
        amps.append(float(np.std(a) / max(np.std(b), 1e-9)))
        if reader is not None and c.words:
            crops, mask, labels = crop_windows(torch.as_tensor(pred[None]), [(0, *w) for w in c.words])
            right += int((reader(crops.to(device), mask.to(device)).argmax(-1).cpu() == labels).sum())
            total += len(labels)
        corrs.append(float(np.corrcoef(a, b)[0, 1]) if np.ptp(a) > 1e-9 and np.ptp(b) > 1e-9 else 0.0)
        if net.head_pose:
            posed = apply_pose(full_pred, net.decode_pose(outputs)[0].cpu().numpy())
            posed_lmds.append(np.linalg.norm(posed - c.frame0, axis=-1)[:, list(MOUTH)].mean())
    net.train()
    val = {"val_mouth_lmd": float(np.mean(lmds)), "val_motion_lmd": float(np.mean(jaw_lmds)),
           "val_opening_corr": float(np.mean(corrs)), "val_amp_ratio": float(np.median(amps))}
    if total:
        val["val_word_acc"] = right / total
    # early stopping watches what the evaluation measures: the posed mouth when the pose is predicted
    val["val_score"] = float(np.mean(posed_lmds)) if posed_lmds else val["val_mouth_lmd"]
    return val


LOG_FIELDS = ["epoch", "step", "lr", "loss", "position", "velocity", "opening", "amplitude", "detail", "adversarial",
              "feature_match", "critic", "word", "pose", "val_mouth_lmd",
              "val_motion_lmd", "val_opening_corr", "val_amp_ratio", "val_word_acc", "val_score", "elapsed_s"]


def _lr(config: Audio2LmkConfig, epoch: float, elapsed_s: float) -> float:
    """Linear warm-up, then cosine decay to 5% by max_epochs or by the time budget, whichever comes
    first (so a run cut by max_minutes still ends annealed); stateless, so resume is exact."""
    if epoch < config.warmup_epochs:
        return config.lr * (epoch + 1) / (config.warmup_epochs + 1)
    by_epochs = (epoch - config.warmup_epochs) / max(1, config.max_epochs - config.warmup_epochs)
    return cosine_decay(config.lr, max(by_epochs, elapsed_s / (60 * config.max_minutes)), floor=0.05)


def train(config: Audio2LmkConfig) -> Path:
    """Train one config; returns the path of the best checkpoint (`<out_dir>/best.safetensors`)."""
    out = start_run(config.threads, config.seed, config.out_dir)
    prepared = PreparedSet(config.prepared)
    train_ids, val_ids, provenance = split_ids(config, prepared)
    phone_cache = config.phone_cache if config.features.startswith("phones") else None
    name = encoder_name(config.features)
    encoder = (name, config.encoder_cache, tuple(config.snr_db)) if name else None
    train_clips = load_clips(prepared, train_ids, phone_cache, encoder)
    val_clips = load_clips(prepared, val_ids, phone_cache, encoder)

    net = Audio2LmkNet(kind=config.model, n_components=config.n_components, n_points=len(MOTION_POINTS),
                       hidden=config.hidden, layers=config.layers, dilations=tuple(config.dilations),
                       kernel=config.kernel, dropout=config.dropout, context=config.context,
                       head_pose=config.head_pose, features=config.features)
    stats = fit_statistics(net, train_clips, config.n_components)
    if config.init_from:
        initial_weights(net, config.init_from)
    bank = (nonspeech_bank(NONSPEECH_CLIPS, NONSPEECH_SECONDS, config.seed)
            if (config.nonspeech_prob > 0 or config.background_prob > 0) and not name else None)
    net.to(config.device)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    weights = point_weights(config.mouth_weight).to(config.device)
    critic = None
    if config.adversarial_weight or config.feature_match_weight:
        critic = MotionCritic(lr=config.critic_lr).to(config.device)
    reader = load_word_reader(config)
    progress = {"epoch": -1, "step": 0, "best_score": float("inf"), "best_epoch": -1, "elapsed_s": 0.0,
                "done": False}
    encoder_record = {"speech_encoder": ENCODERS[name].identity()} if name else {}
    run = RunCheckpoints(out, model_sidecar(net, train_config=config_dict(config), data=provenance,
                                            statistics=stats, hardware=hardware_summary(config.device), fps=FPS,
                                            **encoder_record))
    saved = run.load_last(config.device) if config.resume else None
    if saved is not None:
        load_module_tensors(net, saved[0], "model")
        restore_optimizer(opt, saved[0])
        if critic is not None:
            load_module_tensors(critic, saved[0], "critic")
            restore_optimizer(critic.opt, saved[0], "critic_optim")
        progress = saved[1]["progress"]
        if progress["done"]:
            print(f"{run.last}: run already stopped early (best epoch {progress['best_epoch']})")
            return run.best
        print(f"resuming {run.last} after epoch {progress['epoch']}")
    log = CsvLog(out / "log.csv", LOG_FIELDS, fresh=progress["epoch"] < 0)

    start_time = time.monotonic() - progress["elapsed_s"]
    n_batches = math.ceil(len(train_clips) / config.batch_size)
    bar = tqdm(range(progress["epoch"] + 1, config.max_epochs), desc=f"audio2lmk {config.model}")
    net.train()
    for epoch in bar:
        rng = np.random.default_rng([config.seed, epoch])  # per-epoch stream: resume reproduces it
        order = rng.permutation(len(train_clips))
        sums: dict[str, float] = {}
        for b in range(n_batches):
            lr = _lr(config, epoch + b / n_batches, time.monotonic() - start_time)
            set_lr(lr, opt)
            items = [train_clips[i] for i in order[b::n_batches]]
            batch = make_encoder_batch(items, config, rng) if name else make_batch(items, config, rng, bank)
            mel, level, target, target_pose = (t.to(config.device) for t in batch[:4])
            outputs = net(mel, level)
            pred = net.decode(outputs)
            loss, parts = motion_loss(pred, target, config, weights)
            if critic is not None:
                parts["critic"] = critic.step(pred, target)
                adversarial, matching = critic.generator_losses(pred, target)
                loss = loss + config.adversarial_weight * adversarial + config.feature_match_weight * matching
                parts.update(adversarial=adversarial.item(), feature_match=matching.item())
            words = word_loss(reader, pred, batch[4])
            if words is not None:
                loss, parts["word"] = loss + config.word_weight * words, words.item()
            if net.head_pose:
                extra, pose_parts = pose_loss(net.decode_pose(outputs), target_pose, config)
                loss, parts = loss + extra, {**parts, **pose_parts}
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            progress["step"] += 1
            for k, v in {"loss": loss.item(), **parts}.items():
                sums[k] = sums.get(k, 0.0) + v / n_batches
        val = validate(net, val_clips, reader)
        progress["epoch"] = epoch
        progress["elapsed_s"] = time.monotonic() - start_time
        log.write({"epoch": epoch, "step": progress["step"], "lr": lr, **sums, **val,
                   "elapsed_s": round(progress["elapsed_s"], 1)})
        bar.set_postfix(loss=f"{sums['loss']:.4f}", val_mouth=f"{val['val_mouth_lmd']:.4f}",
                        corr=f"{val['val_opening_corr']:.3f}")
        if val["val_score"] < progress["best_score"] or config.keep_last:
            progress.update(best_score=val["val_score"], best_epoch=epoch)
            run.save_model("best", net.state_dict(), epoch=epoch, step=progress["step"], val=val,
                           train_time_s=round(progress["elapsed_s"], 1))
        # Early stopping is final; a run cut by the time limit (or max_epochs) can be resumed and extended.
        progress["done"] = epoch - progress["best_epoch"] >= config.patience and not config.keep_last
        stop = f"early stop: no validation gain for {config.patience} epochs" if progress["done"] else None
        if not stop and progress["elapsed_s"] > 60 * config.max_minutes:
            stop = f"time limit of {config.max_minutes} min reached"
        state = {**module_tensors("model", net), **optimizer_tensors(opt)}
        if critic is not None:
            state.update({**module_tensors("critic", critic), **optimizer_tensors(critic.opt, "critic_optim")})
        run.save_last(state, progress)
        if stop:
            print(f"{stop} after epoch {epoch} (best epoch {progress['best_epoch']})")
            break
    return run.best
