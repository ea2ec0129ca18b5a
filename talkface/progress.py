"""Progress for long jobs: a counted bar (tqdm) where work comes in steps, an elapsed-time line where it does not."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator

from tqdm import tqdm


def bar(total: int | None, desc: str, enabled: bool, unit: str = "frame", iterable: Iterable | None = None) -> tqdm:
    """A counted bar; given an iterable it counts the items as they pass through."""
    return tqdm(iterable, total=total, unit=unit, desc=desc, disable=not enabled, file=sys.stderr)


@contextmanager
def phase(desc: str, enabled: bool) -> Iterator[None]:
    """`desc: <elapsed>` ticking on the terminal while the block runs, so a long step with no counter of its
    own (loading models, speech -> landmarks over minutes of audio) still shows it is alive. Only on a
    terminal, and wiped when the block ends: logs and error output stay one line per event."""
    if not enabled or not getattr(sys.stderr, "isatty", lambda: False)():
        yield
        return
    line = tqdm(total=None, desc=desc, bar_format="{desc}: {elapsed}", file=sys.stderr, leave=False)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            line.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
        line.close()
