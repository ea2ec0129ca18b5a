"""One report writer for every evaluation: `<name>.json` (everything), `<name>.md` (for people) and, when
there are per-item rows, `<name>.csv` — each written to a temp file and renamed, so a report on disk is
never half-written."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table (cells already formatted)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(out_dir: str | os.PathLike, name: str, report: dict, markdown: str,
                 rows: list[dict] | None = None) -> Path:
    """Write `<out_dir>/<name>.json`, `.md` and (with `rows`) `.csv` whose columns are the rows' keys in
    first-seen order; returns the markdown's path."""
    out = Path(out_dir)
    write_atomic(out / f"{name}.json", json.dumps(report, indent=2, default=str))
    if rows:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(out / f"{name}.csv", buffer.getvalue())
    return write_atomic(out / f"{name}.md", markdown if markdown.endswith("\n") else markdown + "\n")
