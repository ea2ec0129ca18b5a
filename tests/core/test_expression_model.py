"""The expression model (talkface/expression): numpy inference against the torch module it was trained as,
the shipped checkpoint's behaviour and sidecar, and the Face++ -> iBUG-68 mapping."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from talkface.errors import CheckpointError, TalkfaceError
from talkface.expression import EXPRESSIONS
from talkface.expression.facepp import FACEPP_TO_IBUG, mapping_matrix, to_ibug68
from talkface.expression.geometry import ALIGN_POINTS, align_to, expression_error
from talkface.expression.shapes import SHIPPED, ExpressionModel
from talkface.landmarks.normalize import MEAN_SHAPE


def test_numpy_inference_matches_the_torch_module(tmp_path, one_torch_thread):
    import torch

    from talkface.checkpoint import save_model
    from talkface.expression.network import ExpressionNet

    torch.manual_seed(0)
    net = ExpressionNet(components=5, hidden=(16, 8))
    for layer in net.layers:  # the last layer starts at zero: give every layer weights
        torch.nn.init.normal_(layer.weight, std=0.3)
        torch.nn.init.normal_(layer.bias, std=0.1)
    net.set_statistics(torch.randn(8, 68, 2) * 0.05, torch.from_numpy(MEAN_SHAPE.reshape(-1).copy()), torch.randn(5, 136))
    path = save_model(tmp_path / "expr", net, data={"test_people": ["01"]})
    model = ExpressionModel.load(path)
    rng = np.random.default_rng(1)
    shapes = (MEAN_SHAPE + rng.normal(0, 0.03, (4, 68, 2))).astype(np.float32)
    for e in range(len(EXPRESSIONS)):
        with torch.no_grad():
            ref = net(torch.from_numpy(shapes), torch.full((4,), e)).numpy()
        ours = np.stack([model.displacement(s, EXPRESSIONS[e]) for s in shapes])
        np.testing.assert_allclose(ours, ref, atol=1e-5)
        assert ours.dtype == np.float32 and ours.shape == (4, 68, 2)
    assert np.abs(ref).max() > 0.1  # a non-trivial net was compared


def test_shipped_model_neutral_is_zero_and_others_move():
    model = ExpressionModel.load()
    assert np.array_equal(model.displacement(MEAN_SHAPE, "neutral"), np.zeros((68, 2), np.float32))
    happy = model.displacement(MEAN_SHAPE, "happy")
    assert happy[48, 1] < -0.05 and happy[54, 1] < -0.05  # the lip corners go up (y down)
    assert happy[48, 0] < 0 < happy[54, 0]                 # and out
    surprised = model.displacement(MEAN_SHAPE, "surprised")
    assert surprised[8, 1] > 0.1 and surprised[19, 1] < -0.03  # jaw drops, brows rise


def test_shipped_model_depends_on_the_persons_shape():
    model = ExpressionModel.load()
    wide = MEAN_SHAPE.copy()
    wide[48:68, 0] *= 1.25  # a wider mouth
    a, b = model.displacement(MEAN_SHAPE, "happy"), model.displacement(wide, "happy")
    assert np.abs(a - b).max() > 1e-3


def test_bad_expression_and_shape_are_one_line_errors():
    model = ExpressionModel.load()
    with pytest.raises(TalkfaceError, match=r"unknown expression 'joy' \(allowed: neutral, happy"):
        model.displacement(MEAN_SHAPE, "joy")
    with pytest.raises(TalkfaceError, match=r"\(68, 2\)"):
        model.displacement(MEAN_SHAPE[:10], "happy")


def test_missing_or_foreign_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        ExpressionModel.load(tmp_path / "none.safetensors")
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(1, np.float32)}, str(tmp_path / "other.safetensors"))
    (tmp_path / "other.json").write_text(json.dumps({"kind": "lipreader", "config": {}}))
    with pytest.raises(CheckpointError, match="not an expression model"):
        ExpressionModel.load(tmp_path / "other.safetensors")


def test_shipped_sidecar_records_split_terms_and_metrics():
    meta = json.loads(SHIPPED.with_suffix(".json").read_text())
    assert meta["kind"] == "expression" and meta["config"]["hidden"] is not None
    data = meta["data"]
    test, train = set(data["test_people"]), set(data["train_people"])
    assert len(test) == 15 and len(test | train) == 67 and not test & train
    assert sorted(p for fold in data["val_folds"] for p in fold) == sorted(train)  # validation: train people only
    assert "research use" in data["terms"] and "FReeNet" in data["terms"]
    assert {"step", "hardware", "train_config", "search", "chosen"} <= set(meta)
    table = meta["test"]["per_expression"]
    assert set(table) == {*EXPRESSIONS[1:], "all"}
    assert table["all"]["model"] < table["all"]["class_mean"] < table["all"]["no_change"]
    assert SHIPPED.stat().st_size < 25e6


def test_inference_path_does_not_import_torch():
    code = ("import sys; from talkface.expression.shapes import ExpressionModel; "
            "from talkface.expression.units import units_displacement; "
            "from talkface.landmarks.normalize import MEAN_SHAPE; "
            "ExpressionModel.load().displacement(MEAN_SHAPE, 'happy'); units_displacement({12: 1.0}); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mapping_table_is_a_convex_combination_of_facepp_points():
    assert len(FACEPP_TO_IBUG) == 68
    m = mapping_matrix()
    assert m.shape == (68, 106) and np.allclose(m.sum(1), 1) and (m >= 0).all()
    points = np.random.default_rng(0).normal(size=(3, 106, 2))
    assert to_ibug68(points).shape == (3, 68, 2)
    with pytest.raises(TalkfaceError, match="106"):
        to_ibug68(points[:, :68])


def test_alignment_removes_head_motion_and_error_is_scale_free():
    rng = np.random.default_rng(0)
    target = MEAN_SHAPE + rng.normal(0, 0.02, (68, 2)).astype(np.float32)
    angle = 0.2
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (2.5 * target @ rot.T + [3, -1]).astype(np.float32)
    np.testing.assert_allclose(align_to(moved, target), target, atol=1e-4)
    assert expression_error(moved, target) < 1e-4
    assert expression_error(MEAN_SHAPE, target) > 0.01
    assert len(ALIGN_POINTS) == 13
