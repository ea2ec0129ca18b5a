"""docs/results.md is generated from JSON by scripts/results_tables.py: the committed file must be what it writes,
and a stale file, a missing figure or an unshown recorded row must fail in one line."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scripts.results_tables import ROOT, SOURCES, anchor, main


def copy_inputs(dest: Path) -> Path:
    """The generator's inputs (every source JSON, the notebook) and its output, under `dest`."""
    for path in [*SOURCES.values(), "docs/notebook.md", "docs/results.md"]:
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, dest / path)
    return dest


def test_results_md_is_what_the_generator_writes():
    assert main(["--check"]) == 0, "docs/results.md is stale: run python scripts/results_tables.py"


def test_check_fails_on_an_edited_results_md_and_writing_restores_it(tmp_path, capsys):
    root = copy_inputs(tmp_path)
    results = root / "docs" / "results.md"
    results.write_text(results.read_text(encoding="utf-8").replace("29.2 %", "19.2 %", 1), encoding="utf-8")
    assert main(["--check"], root=root) == 1
    assert "docs/results.md is not what" in capsys.readouterr().err
    assert main([], root=root) == 0
    assert main(["--check"], root=root) == 0
    assert results.read_text(encoding="utf-8") == (ROOT / "docs" / "results.md").read_text(encoding="utf-8")


def test_a_changed_figure_in_a_sidecar_changes_the_table(tmp_path):
    root = copy_inputs(tmp_path)
    sidecar = root / SOURCES["lipreader"]
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["test_real_videos"]["wer"] = 0.5
    sidecar.write_text(json.dumps(data), encoding="utf-8")
    assert main(["--check"], root=root) == 1
    assert main([], root=root) == 0
    assert "| 50.0 % / 4.9 % |" in (root / "docs" / "results.md").read_text(encoding="utf-8")


def test_a_missing_figure_is_one_line_naming_the_file_and_key(tmp_path, capsys):
    root = copy_inputs(tmp_path)
    sidecar = root / SOURCES["audio2lmk"]
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    del data["lipreading"]
    sidecar.write_text(json.dumps(data), encoding="utf-8")
    assert main(["--check"], root=root) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"results_tables: error: {SOURCES['audio2lmk']}: no lipreading"


@pytest.mark.parametrize("change", ["row without a table", "unknown notebook section"])
def test_recorded_rows_are_all_shown_and_name_a_notebook_section(tmp_path, capsys, change):
    root = copy_inputs(tmp_path)
    recorded = root / SOURCES["recorded"]
    data = json.loads(recorded.read_text(encoding="utf-8"))
    if change == "row without a table":
        data["rows"].append({**data["rows"][0], "id": "nowhere"})
    else:
        data["rows"][0]["notebook"] = "A section nobody wrote"
    recorded.write_text(json.dumps(data), encoding="utf-8")
    assert main(["--check"], root=root) == 1
    err = capsys.readouterr().err
    assert ("nowhere" if change == "row without a table" else "A section nobody wrote") in err
    assert err.count("\n") == 1


def test_a_new_recorded_row_goes_at_the_end_of_the_table_it_names(tmp_path):
    root = copy_inputs(tmp_path)
    recorded = root / SOURCES["recorded"]
    data = json.loads(recorded.read_text(encoding="utf-8"))
    data["rows"].append({"id": "speed.new", "table": "speed", "figure": "A new timing", "value": "1.23 s",
                         "data": "some data", "command": "talkface bench", "notebook": "Speed"})
    recorded.write_text(json.dumps(data), encoding="utf-8")
    assert main([], root=root) == 0
    speed = (root / "docs" / "results.md").read_text(encoding="utf-8").split("## Speed")[1]
    table = [line for line in speed.splitlines() if line.startswith("| ")]
    assert table[-1].startswith("| A new timing | 1.23 s | some data | `talkface bench` |")


def test_anchor_is_githubs():
    assert anchor("Dubbing its own training face: `--mouth auto` = `generate` on s1, `fetch` on everyone else "
                  "(issue 15)") == "dubbing-its-own-training-face---mouth-auto--generate-on-s1-fetch-on-everyone-else-issue-15"
    assert anchor("The dub's motion gain, re-checked on the train split (issue 15)") == \
        "the-dubs-motion-gain-re-checked-on-the-train-split-issue-15"
