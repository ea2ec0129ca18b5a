"""The PyTorch port of dlib's face-recognition ResNet: the .dat parser on a handmade stream, and
descriptors against dlib's own on real GRID frames (network alone, then with the torch chip)."""
import dlib
import numpy as np
import pytest
import torch

from lmk2video.dlib_weights import read_dlib_net
from lmk2video.identity import DlibFaceNet, extract_face_chips
from talkface.errors import CheckpointError
from talkface.landmarks.detect import FACE_RECOGNITION_RESNET, DlibDetector, dlib_model_path
from talkface.media import read_video

# ---- a tiny dlib stream written by hand (see lmk2video/dlib_weights.py for the format) ----


def _int(v: int) -> bytes:
    mag = abs(v).to_bytes(max(1, (abs(v).bit_length() + 7) // 8), "little")
    return bytes([len(mag) | (0x80 if v < 0 else 0)]) + mag


def _str(s: str) -> bytes:
    return _int(len(s)) + s.encode()


def _real(mantissa: int, exponent: int) -> bytes:
    return _int(mantissa) + _int(exponent)


def _tensor(values, dims) -> bytes:
    return _int(2) + b"".join(_int(d) for d in dims) + np.asarray(values, "<f4").tobytes()


def _alias(*dims) -> bytes:
    return _int(1) + b"".join(_int(d) for d in dims)


def _state(bottom: bool = False) -> bytes:
    empty = _tensor([], (0, 0, 0, 0))
    return b"110" + empty * 3 + (_int(1) if bottom else b"")


def _tiny_net() -> bytes:
    """loss_metric<fc<1, relu<tag1<affine<con<2,1,1,1,1, input_rgb_image_sized<2>>>>>>>."""
    ones = _real(1, 0) * 3 + _real(0, 11)  # lr / weight-decay multipliers, as dlib writes them
    con = (_str("con_4") + _tensor([0.5, -1, 0.25, 2, 1, 0.75, -3, 4], (8, 1, 1, 1))
           + b"".join(_int(v) for v in (2, 1, 1, 1, 1, 0, 0))
           + _alias(2, 3, 1, 1) + _alias(1, 2, 1, 1) + ones)
    affine = (_str("affine_") + _tensor([2, 3, -1, 1], (4, 1, 1, 1))
              + _alias(1, 2, 1, 1) * 2 + _int(0))
    fc = (_str("fc_2") + _int(1) + _int(2) + _tensor([7, -8], (2, 1, 1, 1))
          + _alias(2, 1, 1, 1) + _alias(0, 0, 0, 0) + _int(1) + ones)
    return b"".join([
        _int(1), _str("loss_metric_2"), _real(3, -2), _real(-3, -2),  # margin, threshold
        _int(2), _int(2), _int(1), _int(2), _int(3),  # headers: fc, relu, tag, affine, bottom
        _str("input_rgb_image_sized"), _real(245, -1), _real(0, 0), _real(-1, 3), _int(2), _int(2),
        con, _state(bottom=True), affine, _state(), _str("relu_"), _state(), fc, _state(),
    ])


def test_parser_reads_a_handmade_stream():
    net = read_dlib_net(_tiny_net())
    assert net.loss.attrs == {"margin": 0.75, "dist_thresh": -0.75}
    assert net.input.attrs == {"avg_rgb": [122.5, 0.0, -8.0], "nr": 2, "nc": 2}
    assert [l.kind for l in net.layers] == ["con_4", "affine_", "relu_", "fc_2"]
    assert net.n_tags == 1
    con, affine, _, fc = net.layers
    assert con.attrs["num_filters"] == 2 and con.attrs["multipliers"] == [1, 1, 1, 0]
    filters = con.tensor("filters")[:, :, 0, 0]
    np.testing.assert_array_equal(filters, [[0.5, -1, 0.25], [2, 1, 0.75]])
    np.testing.assert_array_equal(con.tensor("biases").ravel(), [-3, 4])
    np.testing.assert_array_equal(affine.tensor("beta").ravel(), [-1, 1])
    assert fc.attrs["bias_mode"] == 1
    np.testing.assert_array_equal(fc.tensor("weights").ravel(), [7, -8])


def test_parser_rejects_damaged_streams():
    data = _tiny_net()
    with pytest.raises(CheckpointError, match="truncated"):
        read_dlib_net(data[:-10])
    with pytest.raises(CheckpointError, match="unexpected bytes"):
        read_dlib_net(data + b"\x00")
    with pytest.raises(CheckpointError, match="unsupported dlib layer 'con_5x'"):
        read_dlib_net(data.replace(_str("con_4"), _str("con_5x")))


# ---- the real network on real frames ----

CLIPS_FRAMES = {"bbaf2n": (0, 35, 70), "bbbf6n": (10, 55)}


@pytest.fixture(scope="module")
def net() -> DlibFaceNet:
    torch.set_num_threads(2)
    return DlibFaceNet.from_dlib()


@pytest.fixture(scope="module")
def faces(grid_root):
    """Frames (N,H,W,3) uint8, their dlib 68-point landmarks (N,68,2), dlib shapes."""
    detector = DlibDetector()
    frames, lmks = [], []
    for clip, idx in CLIPS_FRAMES.items():
        video = read_video(grid_root / "s1" / f"{clip}.mp4", with_audio=False)
        for i in idx:
            frames.append(video.frames[i])
            lmks.append(detector.detect(video.frames[i])[0].landmarks)
    lmks = np.stack(lmks)
    shapes = [dlib.full_object_detection(dlib.rectangle(0, 0, 1, 1),
                                         [dlib.point(int(x), int(y)) for x, y in lmk])
              for lmk in lmks]
    return np.stack(frames), lmks, shapes


@pytest.fixture(scope="module")
def dlib_descriptors(faces) -> np.ndarray:
    """dlib's own descriptors (N,128), computed on get_face_chip(frame, shape, 150, 0.25)."""
    rec = dlib.face_recognition_model_v1(str(dlib_model_path(FACE_RECOGNITION_RESNET)))
    frames, _, shapes = faces
    return np.array([rec.compute_face_descriptor(f, s) for f, s in zip(frames, shapes)])


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def test_network_matches_dlib_on_dlib_chips(net, faces, dlib_descriptors):
    frames, _, shapes = faces
    chips = np.stack([dlib.get_face_chip(f, s, 150, 0.25) for f, s in zip(frames, shapes)])
    with torch.no_grad():
        ours = net(torch.from_numpy(chips).permute(0, 3, 1, 2).float()).numpy()
    assert _cosine(ours, dlib_descriptors).min() > 0.99999
    assert np.abs(ours - dlib_descriptors).max() < 1e-4


def test_torch_chips_match_dlib_chips(faces):
    frames, lmks, shapes = faces
    ours = extract_face_chips(torch.from_numpy(frames).permute(0, 3, 1, 2).float(),
                              torch.from_numpy(lmks)).permute(0, 2, 3, 1).numpy()
    theirs = np.stack([dlib.get_face_chip(f, s, 150, 0.25) for f, s in zip(frames, shapes)])
    diff = ours - theirs
    # dlib truncates its bilinear values to uint8: ours are 0..1 above, ~0.5 on average.
    assert diff.min() > -0.01 and diff.max() < 1.01 and 0.3 < diff.mean() < 0.7


def test_descriptors_match_dlib_end_to_end(net, faces, dlib_descriptors):
    frames, lmks, _ = faces
    with torch.no_grad():
        ours = net.describe(frames, lmks).numpy()
        alone = net.describe(frames[1], lmks[1:2]).numpy()  # (H,W,3) input, batch of one
    assert _cosine(ours, dlib_descriptors).min() > 0.999
    # dlib's same-person cut is 0.6
    assert np.linalg.norm(ours - dlib_descriptors, axis=-1).max() < 0.02
    np.testing.assert_allclose(alone[0], ours[1], atol=1e-4)


def test_describe_is_differentiable_and_frozen(net, faces):
    frames, lmks, _ = faces
    image = torch.from_numpy(frames[:1]).permute(0, 3, 1, 2).float().requires_grad_(True)
    desc = net.describe(image, torch.from_numpy(lmks[:1]))
    assert desc.shape == (1, 128)
    assert not any(p.requires_grad for p in net.parameters())
    desc.square().sum().backward()
    assert torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0
