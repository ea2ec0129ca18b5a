"""Work done in a forked child process while this process goes on: a cold start's second core.

A cold `talkface synth` spends a second importing torch and loading models on one core; the face's landmarks
(dlib's predictor takes 0.4 s to load) and the speech's phones (pocketsphinx) need neither, so with a second
core they are computed beside it. Forking is safe only in a process that has started no threads (torch's
thread pools, a web server's workers), so `Background` forks only while torch is not imported, there is one
thread and more than one core; otherwise (and where fork does not exist) the work runs in this process when
its result is asked for. Either way the result is the same.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
from typing import Any, Callable


def can_fork() -> bool:
    """Whether forking now is safe and useful: a second core, no threads, torch not imported yet."""
    return (hasattr(os, "fork") and (os.cpu_count() or 1) > 1 and threading.active_count() == 1
            and "torch" not in sys.modules)


class Background:
    """`Background(fn, *args)` starts fn(*args) in a forked child (when `fork`, default: can_fork());
    `.result()` waits and returns its value or raises its exception. Use it as a context manager: leaving the
    block before the result was read kills and reaps the child."""

    def __init__(self, fn: Callable[..., Any], *args: Any, fork: bool | None = None):
        self._fn, self._args = fn, args
        self._pid: int | None = None
        if can_fork() if fork is None else fork:
            self._start()

    @property
    def forked(self) -> bool:
        return self._pid is not None

    def _start(self) -> None:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: run, send the outcome, leave without unwinding the parent's stack
            status = 0
            try:
                os.close(read_fd)
                try:
                    outcome = (True, self._fn(*self._args))
                except BaseException as err:  # raised again in the parent (Ctrl-C included)
                    outcome = (False, err)
                with os.fdopen(write_fd, "wb") as pipe:
                    pickle.dump(outcome, pipe)
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        os.close(write_fd)
        self._pid, self._pipe = pid, os.fdopen(read_fd, "rb")

    def result(self) -> Any:
        if self._pid is None:
            return self._fn(*self._args)
        try:
            data = self._pipe.read()
        finally:
            self._reap()
        if not data:
            raise RuntimeError(f"background {getattr(self._fn, '__name__', 'work')} ended without a result")
        ok, value = pickle.loads(data)  # written by our own child just now
        self._fn, self._args = (lambda: value), ()  # a second call answers the same
        if not ok:
            raise value
        return value

    def _reap(self, kill: bool = False) -> None:
        if self._pid is None:
            return
        if kill:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.waitpid(self._pid, 0)
        self._pipe.close()
        self._pid = None

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc) -> None:
        self._reap(kill=True)
