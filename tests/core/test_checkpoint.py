"""Models save and load themselves: safetensors + a sidecar with kind, config and provenance (talkface.checkpoint)."""
from __future__ import annotations

import json

import pytest
import torch

from talkface.checkpoint import load_model, save_checkpoint, save_model, upgrade_sidecar
from talkface.errors import CheckpointError
from talkface.lipreading.model import LipreaderModelConfig, LipreaderNet


def tiny_reader(seed: int = 0) -> LipreaderNet:
    torch.manual_seed(seed)
    return LipreaderNet(LipreaderModelConfig(channels=(4, 4, 4), embed=8, hidden=4)).eval()


def test_a_model_saved_with_provenance_loads_back_by_its_kind(tmp_path):
    model = tiny_reader()
    path = save_model(tmp_path / "reader", model, data={"split": "train"}, step=7)
    meta = json.loads(path.with_suffix(".json").read_text())
    config = json.loads(json.dumps(model.model_config()))  # JSON has lists for tuples
    assert meta == {"kind": "lipreader", "config": config, "data": {"split": "train"}, "step": 7}
    loaded, loaded_meta = load_model(path, LipreaderNet)
    assert loaded_meta == meta and not loaded.training
    x = torch.randn(1, 5, 24, 48)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_a_checkpoint_of_another_kind_or_shape_is_refused_in_one_line(tmp_path):
    save_checkpoint(tmp_path / "other", {"x": torch.zeros(1)}, {"kind": "audio2lmk", "config": {}})
    with pytest.raises(CheckpointError, match="not a checkpoint of the lipreader model"):
        load_model(tmp_path / "other.safetensors", LipreaderNet)
    wrong = save_checkpoint(tmp_path / "wrong", tiny_reader().state_dict(),
                            {"kind": "lipreader", "config": {**tiny_reader().model_config(), "embed": 16}})
    with pytest.raises(CheckpointError, match="do not match") as err:
        load_model(wrong, LipreaderNet)
    assert "\n" not in str(err.value)
    bad = save_checkpoint(tmp_path / "bad", {}, {"kind": "lipreader", "config": {"layers": 3}})
    with pytest.raises(CheckpointError, match="bad lipreader model config"):
        load_model(bad, LipreaderNet)


def test_sidecars_of_the_older_schema_are_read_as_the_current_one(tmp_path):
    model = tiny_reader(1)
    old = {"kind": "talkface.lipreader", "config": {"epochs": 3}, "model": model.model_config(), "steps": 4}
    assert upgrade_sidecar(old) == {"kind": "lipreader", "config": model.model_config(), "train_config": {"epochs": 3},
                                    "steps": 4}
    assert upgrade_sidecar({"arch": {"kind": "tcn"}, "config": {"lr": 1}}) == {
        "kind": "audio2lmk", "config": {"kind": "tcn"}, "train_config": {"lr": 1}}
    current = {"kind": "lmk2video", "config": {"size": 64}, "train_config": {}}
    assert upgrade_sidecar(current) is current
    path = save_checkpoint(tmp_path / "old", model.state_dict(), old)
    loaded, meta = load_model(path, LipreaderNet)
    assert meta["kind"] == "lipreader" and meta["steps"] == 4
    assert torch.equal(loaded.head[1].weight, model.head[1].weight)
