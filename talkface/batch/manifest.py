"""A batch's job manifest (`talkface batch JOBS`): read, and every row checked before any job runs.

JOBS is a CSV file (a header of option names, then one job a row) or JSON lines (one object a line). Each job
names its `command` (one of JOB_COMMANDS) and that command's options by their CLI names (`image`, `audio`,
`out`, `seed`, `no-blink`, ...; `save_landmarks` is the same as `save-landmarks`). An empty cell or a JSON null
leaves an option out; a flag takes true/false (yes/no, 1/0). Paths:
- inputs (and checkpoint paths of the stage options) relative to the manifest's folder;
- outputs (`out`, `save-landmarks`) relative to the batch's output folder (--out-dir), so one manifest can be
  rendered into several folders; absolute paths are kept as they are.

Each row becomes the argument list of the same command run alone (`talkface synth --image ...`) and is parsed by
the CLI's own parser, so an unknown option or a bad value gets the CLI's own message. Then its inputs must exist,
its outputs be writable and not inputs, and no two rows may write one file. A bad row is one line naming the
manifest, its line number and the problem (`JobError`); `read_jobs` reports every bad row, not the first.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from talkface.errors import TalkfaceError
from talkface.expression.spec import KEYFRAME_SUFFIXES
from talkface.media import require_file
from talkface.safe_output import IMAGE_SUFFIXES, OUTPUT_VIDEO_SUFFIXES, TRACK_SUFFIXES, check_distinct, check_output
from talkface.stages import check_device, check_stage_spec

JOB_COMMANDS = ("synth", "animate", "dub", "edit")  # commands making one output from files; another is one entry away
INPUTS = ("image", "audio", "video", "landmarks")            # files read, relative to the manifest's folder
OUTPUTS = {"out": OUTPUT_VIDEO_SUFFIXES, "save_landmarks": TRACK_SUFFIXES}  # written, relative to --out-dir
OUTPUTS_OF = {"edit": {"out": IMAGE_SUFFIXES}}  # where a command's outputs differ from OUTPUTS
STAGE_NAMES = {"audio2lmk": ("phonetic", "learned", "auto"), "lmk2video": ("warp", "learned", "auto"),
               "fetch_blend": ("shape", "learned")}          # anything else is a checkpoint path
RESERVED = ("line", "error")  # columns failed.csv adds (the row's line and why it failed): ignored when read
TRUE, FALSE = ("true", "yes", "1"), ("false", "no", "0", "")


class JobError(TalkfaceError):
    """One bad row: `<manifest> line <n>: <problem>`."""


@dataclass
class Job:
    line: int                 # the row's line in the manifest (1-based; a CSV's header is line 1)
    command: str
    row: dict                 # the row as read (option name -> value), for failed.csv
    base: Path                # the folder its relative inputs are in
    argv: list[str] = field(default_factory=list)  # the solo command's arguments, paths resolved
    inputs: list[Path] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    error: str | None = None  # why the row cannot run (None: valid)

    @property
    def out(self) -> str | None:
        return str(self.outputs[0]) if self.outputs else self.row.get("out")


def read_rows(path: str | os.PathLike) -> list[tuple[int, dict]]:
    """(line number, {option: value}) for each non-empty row of a CSV or JSON-lines manifest; a row that cannot
    be read at all comes back as {"": error}."""
    path = require_file(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise TalkfaceError(f"{path}: cannot read ({getattr(err, 'strerror', None) or err})") from None
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json") or text.lstrip().startswith("{"):
        return _json_rows(text)
    return _csv_rows(text)


def _json_rows(text: str) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            rows.append((number, {"": f"not a JSON object ({err.msg})"}))
            continue
        if not isinstance(row, dict):
            rows.append((number, {"": f"not a JSON object (a {type(row).__name__})"}))
            continue
        rows.append((number, row))
    return rows


def _csv_rows(text: str) -> list[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(text))
    header, rows, start = None, [], 1
    for cells in reader:
        line, start = start, reader.line_num + 1  # a quoted cell may span lines: the row starts where it began
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = [cell.strip() for cell in cells]
            continue
        if len(cells) > len(header):
            rows.append((line, {"": f"{len(cells)} cells for {len(header)} columns"}))
            continue
        rows.append((line, {name: cell for name, cell in zip(header, cells) if name}))
    return rows


def option_name(column: str) -> str:
    """`--save-landmarks`, `save-landmarks`, `save_landmarks` -> save_landmarks (argparse's dest)."""
    return column.strip().lstrip("-").replace("-", "_")


class _Parsers:
    """The CLI's parser, built once, and its errors as exceptions instead of an exit."""

    def __init__(self):
        from talkface import cli

        self.parser = cli._parser()
        self.flags = {name: self._flags(sub) for name, sub in self._subparsers().items() if name in JOB_COMMANDS}

    def _subparsers(self) -> dict[str, argparse.ArgumentParser]:
        action = next(a for a in self.parser._actions if isinstance(a, argparse._SubParsersAction))
        return dict(action.choices)

    @staticmethod
    def _flags(sub: argparse.ArgumentParser) -> set[str]:
        """Options that take no value (store_true, store_const): dest names, and their option strings."""
        return {s.lstrip("-").replace("-", "_") for a in sub._actions if a.nargs == 0 for s in a.option_strings}

    def parse(self, argv: list[str]) -> argparse.Namespace:
        said = io.StringIO()
        try:
            with contextlib.redirect_stderr(said), contextlib.redirect_stdout(said):
                return self.parser.parse_args(argv)
        except SystemExit as end:
            if not end.code:
                raise TalkfaceError("help: not a job option") from None
            message = said.getvalue().strip().splitlines()
            message = message[-1] if message else "not a valid command line"
            raise TalkfaceError(message.removeprefix("talkface: error: ")) from None


def is_input(name: str, text: str) -> bool:
    """Whether option `name` with value `text` names a file to read (relative to the manifest's folder)."""
    return (name in INPUTS or (name in STAGE_NAMES and text not in STAGE_NAMES[name])
            or (name == "expression" and Path(text).suffix.lower() in KEYFRAME_SUFFIXES))  # a keyframe file


def _argv(command: str, row: dict, flags: set[str], base: Path, out_dir: Path) -> list[str]:
    """The solo command's arguments for a row (paths resolved); raises TalkfaceError for a value of a wrong type."""
    argv = [command, "--quiet"]  # a batch shows one bar over jobs, not each job's
    for column, value in row.items():
        name = option_name(column)
        if name in ("command", *RESERVED, "quiet") or value is None:
            continue
        if isinstance(value, (dict, list)):
            raise TalkfaceError(f"{column}: expected one value, got a {type(value).__name__}")
        option = "--" + name.replace("_", "-")
        if name in flags:
            text = str(value).strip().lower()
            if text not in TRUE + FALSE:
                raise TalkfaceError(f"{column}: a flag takes true or false, got {value!r}")
            if text in TRUE:
                argv.append(option)
            continue
        text = str(value).strip() if not isinstance(value, bool) else str(value).lower()
        if text == "":
            continue
        if is_input(name, text):
            text = str(base / text)  # an absolute path stays as it is
        elif name in OUTPUTS:
            text = str(out_dir / text)
        argv += [option, text]
    return argv


def check_job(job: Job, args: argparse.Namespace, out_dir: Path) -> None:
    """What the command checks before loading a model, done now for every row: inputs there, stage names and
    checkpoints known, outputs writable, of the right type and not inputs."""
    inputs = [getattr(args, name) for name in INPUTS if getattr(args, name, None) is not None]
    keyframes = getattr(args, "expression", None)
    if keyframes is not None and is_input("expression", keyframes):
        inputs.append(keyframes)
    for path in inputs:
        require_file(path)
    for stage in ("audio2lmk", "lmk2video"):
        if getattr(args, stage, None) is not None:
            check_stage_spec(getattr(args, stage), stage)
    blend = getattr(args, "fetch_blend", None)
    if blend is not None and blend not in STAGE_NAMES["fetch_blend"]:
        require_file(blend)
    check_device(getattr(args, "device", "cpu"))
    kinds = {**OUTPUTS, **OUTPUTS_OF.get(job.command, {})}
    outputs = [(getattr(args, name), suffixes) for name, suffixes in kinds.items() if getattr(args, name, None)]
    for path, suffixes in outputs:
        if out_dir in Path(path).parents:
            Path(path).parent.mkdir(parents=True, exist_ok=True)  # a row's own subfolder of --out-dir
        check_output(path, inputs, suffixes)
    check_distinct(*(path for path, _ in outputs))
    job.inputs = [Path(path).resolve() for path in inputs]
    job.outputs = [Path(path).resolve() for path, _ in outputs]


def read_jobs(rows: list[tuple[int, dict]], base: str | os.PathLike, out_dir: str | os.PathLike,
              name: str = "jobs") -> list[Job]:
    """Every row as a Job, each checked; `job.error` is the one-line reason a row cannot run (None if it can).
    base: the folder relative inputs are in; out_dir: the folder relative outputs go to; name: the manifest's
    name in the messages."""
    parsers = _Parsers()
    base, out_dir = Path(os.path.abspath(base)), Path(os.path.abspath(out_dir))  # workers may start elsewhere
    jobs: list[Job] = []
    for line, row in rows:
        command = str(row.get("command", "") or "").strip()
        job = Job(line, command, row, base)
        jobs.append(job)
        try:
            if "" in row:
                raise TalkfaceError(row[""])
            if command not in JOB_COMMANDS:
                raise TalkfaceError(f"command {command!r} is not one a batch runs ({', '.join(JOB_COMMANDS)})"
                                    if command else f"no command ({', '.join(JOB_COMMANDS)})")
            job.argv = _argv(command, row, parsers.flags[command], base, out_dir)
            check_job(job, parsers.parse(job.argv), out_dir)
        except TalkfaceError as err:
            job.error = f"{name} line {line}: {err}"
    _check_shared_files(jobs, name)
    return jobs


def _check_shared_files(jobs: list[Job], name: str) -> None:
    """No two rows write one file, and no row writes another's input (the order would decide the result)."""
    writer: dict[Path, int] = {}
    for job in jobs:
        if job.error:
            continue
        clash = next((path for path in job.outputs if path in writer), None)
        if clash is not None:
            job.error = f"{name} line {job.line}: {clash} is also written by line {writer[clash]}"
            continue
        writer.update((path, job.line) for path in job.outputs)
    for job in jobs:
        read = next((path for path in job.inputs if path in writer), None)
        if not job.error and read is not None:
            job.error = f"{name} line {job.line}: reads {read}, which line {writer[read]} writes"
