"""The one report writer of the evaluations (talkface.report)."""
from __future__ import annotations

import csv
import json

from talkface.report import markdown_table, write_report


def test_write_report_writes_json_markdown_and_csv(tmp_path):
    report = {"n_clips": 2, "summary": {"a": 1.5}}
    rows = [{"clip": "x", "psnr": 30.0}, {"clip": "y", "ssim": 0.9}]
    md = write_report(tmp_path / "eval", "report", report, "# title", rows)
    assert md == tmp_path / "eval" / "report.md"
    assert md.read_text() == "# title\n"
    assert json.loads((tmp_path / "eval" / "report.json").read_text()) == report
    table = list(csv.reader((tmp_path / "eval" / "report.csv").open()))
    assert table == [["clip", "psnr", "ssim"], ["x", "30.0", ""], ["y", "", "0.9"]]
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == ["report.csv", "report.json", "report.md"]


def test_write_report_without_rows_writes_no_csv(tmp_path):
    write_report(tmp_path, "r", {}, "text\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.md"]


def test_markdown_table():
    assert markdown_table(["m", "v"], [["a", "1.0"], ["b", 2]]) == "| m | v |\n|---|---|\n| a | 1.0 |\n| b | 2 |"
