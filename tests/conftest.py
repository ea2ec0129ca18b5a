"""Shared fixtures and markers. Integration tests read the GRID corpus and skip when it is absent.

Markers (registered in pyproject.toml; `make test` runs them all, each skipping what the machine lacks):
- `integration`: needs ../shared data. Any test using a corpus fixture below is marked automatically.
- `slow`: about 5 s or more on the 2-core machine (whole renders, dubbing, the people set).
- `browser`: drives the Gradio app in headless Chromium.
Deselect with e.g. `pytest -m "not slow and not integration and not browser"` for a quick run.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CORPUS_FIXTURES = {"grid_root", "grid_mpg_samples"}  # fixtures that read ../shared data: their users are integration


def pytest_collection_modifyitems(items):
    for item in items:
        if CORPUS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def grid_root() -> Path:
    """GRID root (s1/, alignments/, splits/): $TALKFACE_GRID_ROOT or ../shared/data/grid."""
    root = Path(os.environ.get("TALKFACE_GRID_ROOT", SHARED_DATA / "grid"))
    if not (root / "s1").is_dir():
        pytest.skip(f"GRID corpus not found at {root} (set TALKFACE_GRID_ROOT)")
    return root


@pytest.fixture(scope="session")
def grid_mpg_samples() -> Path:
    """Three GRID clips in the corpus' native MPEG-1 format: ../shared/data/grid_mpg_samples."""
    root = SHARED_DATA / "grid_mpg_samples"
    if not (root / "bbaf3s.mpg").is_file():
        pytest.skip(f"GRID MPEG-1 samples not found at {root}")
    return root


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny nets: one torch thread avoids oversubscribing the shared cores (much faster)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def speech(tmp_path):
    """A 1 s, 220 Hz tone at 16 kHz written as speech.wav: audio any command accepts."""
    import numpy as np
    import soundfile as sf

    path = tmp_path / "speech.wav"
    t = np.arange(16000) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    return path
