"""`talkface batch`: many jobs, models loaded once per worker, resumable, a failing job never stops the others.

    from talkface import batch
    report = batch.run("jobs.csv", "out/", workers=2)     # or a list of rows: [{"command": "synth", ...}, ...]
    report.counts, report.ok                               # {"done": 18, "failed": 1, ...}, every job succeeded

Each job is the solo command's own code path: a worker runs `talkface.cli.main(argv)` with the row's arguments,
and the CLI takes its Synthesizer or Dubber from `cli.MODELS`, where the worker keeps one per stage choice. So a
job's output is bit-identical to `talkface synth ...` run alone with the same options, and its error is the line
the command would print. The thread count is the one exception to "the same process": N workers share the cores
(render_threads: every ONNX Runtime session's, and torch's under --backend torch), which changes no output (under
the torch backend audio2lmk's convolutions, whose sums depend on it, keep a lone process's: talkface.stages).

Workers are spawned processes (`--ray`: Ray actors, talkface.batch.ray_pool): a script calling `run` needs the usual
`if __name__ == "__main__":` guard. Default: one worker per core, each computing on one thread.

Resumable: a job whose outputs are all there is skipped (outputs are renamed into place only once complete, so an
existing one is whole; temp files a killed run left beside them are removed). A worker that dies fails its job
only and is replaced.
At the end DIR/batch_report.json (per job: status, seconds, the one-line error) and DIR/failed.csv (failed and
invalid rows with their line and error, inputs as absolute paths: `talkface batch DIR/failed.csv --out-dir DIR`
re-runs them).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import multiprocessing
import os
import re
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Callable, Iterable

from talkface.errors import TalkfaceError
from talkface.batch.manifest import RESERVED, Job, is_input, option_name, read_jobs, read_rows
from talkface.progress import bar
from talkface.safe_output import atomic_output

REPORT, FAILED = "batch_report.json", "failed.csv"
WORKER_MEMORY = 1.5e9  # bytes a worker may take (models, a job's frames, the encoder): the default's memory cap
STOPPED = (128 + signal.SIGINT, 128 + signal.SIGTERM, 128 + signal.SIGHUP)  # cli.main's codes for a signal


class JobsInvalid(TalkfaceError):
    """Some rows cannot run and --skip-invalid was not given: nothing ran. `problems`: one line per bad row."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """One worker per core (each then computes on one thread), fewer where memory would not hold them."""
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return cores()
    return max(1, min(cores(), int(free // WORKER_MEMORY)))


# -- in a worker --------------------------------------------------------------------------------
class JobRunner:
    """Runs jobs (the solo command's argv) in this process, keeping the models they load."""

    def __init__(self, workers_here: int = 1):
        from talkface import cli, onnx_runtime, stages

        self.render_threads = max(1, cores() // workers_here)  # this worker's share of the cores
        onnx_runtime.THREADS = stages.WORKER_THREADS = self.render_threads
        cli.MODELS = {}
        self._main = cli.main

    def __call__(self, argv: list[str]) -> dict:
        said, errors = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(errors):
            code = self._main(argv)
        if code in STOPPED:  # the job was interrupted: so is this worker
            raise KeyboardInterrupt
        lines = errors.getvalue().splitlines()
        error = next((line.removeprefix("talkface: error: ") for line in lines if line.startswith("talkface: error:")),
                     None)
        return {"status": "done" if code == 0 else "failed", "seconds": round(time.perf_counter() - start, 3),
                "message": said.getvalue().strip() or None,
                "error": error if code == 0 or error else f"exit code {code}",
                "notes": [line.removeprefix("talkface: note: ") for line in lines if line.startswith("talkface: note:")]}


def _worker(conn, workers_here: int) -> None:
    """A worker process: jobs in through the pipe, outcomes out, until told to stop or the parent goes."""
    from talkface.safe_output import install_signal_handlers

    install_signal_handlers()  # SIGTERM from the parent unwinds a job like Ctrl-C: its temp files go
    try:
        runner = JobRunner(workers_here)
        while True:
            task = conn.recv()
            if task is None:
                return
            index, argv = task
            conn.send((index, runner(argv)))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        return


@dataclass
class _Worker:
    process: multiprocessing.Process
    conn: object
    job: int | None = None  # index of the job it is running


class LocalPool:
    """N spawned worker processes; `run(tasks, done)` hands each a job when it is free."""

    def __init__(self, workers: int):
        self.n = workers
        self._context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or locks forked
        self._workers: list[_Worker] = []

    def _start(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_worker, args=(child, self.n), daemon=True, name="talkface-batch")
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._workers.append(worker)
        return worker

    def run(self, tasks: list[tuple[int, list[str]]], done: Callable[[int, dict], None]) -> None:
        queue = deque(tasks)
        for _ in range(min(self.n, len(queue))):
            self._start()
        try:
            while queue or any(w.job is not None for w in self._workers):
                for worker in self._workers:
                    if worker.job is None and queue:
                        worker.job, argv = queue[0]
                        try:
                            worker.conn.send(queue.popleft())
                        except OSError:  # it died idle: _collect replaces it and its job goes back
                            queue.appendleft((worker.job, argv))
                            worker.job = None
                ready = wait([w.conn for w in self._workers] + [w.process.sentinel for w in self._workers])
                for worker in list(self._workers):
                    if worker.conn in ready or worker.process.sentinel in ready:
                        self._collect(worker, done, queue)
        finally:
            self.close()

    def _collect(self, worker: _Worker, done, queue) -> None:
        """A finished job's outcome, or a worker that ended: its job fails alone and a new worker takes over."""
        try:
            index, outcome = worker.conn.recv()
        except (EOFError, OSError):
            pass
        else:
            worker.job = None
            done(index, outcome)
            return
        worker.process.join(5)
        if worker.process.is_alive():  # the pipe broke but the process lingers: end it
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
        self._workers.remove(worker)
        if worker.job is not None:
            done(worker.job, died(worker.process.exitcode))
        if queue:
            self._start()

    def close(self) -> None:
        """Stop every worker: asked nicely when idle, SIGTERM when busy (its job's temp files are removed)."""
        for worker in self._workers:
            if worker.process.is_alive():
                if worker.job is None:
                    with contextlib.suppress(OSError):
                        worker.conn.send(None)
                else:
                    worker.process.terminate()
        deadline = time.monotonic() + 15
        for worker in self._workers:
            worker.process.join(max(0.1, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers.clear()


def died(exitcode: int | None) -> dict:
    """The outcome of a job whose worker process ended under it."""
    how = (f"killed by {signal.Signals(-exitcode).name}" if exitcode and exitcode < 0 and -exitcode in
           signal.valid_signals() else f"exit code {exitcode}")
    hint = " (out of memory?)" if exitcode == -signal.SIGKILL else ""
    return {"status": "failed", "seconds": None, "message": None, "error": f"worker process died ({how}){hint}",
            "notes": []}


# -- the batch ----------------------------------------------------------------------------------
@dataclass
class Report:
    out_dir: Path
    jobs: list[Job]
    outcomes: list[dict]      # per job, in manifest order
    workers: int
    seconds: float = 0.0
    where: str = "local"
    interrupted: bool = False
    paths: dict = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        counts = {status: 0 for status in ("done", "skipped", "failed", "invalid", "interrupted", "not run")}
        for outcome in self.outcomes:
            counts[outcome["status"]] += 1
        return counts

    @property
    def ok(self) -> bool:
        """Every job made its output (now or in an earlier run)."""
        return all(o["status"] in ("done", "skipped") for o in self.outcomes)

    @property
    def summary(self) -> str:
        counts = self.counts
        parts = [f"{counts['done']} done"]
        parts += [f"{counts['skipped']} skipped (output already there)"] if counts["skipped"] else []
        parts += [f"{n} {status}" for status, n in counts.items() if n and status not in ("done", "skipped")]
        run = counts["done"] + counts["failed"]
        rate = f", {self.seconds / run:.2f} s/job" if run else ""
        return (f"{len(self.jobs)} jobs: {', '.join(parts)} in {self.seconds:.1f} s{rate} "
                f"({self.workers} {'Ray actor' if self.where != 'local' else 'worker'}{'s' * (self.workers != 1)})"
                f" -> {self.paths.get('report', self.out_dir)}")

    def as_dict(self) -> dict:
        return {"out_dir": str(self.out_dir), "workers": self.workers, "where": self.where,
                "seconds": round(self.seconds, 3), "interrupted": self.interrupted, "counts": self.counts,
                "jobs": [{"line": job.line, "command": job.command or None, "out": job.out, **outcome}
                         for job, outcome in zip(self.jobs, self.outcomes)]}


def is_complete(job: Job) -> bool:
    """Whether a job's outputs are all there (renamed into place only once written whole); removes the temp files
    an interrupted run may have left beside them."""
    for path in job.outputs:
        remove_stale_temps(path)
    return bool(job.outputs) and all(path.is_file() and path.stat().st_size > 0 for path in job.outputs)


def remove_stale_temps(path: Path) -> None:
    """Temp files of `path` that a killed run left (safe_output.temp_beside: `.<stem>.<8 random chars><suffix>`)."""
    pattern = re.compile(rf"\.{re.escape(path.stem)}\.[a-z0-9_]{{8}}(\.[A-Za-z0-9]+)?")
    with contextlib.suppress(OSError):
        for stale in path.parent.glob(f".{glob_escape(path.stem)}.*"):
            if pattern.fullmatch(stale.name):
                stale.unlink(missing_ok=True)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _outcome(status: str, error: str | None = None) -> dict:
    return {"status": status, "seconds": None, "message": None, "error": error, "notes": []}


def run(jobs: str | os.PathLike | Iterable[dict], out_dir: str | os.PathLike, workers: int | None = None,
        skip_invalid: bool = False, progress: bool = False, ray: str | None = None,
        base: str | os.PathLike | None = None) -> Report:
    """Run a manifest (a CSV or JSON-lines file) or rows ({"command": "synth", "image": ..., "out": ...}) into
    out_dir. workers: processes (default: default_workers(); with `ray`, the cluster's CPUs); ray: a Ray cluster's
    address ("auto": the one this machine belongs to; Ray already initialised in this process is used as it is);
    base: the folder relative inputs of `rows` are in (default: the manifest's folder, or the current one).
    Raises JobsInvalid (nothing run) when a row is bad and not skip_invalid; otherwise returns the Report,
    also written to out_dir/batch_report.json and out_dir/failed.csv."""
    start = time.perf_counter()
    if isinstance(jobs, (str, os.PathLike)):
        name, rows = Path(jobs).name, read_rows(jobs)
        base = Path(jobs).parent if base is None else base
    else:
        name, rows = "jobs", [(number, dict(row)) for number, row in enumerate(jobs, 1)]
        base = Path.cwd() if base is None else base
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TalkfaceError(f"--out-dir {out_dir}: cannot make the folder ({err.strerror})") from None
    job_list = read_jobs(rows, base, out_dir, name)
    problems = [job.error for job in job_list if job.error]
    outcomes = [_outcome("invalid", job.error) if job.error else _outcome("not run") for job in job_list]
    report = Report(out_dir, job_list, outcomes, 0, where="local" if ray is None else f"ray {ray}")
    if problems and not skip_invalid:
        write_report(report)
        raise JobsInvalid(f"{name}: {len(problems)} of {len(job_list)} rows invalid; nothing run (fix them, or "
                          f"--skip-invalid to run the {len(job_list) - len(problems)} others)", problems)
    tasks = []
    for index, job in enumerate(job_list):
        if not job.error:
            if is_complete(job):
                outcomes[index] = _outcome("skipped")
            else:
                tasks.append((index, job.argv))
    if ray is not None:
        from talkface.batch.ray_pool import RayPool

        pool = RayPool(ray, workers)
    else:
        pool = LocalPool(min(workers or default_workers(), max(1, len(tasks))))
    report.workers = pool.n
    jobs_bar = bar(len(tasks), "jobs", progress and sys.stderr.isatty(), unit="job")

    def done(index: int, outcome: dict) -> None:
        outcomes[index] = outcome
        jobs_bar.update(1)
        counts = report.counts
        jobs_bar.set_postfix(done=counts["done"], failed=counts["failed"], skipped=counts["skipped"], refresh=False)
        if outcome["status"] == "failed" and progress:
            jobs_bar.write(f"talkface: {name} line {job_list[index].line} failed: {outcome['error']}", file=sys.stderr)

    try:
        if tasks:
            pool.run(tasks, done)
    except KeyboardInterrupt:
        report.interrupted = True
        for index, _ in tasks:
            if outcomes[index]["status"] == "not run":
                outcomes[index] = _outcome("interrupted", "the batch was stopped before this job finished")
        raise
    finally:
        jobs_bar.close()
        report.seconds = time.perf_counter() - start
        write_report(report)
    return report


def write_report(report: Report) -> None:
    """out_dir/batch_report.json and out_dir/failed.csv (the failed, invalid and interrupted rows), atomically."""
    out_dir = report.out_dir
    report.paths = {"report": str(out_dir / REPORT), "failed": str(out_dir / FAILED)}
    with atomic_output(out_dir / REPORT) as tmp:
        tmp.write_text(json.dumps(report.as_dict(), indent=2))
    rows = [failed_row(job, outcome) for job, outcome in zip(report.jobs, report.outcomes)
            if outcome["status"] in ("failed", "invalid", "interrupted")]
    columns = list(dict.fromkeys(["command", *(c for row in rows for c in row), *RESERVED]))
    with atomic_output(out_dir / FAILED) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, columns)
            writer.writeheader()
            writer.writerows(rows)


def failed_row(job: Job, outcome: dict) -> dict:
    """The row as given, inputs made absolute (failed.csv lives in out_dir, not beside the manifest), with its
    line and error."""
    row = {}
    for column, value in job.row.items():
        if not column or option_name(column) in RESERVED:
            continue
        text = "" if value is None else str(value).strip() if not isinstance(value, bool) else str(value).lower()
        row[column] = str(job.base / text) if text and is_input(option_name(column), text) else text
    return {**row, "line": job.line, "error": outcome["error"]}
