"""One nested config shape for the trainers (talkface.config): model / data / loss / optim / run."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from audio2lmk.train import Audio2LmkConfig
from lmk2video.train import Lmk2VideoConfig
from lmk2video.train_fetch_attention import FetchAttentionConfig
from talkface.config import BASE_KEY, SECTIONS, config_dict, load_config
from talkface.errors import TalkfaceError
from talkface.expression.train import ExpressionConfig
from talkface.lipreading.train import LipreaderConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TRAINERS = {"audio2lmk": Audio2LmkConfig, "lmk2video": Lmk2VideoConfig, "lipreader": LipreaderConfig,
            "fetch_attention": FetchAttentionConfig, "expression": ExpressionConfig}


@pytest.mark.parametrize("cls", TRAINERS.values(), ids=TRAINERS.keys())
def test_every_field_sits_in_exactly_one_section(cls):
    listed = [name for names in cls.SECTIONS.values() for name in names]
    assert set(cls.SECTIONS) <= set(SECTIONS)
    assert sorted(listed) == sorted(f.name for f in dataclasses.fields(cls))  # none missing, none twice


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_config_has_the_nested_shape_and_loads(path):
    raw = yaml.safe_load(path.read_text())
    allowed = {*SECTIONS, BASE_KEY}
    assert set(raw) <= allowed, f"{path}: top-level keys {sorted(set(raw) - allowed)}"
    config = load_config(TRAINERS[path.parent.name], path)
    data = config_dict(config)["data"]
    assert data.get("speaker", "s1") == "s1"  # GRID trainers name their speaker; expression reads RaFD


def test_nested_flat_and_overrides_agree(tmp_path):
    nested = tmp_path / "nested.yaml"
    nested.write_text(yaml.safe_dump({"optim": {"lr": 0.01, "max_epochs": 3}, "model": {"hidden": 8}}))
    flat = tmp_path / "flat.yaml"
    flat.write_text(yaml.safe_dump({"lr": 0.01, "max_epochs": 3, "hidden": 8}))
    a, b = load_config(LipreaderConfig, nested), load_config(LipreaderConfig, flat)
    assert a == b and a.lr == 0.01 and a.hidden == 8
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(config_dict(a)))  # what a run records reloads as the same config
    assert load_config(LipreaderConfig, again) == a
    assert load_config(LipreaderConfig, nested, ["optim.lr=1", "run.device=cuda", "seed=3"]).lr == 1.0
    with pytest.raises(TalkfaceError, match="lr belongs in section optim"):
        misplaced = tmp_path / "misplaced.yaml"
        misplaced.write_text(yaml.safe_dump({"model": {"lr": 0.1}}))
        load_config(LipreaderConfig, misplaced)
    with pytest.raises(TalkfaceError, match="override 'model.lr=1'"):
        load_config(LipreaderConfig, nested, ["model.lr=1"])
    with pytest.raises(TalkfaceError, match="unknown config keys"):
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump({"optim": {"epochs": 3}}))
        load_config(LipreaderConfig, bad)


def test_a_config_on_a_base_changes_only_what_it_lists(tmp_path):
    (tmp_path / "root.yaml").write_text(yaml.safe_dump({"optim": {"lr": 0.01, "max_epochs": 3},
                                                        "model": {"hidden": 8}}))
    (tmp_path / "child.yaml").write_text("base: root.yaml\noptim:\n  lr: 0.5\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "grandchild.yaml").write_text("base: ../child.yaml\nmodel:\n  hidden: 16\n")
    root = load_config(LipreaderConfig, tmp_path / "root.yaml")
    child = load_config(LipreaderConfig, tmp_path / "child.yaml")
    grandchild = load_config(LipreaderConfig, tmp_path / "sub" / "grandchild.yaml", ["seed=4"])
    assert dataclasses.replace(root, lr=0.5) == child
    assert dataclasses.replace(child, hidden=16, seed=4) == grandchild  # bases resolve from each file's own folder


def test_a_base_chain_that_loops_or_is_missing_is_one_clear_error(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(TalkfaceError, match="base chain loops"):
        load_config(LipreaderConfig, tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(TalkfaceError, match=r"nowhere.yaml: config file not found \(the base of .*c.yaml\)"):
        load_config(LipreaderConfig, tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("base: [a.yaml]\n")
    with pytest.raises(TalkfaceError, match="base must be a path"):
        load_config(LipreaderConfig, tmp_path / "d.yaml")
