"""The learned lmk2video stage on ONNX Runtime (lmk2video.export -> lmk2video.learned_onnx, fetch_attention's
OnnxFetchAttention): the shipped exports are current, they give torch's frames on the golden inputs, the stream
carries the ConvLSTM state explicitly, a missing or stale export is one line, and the ONNX runner never imports
torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lmk2video.fetch_attention import SHIPPED as FETCH_ATTENTION
from lmk2video.learned import load_checkpoint
from lmk2video.shipped import SHIPPED_CHECKPOINT
from talkface.checkpoint import sidecar_path, upgrade_sidecar
from talkface.errors import CheckpointError
from talkface.onnx_runtime import SHA256_KEY, SIDECAR_KEY, exported_path, file_sha256, is_current

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "golden_outputs.npz"
# Grey levels: ONNX Runtime's kernels sum in another order than torch's (float32 differences ~1e-6 of the [-1, 1]
# range), so a pixel that torch rounds to n + 0.5 - eps may come out n + 1. On the golden inputs: at most 1 level, on
# at most 1e-4 of the values (measured: none differ at 128 px, 1.2e-6 of them at 150 px).
MAX_LEVELS = 1
MAX_SHARE_DIFFERENT = 1e-4

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("checkpoint", [SHIPPED_CHECKPOINT, FETCH_ATTENTION], ids=["generator", "fetch_attention"])
def test_the_shipped_exports_are_current_and_small(checkpoint):
    import onnxruntime as ort

    export = exported_path(checkpoint)
    props = ort.InferenceSession(str(export), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert props[SHA256_KEY] == file_sha256(checkpoint), "stale: python scripts/export_onnx.py"
    assert json.loads(props[SIDECAR_KEY]) == upgrade_sidecar(json.loads(sidecar_path(checkpoint).read_text()))
    assert is_current(export, checkpoint)
    assert export.stat().st_size < 25e6


@pytest.fixture(scope="module")
def golden_inputs():
    """The golden script's lmk2video inputs: the bundled photo's crop and landmarks, the recorded learned track."""
    from talkface.bench import EXAMPLES
    from talkface.media import read_image
    from talkface.pipeline import Synthesizer

    source = Synthesizer(audio2lmk="phonetic", lmk2video="warp").source_face(read_image(EXAMPLES / "face.png"))
    with np.load(GOLDEN) as recorded:
        track = recorded["audio2lmk_learned"]
    return source.crop, source.crop_landmarks, source.transform.to_crop(track).astype(np.float32)


def assert_same_frames(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.max() <= MAX_LEVELS and (diff > 0).mean() <= MAX_SHARE_DIFFERENT, (diff.max(), (diff > 0).mean())


def without_teeth(crop: np.ndarray, crop_lmk: np.ndarray) -> np.ndarray:
    """The crop with its open mouth's interior painted dark: a photo whose teeth do not show, where the product adds
    the net's correction (the bundled face shows its teeth, and there the net is not run)."""
    import cv2

    from lmk2video.mouth import estimate_appearance

    out = crop.copy()
    cv2.fillPoly(out, [np.round(crop_lmk[60:68]).astype(np.int32)], (40, 20, 20))
    assert not estimate_appearance(out, crop_lmk).source_teeth
    return out


@pytest.mark.parametrize("options", [{}, {"mouth_only": False}, {"own_face": False, "shading": True}],
                         ids=["product", "net_frames", "correction_with_shading"])
def test_onnx_gives_torchs_frames_on_the_golden_inputs(golden_inputs, options):
    crop, crop_lmk, targets = golden_inputs
    crop = without_teeth(crop, crop_lmk)
    onnx = load_checkpoint(backend="onnx", **options)(crop, crop_lmk, targets)
    torch_frames = load_checkpoint(backend="torch", **options)(crop, crop_lmk, targets)
    assert_same_frames(onnx, torch_frames)
    assert np.abs(onnx.astype(int) - onnx[:1]).max() > 10  # the mouth moves: still frames would prove nothing
    from lmk2video.warp_generator import WarpGenerator

    warp = WarpGenerator()(crop, crop_lmk, targets).astype(int)
    assert np.abs(onnx - warp).max() > 10  # the net's correction is there: not the warp alone


def test_onnx_at_any_crop_size_and_its_overlay_match_torch(golden_inputs):
    """The dub feeds the net crops of the video face's own size: the export's output size is free."""
    import cv2

    crop, crop_lmk, targets = golden_inputs
    size = 150
    scale = size / crop.shape[0]
    small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    lmk, tgt = (crop_lmk + 0.5) * scale - 0.5, (targets[:8] + 0.5) * scale - 0.5
    onnx, torch_gen = (load_checkpoint(backend=b, mouth_only=False) for b in ("onnx", "torch"))
    assert_same_frames(onnx(small, lmk, tgt), torch_gen(small, lmk, tgt))
    (coords_o, painted_o), (coords_t, painted_t) = (g.overlay_stream(small, lmk)(tgt) for g in (onnx, torch_gen))
    np.testing.assert_array_equal(coords_o, coords_t)
    assert np.abs(painted_o - painted_t).max() <= MAX_LEVELS


def test_the_stream_carries_the_state_and_equals_the_whole_sequence(golden_inputs):
    crop, crop_lmk, targets = golden_inputs
    generator = load_checkpoint(backend="onnx", mouth_only=False)
    whole = generator(crop, crop_lmk, targets)
    stream = generator.stream(crop, crop_lmk, batch_size=4)
    chunks = [stream(targets[i:i + 7]) for i in range(0, len(targets), 7)]
    np.testing.assert_array_equal(np.concatenate(chunks), whole)
    # step(targets, state) -> (frames, state): the ConvLSTM's (h, c) as numpy arrays, carried by the caller
    first, state = generator.stream(crop, crop_lmk).step(targets[:20], None)
    h, c = state
    assert isinstance(h, np.ndarray) and h.shape == c.shape and np.abs(h).max() > 0
    rest, _ = generator.stream(crop, crop_lmk).step(targets[20:], state)
    np.testing.assert_array_equal(np.concatenate([first, rest]), whole)
    fresh, _ = generator.stream(crop, crop_lmk).step(targets[20:], None)
    assert not np.array_equal(fresh, rest)  # the state matters: without it the continuation differs


def test_a_checkpoint_without_its_export_or_with_a_stale_one_is_one_line(tmp_path):
    from talkface.stages import load_lmk2video

    mine = tmp_path / "mine.safetensors"
    shutil.copy(SHIPPED_CHECKPOINT, mine)
    shutil.copy(sidecar_path(SHIPPED_CHECKPOINT), sidecar_path(mine))
    with pytest.raises(CheckpointError, match=r"mine.safetensors: no exported mine.onnx beside it; export it .* or "
                                              r"use --backend torch") as err:
        load_lmk2video(str(mine), backend="onnx")
    assert "\n" not in str(err.value)
    assert load_lmk2video(str(mine), backend="torch")[0] == "learned:mine.safetensors"
    shutil.copy(exported_path(SHIPPED_CHECKPOINT), exported_path(mine))
    assert load_lmk2video(str(mine), backend="onnx")[0] == "learned:mine.safetensors"
    mine.write_bytes(mine.read_bytes()[:-4] + b"    ")  # another version of the weights
    with pytest.raises(CheckpointError, match="exported from another version of mine.safetensors; re-export"):
        load_lmk2video(str(mine), backend="onnx")


def test_an_export_of_any_generator_matches_torch(tmp_path):
    """scripts/export_onnx.py's generator export on a small untrained checkpoint of another conditioning (work size
    = size, full landmark heatmaps): the ONNX runner gives torch's frames."""
    from lmk2video.export import export_generator
    from lmk2video.networks import Conditioning
    from tests.lmk2video.test_lmk2video_learned import face_image, face_landmarks, randomise_heads, tiny_generator
    from talkface.checkpoint import save_model

    g = tiny_generator(lmk_channels=68, seed=4)
    randomise_heads(g)
    g.conditioning = Conditioning(48, 48, heatmaps="full")
    path = save_model(tmp_path / "tiny", g)
    assert export_generator(path) == exported_path(path)
    lmk = face_landmarks(48)
    targets = np.stack([face_landmarks(48, o) for o in np.linspace(0, 1, 5)])
    source = face_image(48, lmk)
    onnx = load_checkpoint(path, backend="onnx", calibrate=False, mouth_only=False)(source, lmk, targets)
    torch_frames = load_checkpoint(path, backend="torch", calibrate=False, mouth_only=False)(source, lmk, targets)
    assert_same_frames(onnx, torch_frames)


NO_TORCH_RUN = """
import sys
import numpy as np
from lmk2video.fetch_attention import FetchJob, load_fetch_attention, pixel_weights
from lmk2video.learned import load_checkpoint
from talkface.landmarks.normalize import MEAN_SHAPE

lmk = (MEAN_SHAPE * 40 + 64).astype(np.float32)
crop = np.full((128, 128, 3), 128, np.uint8)
frames = load_checkpoint(backend="onnx").stream(crop, lmk)(np.stack([lmk, lmk + 0.5]))
net = load_fetch_attention("learned")
lips = np.zeros((128, 128), np.float32)
lips[80:100, 50:80] = 1
pixel_weights(net, [FetchJob(np.zeros((2, 128, 128, 3), np.float32), np.zeros(2, np.float32),
                             np.full(2, 0.5, np.float32), lmk, lips)])
print(frames.shape, sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""


def test_the_onnx_runners_import_no_torch():
    out = subprocess.run([sys.executable, "-c", NO_TORCH_RUN], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(2, 128, 128, 3) []", out.stdout + out.stderr


def test_a_photo_showing_its_teeth_renders_without_running_the_net(golden_inputs):
    """There the product keeps the photo's own teeth and adds none of the net's change (correction_field), so the
    net is not run at all: the frames are the warp's."""
    from lmk2video.mouth import estimate_appearance
    from lmk2video.warp_generator import WarpGenerator

    crop, crop_lmk, targets = golden_inputs
    assert estimate_appearance(crop, crop_lmk).source_teeth  # the bundled face shows its teeth
    product = load_checkpoint(backend="onnx", own_face=False)

    class NotRun:
        conditioning = product.net.conditioning

        def __call__(self, *args):
            raise AssertionError("the net ran")

    product.net = NotRun()
    _, plain, painted = WarpGenerator().layers(crop, crop_lmk, targets, estimate_appearance(crop, crop_lmk))
    warp = np.clip(np.round(plain + painted), 0, 255).astype(np.uint8)  # rounded as the learned stage rounds
    np.testing.assert_array_equal(product(crop, crop_lmk, targets), warp)
