"""The learned audio2lmk on ONNX Runtime (audio2lmk.export -> audio2lmk.onnx_net): the shipped export is current, and
an export gives torch's tracks, for the shipped ensemble on the golden inputs and for any kind of checkpoint."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from audio2lmk.learned import load_checkpoint
from talkface.onnx_runtime import exported_path
from audio2lmk.shipped import SHIPPED_CHECKPOINT
from talkface.audio import SAMPLE_RATE
from talkface.checkpoint import sidecar_path, upgrade_sidecar
from talkface.errors import CheckpointError
from talkface.onnx_runtime import SHA256_KEY, SIDECAR_KEY, file_sha256
from talkface.speech import Speech
from tests.audio2lmk.test_audio2lmk_learned import face, speech_like, tiny_net

SHIPPED_EXPORT = exported_path(SHIPPED_CHECKPOINT)
GOLDEN_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "golden_outputs.py"
# Pixels: ONNX Runtime's kernels sum in another order than torch's (the shipped ensemble: 3e-5 px at most on the
# golden inputs, a face ~200 px wide); the golden test's own landmark tolerance is 1e-3 px.
TRACK_ATOL = 1e-3

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_shipped_export_is_current_and_small():
    import onnxruntime as ort

    meta = ort.InferenceSession(str(SHIPPED_EXPORT), providers=["CPUExecutionProvider"]).get_modelmeta()
    props = meta.custom_metadata_map
    assert props[SHA256_KEY] == file_sha256(SHIPPED_CHECKPOINT), "stale: python scripts/export_onnx.py"
    assert json.loads(props[SIDECAR_KEY]) == upgrade_sidecar(json.loads(sidecar_path(SHIPPED_CHECKPOINT).read_text()))
    assert SHIPPED_EXPORT.stat().st_size < 25e6


def test_the_shipped_export_gives_torchs_track_on_the_golden_inputs():
    from talkface.media import read_audio

    spec = importlib.util.spec_from_file_location("golden_outputs", GOLDEN_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with np.load(module.GOLDEN) as recorded:
        landmarks, reference = recorded["photo_landmarks"], recorded["audio2lmk_learned"]
    wave = read_audio(module._examples()[1], SAMPLE_RATE)[: int(module.SECONDS * SAMPLE_RATE)]
    onnx = load_checkpoint(backend="onnx")(Speech.of(wave, SAMPLE_RATE), landmarks, seed=0)
    torch_track = load_checkpoint(backend="torch")(Speech.of(wave, SAMPLE_RATE), landmarks, seed=0)
    np.testing.assert_allclose(onnx, torch_track, atol=TRACK_ATOL, rtol=0)
    np.testing.assert_allclose(onnx, reference, atol=TRACK_ATOL, rtol=0)
    assert np.ptp(onnx[:, 66, 1]) > 1.0  # the mouth moves: a comparison of still tracks would prove nothing


def _ensemble(kind: str):
    from audio2lmk.ensemble import Audio2LmkEnsemble

    return Audio2LmkEnsemble([tiny_net(kind, seed=1, head_pose=True), tiny_net(kind, seed=2, head_pose=True)])


@pytest.mark.parametrize("make", [lambda: tiny_net("tcn"), lambda: tiny_net("lstm", head_pose=True),
                                  lambda: _ensemble("lstm")], ids=["tcn", "lstm with pose", "ensemble"])
def test_any_checkpoint_exports_and_runs_like_torch(tmp_path, make):
    from audio2lmk.export import export_audio2lmk
    from talkface.checkpoint import save_model

    path = save_model(tmp_path / "net", make(), calibration={"voice_gate": False, "sharpen": 0.5})
    assert export_audio2lmk(path) == tmp_path / "net.onnx"
    wave, source = speech_like(7.0, seed=4), face(90.0, 0.1, (150.0, 170.0), seed=3)  # two crossfaded windows
    onnx, torch_model = load_checkpoint(path, backend="onnx"), load_checkpoint(path, backend="torch")
    assert onnx.meta == torch_model.meta and onnx.predicts_head_pose == torch_model.predicts_head_pose
    expected = torch_model(Speech.of(wave, SAMPLE_RATE), source, fps=30, seed=2)
    assert np.ptp(expected[:, 66, 1]) > 0.5
    np.testing.assert_allclose(onnx(Speech.of(wave, SAMPLE_RATE), source, fps=30, seed=2), expected,
                               atol=TRACK_ATOL, rtol=0)


def test_a_missing_or_stale_export_is_one_line(tmp_path):
    from audio2lmk.export import export_audio2lmk
    from talkface.checkpoint import save_model

    path = save_model(tmp_path / "net", tiny_net("tcn"))
    with pytest.raises(CheckpointError, match=r"no exported net\.onnx beside it; export it .*--backend torch"):
        load_checkpoint(path, backend="onnx")
    export_audio2lmk(path)
    save_model(tmp_path / "net", tiny_net("tcn", seed=5))  # retrained after the export
    with pytest.raises(CheckpointError, match=r"net\.onnx: exported from another version of net\.safetensors"):
        load_checkpoint(path, backend="onnx")


@pytest.mark.parametrize("features", ["moonshine", "normmel+moonshine"])
def test_encoder_input_nets_export_too(tmp_path, features):
    """Nets reading a speech encoder's frames (one input row per video frame, audio2lmk.speech_encoder): the runners
    agree on the same inputs (the encoder itself runs outside the exported net)."""
    import torch

    from audio2lmk.export import export_audio2lmk
    from audio2lmk.inputs import n_inputs, rows_per_frame
    from audio2lmk.models import Audio2LmkNet
    from talkface.checkpoint import save_model

    torch.manual_seed(0)
    net = Audio2LmkNet("tcn", n_components=6, n_points=29, hidden=16, dilations=(1, 2), features=features,
                       head_pose=True)
    torch.nn.init.normal_(net.head.weight, std=0.3)
    path = save_model(tmp_path / "net", net)
    export_audio2lmk(path)
    onnx, torch_model = load_checkpoint(path, backend="onnx"), load_checkpoint(path, backend="torch")
    x = np.random.default_rng(0).standard_normal((50, rows_per_frame(features), n_inputs(features))).astype(np.float32)
    expected = torch_model.net(x, 0.0)
    assert expected.shape == (50, 2 * 29 + 4) and np.abs(expected).max() > 0.1
    np.testing.assert_allclose(onnx.net(x, 0.0), expected, atol=1e-5, rtol=0)
