"""The learned lmk2video networks (MotionGAN family): generator G, frame critic D_f, video critic D_v.

G (Songsri-in & Zafeiriou's MotionGAN, with GANimation's attention compositing over FLNet's
warped-source "fetching" stream): per frame the input is [s, l, l_t, w_t] -- source crop, source
landmark maps, target landmark maps and the source warped onto the target landmarks. Encoder
(7x7 conv, two stride-2 convs, residual blocks) -> ConvLSTM over time whose output is added to
the encoder features -> decoder (two upsamplings) -> colour image C (tanh) and attention A
(sigmoid). Output = A * w_t + (1 - A) * C: where the warp is already right (A = 1) it is kept;
only what must change (mouth interior, shading) is painted.

Images are float in [-1, 1], (B, 3, H, W) per frame or (B, T, 3, H, W) per clip. The encoder and
decoder see every frame independently, so a clip runs them once over B*T frames; only the ConvLSTM
walks through time, carrying (h, c) so a long video can be produced in chunks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from lmk2video.conditioning import Conditioning

N_POINTS = 68

# Attention bias at initialisation. With a free colour image (GANimation), sigmoid(4) = 0.98 makes
# an untrained G return almost the warped source; with the residual colour (below) the output is
# the warp whatever A is, so A starts at sigmoid(2) = 0.88 where the colour head still gets gradient.
ATTENTION_INIT_BIAS = {False: 4.0, True: 2.0}
_ATANH_LIMIT = 0.999  # keeps atanh(warped) finite on saturated pixels


@dataclass
class GeneratorArch:
    lmk_channels: int = 4  # COMPACT_CHANNELS (drawn contours) or 68 (one Gaussian per point)
    base: int = 64  # channels after the first conv; x2 and x4 after the two downsamplings
    n_res: int = 6
    lstm_kernel: int = 3
    # C = tanh(head + atanh(warped)) instead of tanh(head): C is still a colour image, but a zero head
    # paints the warp itself, so an untrained G reproduces the warp default exactly and learning
    # only adds corrections (the head starts at zero).
    residual_color: bool = True


@dataclass
class FrameCriticArch:
    lmk_channels: int = 4
    base: int = 64
    n_layers: int = 4  # stride-2 convs; 128 px -> 8 x 8 patch map


@dataclass
class VideoCriticArch:
    base: int = 32
    n_layers: int = 4  # (1, 2, 2)-strided 3D convs; 128 px -> 8 x 8
    frames: int = 4  # T of the clips it sees (the landmark head is per frame)


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


class ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), _norm(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), _norm(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM (Shi et al. 2015): the four gates from one conv over [x, h]."""

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        self.channels = channels
        self.gates = nn.Conv2d(2 * channels, 4 * channels, kernel, padding=kernel // 2)
        with torch.no_grad():  # forget-gate bias 1: remember by default early in training
            self.gates.bias.zero_()
            self.gates.bias[channels:2 * channels].fill_(1.0)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        if state is None:
            zeros = x.new_zeros(x.shape)
            state = (zeros, zeros)
        h, c = state
        i, f, g, o = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


LstmState = tuple[torch.Tensor, torch.Tensor]


class Generator(nn.Module):
    """Saves and loads itself (talkface.checkpoint.save_model / load_model) with its conditioning: the config
    is {"generator": arch, **conditioning}."""

    checkpoint_kind = "lmk2video"

    def __init__(self, arch: GeneratorArch, conditioning: Conditioning | None = None):
        super().__init__()
        self.arch = arch
        self.conditioning = conditioning or Conditioning()
        b = arch.base
        in_channels = 3 + 2 * arch.lmk_channels + 3  # s, l, l_t, warped source
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, b, 7, padding=3, bias=False), _norm(b), nn.ReLU(inplace=True),
            nn.Conv2d(b, 2 * b, 4, stride=2, padding=1, bias=False), _norm(2 * b), nn.ReLU(inplace=True),
            nn.Conv2d(2 * b, 4 * b, 4, stride=2, padding=1, bias=False), _norm(4 * b), nn.ReLU(inplace=True),
            *[ResBlock(4 * b) for _ in range(arch.n_res)])
        self.lstm = ConvLSTMCell(4 * b, arch.lstm_kernel)
        # Nearest upsampling + conv rather than transposed convs: no checkerboard on flat skin.
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(4 * b, 2 * b, 3, padding=1, bias=False), _norm(2 * b), nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(2 * b, b, 3, padding=1, bias=False), _norm(b), nn.ReLU(inplace=True))
        self.to_color = nn.Conv2d(b, 3, 7, padding=3)
        self.to_attention = nn.Conv2d(b, 1, 7, padding=3)
        with torch.no_grad():
            self.to_attention.bias.fill_(ATTENTION_INIT_BIAS[arch.residual_color])
            if arch.residual_color:
                self.to_color.weight.zero_()
                self.to_color.bias.zero_()

    def model_config(self) -> dict:
        return {"generator": asdict(self.arch), **asdict(self.conditioning)}

    @classmethod
    def from_config(cls, config: dict) -> "Generator":
        config = dict(config)
        return cls(GeneratorArch(**config.pop("generator")), Conditioning(**config))

    def forward(self, source: torch.Tensor, source_maps: torch.Tensor, target_maps: torch.Tensor,
                warped: torch.Tensor, state: LstmState | None = None, full_warped: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, LstmState]:
        """source (B, 3, h, w), source_maps (B, L, h, w), target_maps (B, T, L, h, w),
        warped (B, T, 3, h, w), h and w divisible by 4 -> (frames, attention (B, T, 1, H, W),
        colour C, new LSTM state). With full_warped (B, T, 3, H, W) -- the warp at a larger output
        size -- A and the colour head are upsampled bilinearly and composited at that size, so
        the output keeps the full-resolution warp wherever A = 1; otherwise H, W = h, w."""
        bsz, t = target_maps.shape[:2]
        per_frame = torch.cat([
            source[:, None].expand(-1, t, -1, -1, -1), source_maps[:, None].expand(-1, t, -1, -1, -1),
            target_maps, warped], dim=2).flatten(0, 1)
        feats = self.encoder(per_frame)
        feats = feats.unflatten(0, (bsz, t))
        mixed = []
        for i in range(t):  # the only sequential part
            h, state = self.lstm(feats[:, i], state)
            mixed.append(feats[:, i] + h)
        x = self.decoder(torch.stack(mixed, dim=1).flatten(0, 1))
        color, attention = self.heads(x)
        base = warped
        if full_warped is not None and full_warped.shape[-2:] != warped.shape[-2:]:
            size = full_warped.shape[-2:]
            color = F.interpolate(color, size=size, mode="bilinear", align_corners=False)
            attention = F.interpolate(attention, size=size, mode="bilinear", align_corners=False)
            base = full_warped
        color = color.unflatten(0, (bsz, t))
        attention = torch.sigmoid(attention).unflatten(0, (bsz, t))
        if self.arch.residual_color:
            color = color + torch.atanh(base.clamp(-_ATANH_LIMIT, _ATANH_LIMIT))
        color = torch.tanh(color)
        return composite(attention, base, color), attention, color, state


    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """to_color and to_attention as one convolution of 4 output channels: the same sums, but a conv with
        1 or 3 outputs is slow in ONNX Runtime's blocked layout (4.5 of 17 ms a frame of the shipped net, as two)."""
        out = F.conv2d(x, torch.cat([self.to_color.weight, self.to_attention.weight]),
                       torch.cat([self.to_color.bias, self.to_attention.bias]), padding=self.to_color.padding)
        return out[:, :3], out[:, 3:]


def composite(attention: torch.Tensor, warped: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
    """GANimation's blend: A = 1 keeps the warped source, A = 0 takes the painted colour."""
    return attention * warped + (1.0 - attention) * color


class FrameCritic(nn.Module):
    """PatchGAN on [s, l, f, l_t]: real/fake per patch, plus its intermediate features for matching."""

    def __init__(self, arch: FrameCriticArch):
        super().__init__()
        self.arch = arch
        in_channels = 3 + arch.lmk_channels + 3 + arch.lmk_channels
        layers = []
        ch = in_channels
        for i in range(arch.n_layers):
            out = arch.base * 2 ** min(i, 3)
            layers.append(nn.Sequential(
                nn.Conv2d(ch, out, 4, stride=2, padding=1),
                *([nn.InstanceNorm2d(out, affine=True)] if i > 0 else []),  # none on the first layer
                nn.LeakyReLU(0.2, inplace=True)))
            ch = out
        self.blocks = nn.ModuleList(layers)
        self.head = nn.Conv2d(ch, 1, 3, padding=1)

    def forward(self, source: torch.Tensor, source_maps: torch.Tensor, frame: torch.Tensor,
                target_maps: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """All (N, C, H, W) -> (logits (N, 1, h, w), features)."""
        x = torch.cat([source, source_maps, frame, target_maps], dim=1)
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return self.head(x), feats


class VideoCritic(nn.Module):
    """3D-conv critic over T frames with a second head regressing every frame's 68 landmarks."""

    def __init__(self, arch: VideoCriticArch):
        super().__init__()
        self.arch = arch
        layers = []
        ch = 3
        for i in range(arch.n_layers):
            out = arch.base * 2 ** min(i, 3)
            layers.append(nn.Sequential(
                nn.Conv3d(ch, out, (3, 4, 4), stride=(1, 2, 2), padding=(1, 1, 1)),
                *([nn.InstanceNorm3d(out, affine=True)] if i > 0 else []),
                nn.LeakyReLU(0.2, inplace=True)))
            ch = out
        self.blocks = nn.ModuleList(layers)
        self.adv_head = nn.Conv3d(ch, 1, 3, padding=1)
        # Landmark branch: per frame, squeeze channels, pool to a fixed 8 x 8 grid, regress 136 values.
        self.lmk_reduce = nn.Sequential(nn.Conv2d(ch, 16, 1), nn.LeakyReLU(0.2, inplace=True),
                                        nn.AdaptiveAvgPool2d(8))
        self.lmk_head = nn.Linear(16 * 8 * 8, 2 * N_POINTS)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """frames (B, T, 3, H, W) -> (logits (B, 1, T, h, w), landmarks (B, T, 68, 2) in [-1, 1]
        crop units, features)."""
        x = frames.transpose(1, 2)  # (B, 3, T, H, W)
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        bsz, ch, t = x.shape[:3]
        per_frame = x.transpose(1, 2).flatten(0, 1)  # (B*T, C, h, w)
        lmk = self.lmk_head(self.lmk_reduce(per_frame).flatten(1)).view(bsz, t, N_POINTS, 2)
        return self.adv_head(x), lmk, feats


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
