"""Writing outputs safely: checked before any work, written to a temp file beside the target and renamed
into place, removed on any failure or signal, never replacing an input or a device.

    check_output(path, inputs=[...], suffixes=OUTPUT_VIDEO_SUFFIXES)   # before loading anything
    with atomic_output(path) as tmp:                             # tmp: hidden temp file beside path
        write(tmp)                                               # renamed to path only if this block ends normally
    install_signal_handlers()                                    # SIGTERM/SIGHUP unwind like Ctrl-C (temp files removed)

Every error is a one-line `OutputError` naming the output and the problem.
"""

from __future__ import annotations

import atexit
import os
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from talkface.errors import OutputError

# Video containers the H.264 + AAC output is written in, by suffix (ffmpeg muxer names).
VIDEO_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
OUTPUT_VIDEO_SUFFIXES = tuple(VIDEO_CONTAINERS)
TRACK_SUFFIXES = (".npz",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # what `talkface edit` writes

_live_temps: set[Path] = set()  # temp files not yet renamed into place; removed at exit whatever happens
_lock = threading.Lock()


class Interrupted(KeyboardInterrupt):
    """A termination signal turned into an exception, so `finally` blocks clean up as for Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _describe(err: OSError) -> str:
    return err.strerror or err.__class__.__name__


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (),
                 suffixes: Iterable[str] | None = None) -> Path:
    """`path` as a Path, or a one-line OutputError when it cannot be a new regular file: unsupported or
    missing suffix, missing/unwritable folder, a folder, a device or other special file, or one of `inputs`
    (also through symlinks and hard links)."""
    if str(path).strip() == "":
        raise OutputError("output: empty file name")
    try:
        return _check_output(Path(path), inputs, suffixes)
    except (OSError, RuntimeError) as err:  # a name too long for the filesystem, a loop of symlinks, ...
        raise OutputError(f"{path}: unusable output name ({getattr(err, 'strerror', None) or err})") from None


def _check_output(path: Path, inputs, suffixes) -> Path:
    if suffixes is not None:
        suffixes = tuple(suffixes)
        if path.suffix.lower() not in suffixes:
            got = f"'{path.suffix}'" if path.suffix else "no extension"
            raise OutputError(f"{path}: unsupported output type ({got}); use {' or '.join(suffixes)}")
    parent = path.parent
    if not parent.exists():
        raise OutputError(f"{path}: output folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"{path}: {parent} is not a folder")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, expected a file name")
    if path.exists():
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise OutputError(f"{path}: is a device or special file, not a regular file; refusing to replace it")
    for source in inputs:
        if source is None:
            continue
        same = path.resolve() == Path(source).resolve()
        try:
            same = same or (path.exists() and Path(source).exists() and os.path.samefile(path, source))
        except OSError:
            pass
        if same:
            raise OutputError(f"{path}: is the input {source}; refusing to overwrite an input")
    try:  # the folder may exist yet refuse files (read-only mount, /proc, permissions)
        fd, probe = tempfile.mkstemp(prefix=".talkface-probe.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"{path}: cannot write in {parent} ({_describe(err)})") from None
    return path


def check_distinct(*paths: str | os.PathLike | None) -> None:
    """One-line error when two outputs of one command name the same file."""
    seen: dict[Path, str] = {}
    for p in paths:
        if p is None:
            continue
        key = Path(p).resolve()
        if key in seen:
            raise OutputError(f"{p}: named for two outputs ({seen[key]} and {p}); give each its own file")
        seen[key] = str(p)


def file_mode() -> int:
    """Permissions of a newly created file under this process's umask (mkstemp's files are 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temp_beside(path: str | os.PathLike, suffix: str | None = None) -> Path:
    """A new hidden temp file beside `path` (same filesystem, so the rename is atomic), tracked until removed."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix if suffix is None else suffix,
                                   dir=path.parent)
    except OSError as err:
        raise OutputError(f"{path}: cannot write in {path.parent} ({_describe(err)})") from None
    os.close(fd)
    tmp = Path(tmp)
    with _lock:
        _live_temps.add(tmp)
    return tmp


def discard(tmp: Path | None) -> None:
    """Remove a temp file made by temp_beside (if still there) and stop tracking it."""
    if tmp is None:
        return
    with _lock:
        _live_temps.discard(tmp)
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass


@contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside `path`; when the block ends normally it becomes `path` (normal permissions),
    otherwise (error, Ctrl-C, SIGTERM) it is removed. OSErrors while finishing become one-line OutputErrors."""
    path = Path(path)
    tmp = temp_beside(path, suffix)
    try:
        yield tmp
        try:
            os.chmod(tmp, file_mode())
            os.replace(tmp, path)
        except OSError as err:
            raise OutputError(f"{path}: cannot write ({_describe(err)})") from None
    except BaseException:
        discard(tmp)
        raise
    with _lock:
        _live_temps.discard(tmp)


def write_error(path: str | os.PathLike, err: BaseException) -> OutputError:
    """A one-line error for a failed write (disk full, I/O error, ...)."""
    if isinstance(err, OSError):
        reason = _describe(err)
    else:
        lines = str(err).strip().splitlines()
        reason = lines[-1] if lines else err.__class__.__name__
    return OutputError(f"{path}: cannot write ({reason})")


def _remove_live_temps() -> None:
    with _lock:
        leftovers = list(_live_temps)
        _live_temps.clear()
    for tmp in leftovers:
        try:
            tmp.unlink()
        except OSError:
            pass


atexit.register(_remove_live_temps)


def _raise_interrupted(signum, frame) -> None:
    # Further termination signals while unwinding must not cut the cleanup short.
    for sig in _TERMINATING:
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


_TERMINATING = tuple(s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP (timeout, docker stop, a closed terminal, a cancelled CI job) raise `Interrupted`,
    a KeyboardInterrupt, so everything in flight unwinds and its temp files go exactly as on Ctrl-C.
    Main thread only (Python delivers signals there)."""
    if threading.current_thread() is threading.main_thread():
        for sig in _TERMINATING:
            signal.signal(sig, _raise_interrupted)
