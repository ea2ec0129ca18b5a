"""Reader for dlib's binary serialisation of a DNN (`serialize(net)`), e.g. the face-recognition
ResNet `dlib_face_recognition_resnet_model_v1.dat`.

Format (dlib/serialize.h, dlib/dnn/core.h, dlib/dnn/layers.h, as found in that file):

- integer: one control byte (low 4 bits: byte count n, bit 7: negative), then n little-endian
  magnitude bytes.  string: integer length, then the bytes.  bool: the character '0' or '1'.
  float/double: mantissa (integer) and exponent (integer), value = mantissa * 2**exponent.
- resizable_tensor: version 2, num_samples, k, nr, nc (integers), then k*nr*nc*num_samples
  little-endian float32.  alias_tensor (views into a layer's params): version 1 + 4 dims.
- the network, from the loss layer down: `add_loss_layer` writes version 1, its loss details
  (e.g. "loss_metric_2", margin, distance threshold), then its subnetwork.  Each
  `add_layer` writes version 2 and its subnetwork *first*, then its layer details and state
  (3 bools, 3 tensors); tag/skip layers write version 1 and their subnetwork only; the bottom
  `add_layer` (version 3) writes the input layer, its details and state (3 bools, 3 tensors,
  1 integer).  So the stream holds all headers top-down, then the layers bottom-up.

`read_dlib_net` returns the layers in input-to-output order; tag/skip layers carry no data, so
the wiring of residual branches is not in the file and must come from the network definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from talkface.errors import CheckpointError

_ADD_LAYER, _TAG_OR_SKIP, _INPUT_ADD_LAYER = 2, 1, 3  # header versions (see module doc)


@dataclass
class DlibLayer:
    kind: str  # dlib's version string: "con_4", "affine_", "relu_", "max_pool_2", "fc_2", ...
    attrs: dict = field(default_factory=dict)  # geometry / mode integers, multipliers
    params: np.ndarray | None = None  # the layer's flat float32 parameter tensor
    # alias-tensor dims by name, in the order they are laid out in `params`
    views: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)

    def tensor(self, name: str) -> np.ndarray:
        """A named alias view (e.g. "filters", "biases", "gamma") cut out of `params`."""
        offset = 0
        for view, dims in self.views.items():
            size = int(np.prod(dims))
            if view == name:
                return self.params[offset:offset + size].reshape(dims)
            offset += size
        raise KeyError(f"{self.kind} has no tensor {name!r}")


@dataclass
class DlibNet:
    loss: DlibLayer
    input: DlibLayer
    layers: list[DlibLayer]  # computational layers, input side first
    n_tags: int  # tag/skip layers seen in the headers


class _Reader:
    """Cursor over a dlib serialisation stream; every read checks it stays in bounds."""

    def __init__(self, data: bytes, name: str):
        self.data, self.name, self.pos = data, name, 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CheckpointError(f"{self.name}: truncated dlib stream at byte {self.pos}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        control = self._take(1)[0]
        n = control & 0x0F
        if n > 8:
            raise CheckpointError(f"{self.name}: bad integer control byte at {self.pos - 1}")
        value = int.from_bytes(self._take(n), "little")
        return -value if control & 0x80 else value

    def string(self) -> str:
        return self._take(self.integer()).decode("latin-1")

    def real(self) -> float:
        mantissa = self.integer()
        return float(mantissa * 2.0 ** self.integer())

    def boolean(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            raise CheckpointError(f"{self.name}: bad bool {ch!r} at byte {self.pos - 1}")
        return ch == b"1"

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise CheckpointError(f"{self.name}: tensor version {version} at byte {self.pos}")
        dims = [self.integer() for _ in range(4)]
        n = int(np.prod(dims))
        return np.frombuffer(self._take(4 * n), dtype="<f4").astype(np.float32)

    def alias(self) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != 1:
            raise CheckpointError(f"{self.name}: unsupported alias_tensor version {version}")
        return tuple(self.integer() for _ in range(4))


def _read_details(r: _Reader) -> DlibLayer:
    """One layer's details, dispatched on its version string."""
    kind = r.string()
    if kind == "con_4":
        params = r.tensor()
        keys = ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
        attrs = {k: r.integer() for k in keys}
        views = {"filters": r.alias(), "biases": r.alias()}
        attrs["multipliers"] = [r.real() for _ in range(4)]  # learning-rate / weight-decay
        return DlibLayer(kind, attrs, params, views)
    if kind == "affine_":
        params = r.tensor()
        views = {"gamma": r.alias(), "beta": r.alias()}
        return DlibLayer(kind, {"mode": r.integer()}, params, views)  # mode 0: per channel
    if kind in ("relu_", "add_prev_"):
        return DlibLayer(kind)
    if kind in ("max_pool_2", "avg_pool_2"):  # window 0x0 means "whole image" (avg_pool_everything)
        keys = ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
        return DlibLayer(kind, {k: r.integer() for k in keys})
    if kind == "fc_2":
        attrs = {"num_outputs": r.integer(), "num_inputs": r.integer()}
        params = r.tensor()
        views = {"weights": r.alias(), "biases": r.alias()}
        attrs["bias_mode"] = r.integer()  # 0: with bias, 1: no bias
        attrs["multipliers"] = [r.real() for _ in range(4)]
        return DlibLayer(kind, attrs, params, views)
    raise CheckpointError(f"{r.name}: unsupported dlib layer {kind!r} at byte {r.pos}")


def _skip_state(r: _Reader, bottom: bool) -> None:
    """Training state after each layer's details: 3 bools, x_grad, cached output, params_grad
    (the bottom layer: grad_final and the sample expansion factor instead of params_grad)."""
    for _ in range(3):
        r.boolean()
    for _ in range(3):
        r.tensor()
    if bottom:
        r.integer()


def read_dlib_net(source: str | Path | bytes, name: str | None = None) -> DlibNet:
    """Parse a serialised dlib network (path or bytes) with an rgb input layer and a loss layer."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"{path}: dlib model file not found")
        data, name = path.read_bytes(), name or str(path)
    else:
        data, name = bytes(source), name or "<dlib stream>"
    r = _Reader(data, name)
    if r.integer() != 1:
        raise CheckpointError(f"{name}: not a dlib add_loss_layer stream")
    loss = DlibLayer(r.string())
    if loss.kind == "loss_metric_2":
        loss.attrs = {"margin": r.real(), "dist_thresh": r.real()}
    else:
        raise CheckpointError(f"{name}: unsupported dlib loss {loss.kind!r}")

    headers = []
    while (version := r.integer()) != _INPUT_ADD_LAYER:
        if version not in (_ADD_LAYER, _TAG_OR_SKIP):
            raise CheckpointError(f"{name}: unexpected layer header version {version} at {r.pos}")
        headers.append(version)

    kind = r.string()
    if kind != "input_rgb_image_sized":
        raise CheckpointError(f"{name}: unsupported dlib input layer {kind!r}")
    avg = [r.real() for _ in range(3)]
    inp = DlibLayer(kind, {"avg_rgb": avg, "nr": r.integer(), "nc": r.integer()})

    layers = [_read_details(r)]
    _skip_state(r, bottom=True)
    for _ in range(headers.count(_ADD_LAYER)):
        layers.append(_read_details(r))
        _skip_state(r, bottom=False)
    if r.pos != len(data):
        raise CheckpointError(f"{name}: {len(data) - r.pos} unexpected bytes after the last layer")
    return DlibNet(loss, inp, layers, headers.count(_TAG_OR_SKIP))
