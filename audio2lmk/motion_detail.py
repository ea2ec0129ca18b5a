"""Fast lip detail for the learned audio2lmk: what a regression loss smooths away.

A net trained to regress motion predicts the conditional mean, which is temporally smooth and small. The s1
lipreader reads in exactly that fast detail: the real track reads at 21.7 % WER, the same track smoothed by a
Gaussian of 2 frames at 61.7 % while its opening correlation stays 0.94 (docs/results.md). A regression loss on
velocity or acceleration does not help: the mean of uncertain sharp transitions is smooth whatever derivative
is regressed. Two losses that a smooth mean cannot satisfy (config `loss` fields of audio2lmk.train):

- `detail_loss`: moment matching. Per clip, the spread over time (std) of each lip point's motion and of the
  inner-lip gap, high-passed at several scales (the signal minus its Gaussian blur of `sigma` frames),
  matched to the real track's spread. The position loss keeps that detail in time with the real one.
- `MotionCritic`: a small 1-D convolutional discriminator on lip velocities (least-squares GAN), and feature
  matching between its activations on the predicted and the real sequence of the same clip.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from audio2lmk.pca import LIP_ROWS, inner_gap

VELOCITY_SCALE = 0.01  # interocular units per frame: the critic sees lip velocities of order 1


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, T, C) blurred along T by a Gaussian of `sigma` frames (edges replicated, as scipy's 'nearest')."""
    radius = max(1, int(4 * sigma + 0.5))  # scipy.ndimage.gaussian_filter1d's truncation
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = (kernel / kernel.sum()).repeat(x.shape[-1], 1, 1)  # (C, 1, K): one filter per channel
    padded = F.pad(x.transpose(1, 2), (radius, radius), mode="replicate")
    return F.conv1d(padded, kernel, groups=x.shape[-1]).transpose(1, 2)


def lip_signals(motion: torch.Tensor) -> torch.Tensor:
    """(B, T, P, 2) motion of MOTION_POINTS -> (B, T, 2L + 1): each lip point's horizontal and vertical motion
    (rounding and spreading read too: the real track without its horizontal lip motion reads 12 points worse)
    and the inner gap."""
    return torch.cat([motion[..., LIP_ROWS, :].flatten(-2), inner_gap(motion)[..., None]], dim=-1)


def detail_loss(pred: torch.Tensor, target: torch.Tensor, sigmas: list[float]) -> torch.Tensor:
    """Mean over clips, lip signals and scales of |std_t(high-passed pred) - std_t(high-passed real)|."""
    a, b = lip_signals(pred), lip_signals(target)
    terms = [((a - gaussian_blur(a, s)).std(dim=1) - (b - gaussian_blur(b, s)).std(dim=1)).abs().mean()
             for s in sigmas]
    return torch.stack(terms).mean()


class MotionCritic(nn.Module):
    """Least-squares discriminator on (B, T, P, 2) motion: per-frame scores of its lip velocities, seen through
    dilated convolutions (receptive field +-29 frames). Owns its optimiser; the trainer calls `step` on detached
    predictions, then adds `generator_losses` to the net's loss."""

    def __init__(self, channels: int = 64, lr: float = 1e-3):
        super().__init__()
        in_dim = 2 * len(LIP_ROWS)
        self.layers = nn.ModuleList([nn.Conv1d(in_dim, channels, 5, padding=2)]
                                    + [nn.Conv1d(channels, channels, 5, dilation=d, padding=2 * d) for d in (2, 4, 8)])
        self.out = nn.Conv1d(channels, 1, 3, padding=1)
        self.opt = torch.optim.Adam(self.parameters(), lr=lr, betas=(0.5, 0.9))

    def features(self, motion: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Hidden activations and (B, T-1) scores."""
        x = (motion[:, :, LIP_ROWS].diff(dim=1) / VELOCITY_SCALE).flatten(2).transpose(1, 2)
        feats = []
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
            feats.append(x)
        return feats, self.out(x)[:, 0]

    def step(self, fake: torch.Tensor, real: torch.Tensor) -> float:
        """One critic update (real -> 1, fake -> 0); returns its loss."""
        loss = ((self.features(real)[1] - 1) ** 2).mean() + (self.features(fake.detach())[1] ** 2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()

    def generator_losses(self, fake: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(adversarial, feature matching): fake scored as real; L1 between the critic's activations on the
        prediction and on the real motion of the same clips. Gradients reach the net, not the critic."""
        with torch.no_grad():
            real_feats, _ = self.features(real)
        fake_feats, score = self.features(fake)
        matching = torch.stack([(f - r).abs().mean() for f, r in zip(fake_feats, real_feats)]).mean()
        return ((score - 1) ** 2).mean(), matching
