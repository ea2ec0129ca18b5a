"""Losses of the learned lmk2video generator and its critics, and how the paper weighs them.

MotionGAN (Songsri-in & Zafeiriou, sec. 3.2 and 4.1) trains three nets in turn:

  G   : lambda1 L_img + lambda2 L_adv^G + lambda3 L_lms^G + lambda4 L_id^G
  D_f : L_adv^{D_f}
  D_v : lambda5 L_adv^{D_v} + lambda6 L_lms^{D_v}

with lambda1..6 = 1, 0.01, 10, 0.1, 1, 100, where
  L_img     (eq. 2)  L1 between generated and real frames                -> `reconstruction`
  L_adv^G   (eq. 5)  pairwise feature matching of generated vs real
                     intermediate features of D_f and of D_v              -> `feature_matching`
  L_lms^G   (eq. 7)  D_v's landmark head on generated clips vs l_1^T      -> `landmark_loss`
  L_id^G             verification net V: generated vs source and
                     generated vs target descriptors                       -> `identity_loss`
  L_adv^Df/Dv (3, 4) the critics' real/fake objectives                     -> `critic_adversarial`
  L_lms^{D_v} (6)    D_v's landmark head on real clips vs l_1^T            -> `landmark_loss`
The paper's G gets its adversarial signal only through feature matching; a direct adversarial
term (`generator_adversarial`, weight lambda_g_adv) is available but 0 by default. The paper uses
the log (BCE) objective; we offer LSGAN (default) or hinge, both steadier. Added from GANimation:
the attention regulariser `attention_loss` (a prior on A plus mask_tv x total variation), weight
lambda_mask; its prior is GANimation's mean(A) or, by default, the painted share mean(1 - A) (see there).
Added for the compositing: L1 on the colour layer C itself (weight lambda_color). Through the blend
C only gets (1 - A) of the gradient, and the sparse prior pushes A towards 1, so without it C would
stop learning where it is not yet used -- and never become good enough to be used (on GRID, A rose
to 0.99 within ~120 steps and the output stayed the warp). FLNet supervises its streams directly for
the same reason. The paper gives no formula for L_id; ours is the mean Euclidean (dlib's metric) or
cosine distance of 128-D descriptors of dlib's face-recognition ResNet (lmk2video.identity).
Landmarks are compared in [-1, 1] crop units (conditioning.normalise_points).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

GAN_MODES = ("lsgan", "hinge")


@dataclass
class LossWeights:
    img: float = 1.0        # lambda1
    fm: float = 0.01        # lambda2
    lms: float = 10.0       # lambda3
    id: float = 0.1         # lambda4
    dv_adv: float = 1.0     # lambda5
    dv_lms: float = 100.0   # lambda6
    mask: float = 0.001     # attention regulariser (GANimation; not in MotionGAN)
    mask_tv: float = 0.03   # total variation share inside it
    color: float = 0.5      # L1 on the colour layer C (not in MotionGAN)
    g_adv: float = 0.0      # direct adversarial term for G (not in MotionGAN)


def reconstruction(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """L_img: mean absolute error over all frames and pixels."""
    return (fake - real).abs().mean()


def feature_matching(fake_feats: list[torch.Tensor], real_feats: list[torch.Tensor]) -> torch.Tensor:
    """Pairwise feature matching: mean squared difference per layer, summed over layers.
    The real features are targets (detached)."""
    return sum(F.mse_loss(f, r.detach()) for f, r in zip(fake_feats, real_feats))


def landmark_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error of (..., 68, 2) landmarks in [-1, 1] crop units, mean over values."""
    return F.mse_loss(pred.float(), target.float())


def identity_loss(gen: torch.Tensor, source: torch.Tensor, target: torch.Tensor, metric: str = "l2"
                  ) -> torch.Tensor:
    """L_id: distance of (N, D) generated-frame descriptors to the source's and to the real
    target frames' descriptors (both pairs of the paper), averaged."""
    if metric == "l2":
        dist = lambda a, b: (a - b.detach()).norm(dim=-1)  # noqa: E731
    elif metric == "cosine":
        dist = lambda a, b: 1.0 - F.cosine_similarity(a, b.detach(), dim=-1)  # noqa: E731
    else:
        raise ValueError(f"identity metric must be 'l2' or 'cosine', got {metric!r}")
    return 0.5 * (dist(gen, source).mean() + dist(gen, target).mean())


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels of (..., H, W)."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


MASK_MODES = ("sparse", "ganimation")


def attention_loss(attention: torch.Tensor, tv_weight: float, mode: str = "sparse") -> torch.Tensor:
    """Attention regulariser plus tv_weight x total variation (smooth blends).

    "ganimation": mean of A. In GANimation (unpaired) this stops A saturating at 1, i.e. 'change
    nothing'. Here the paired L1 already rules that out, and with the residual colour (C starts as
    the warp) the term only drives A to 0 everywhere: on GRID it did so within ~150 steps and spread
    the colour head's low-resolution noise over the whole face.
    "sparse" (default): mean of 1 - A, the share of painted pixels: keep the full-resolution warp
    unless painting lowers the L1 by more than the weight -- 'only what must change is painted'."""
    if mode == "sparse":
        prior = 1.0 - attention.mean()
    elif mode == "ganimation":
        prior = attention.mean()
    else:
        raise ValueError(f"mask mode must be one of {MASK_MODES}, got {mode!r}")
    return prior + tv_weight * total_variation(attention)


def critic_adversarial(real_logits: torch.Tensor, fake_logits: torch.Tensor, mode: str = "lsgan") -> torch.Tensor:
    """A critic's objective on real and (detached) generated inputs."""
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    if mode == "lsgan":
        return 0.5 * (((real_logits - 1) ** 2).mean() + (fake_logits ** 2).mean())
    if mode == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {mode!r}")


def generator_adversarial(fake_logits: torch.Tensor, mode: str = "lsgan") -> torch.Tensor:
    fake_logits = fake_logits.float()
    if mode == "lsgan":
        return 0.5 * ((fake_logits - 1) ** 2).mean()
    if mode == "hinge":
        return -fake_logits.mean()
    raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {mode!r}")


def weighted_sum(parts: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """sum_k weights[k] * parts[k] over the parts present (a part with weight 0 is skipped)."""
    terms = [weights[k] * v for k, v in parts.items() if weights[k] != 0.0]
    if not terms:
        raise ValueError("every loss weight is zero")
    return sum(terms)
