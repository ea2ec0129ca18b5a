import numpy as np
import pytest

from talkface.errors import TalkfaceError
from talkface.landmarks.io import load_track, save_track


def test_save_then_load_roundtrip(tmp_path):
    lmk = np.random.default_rng(0).uniform(0, 300, (7, 68, 2))
    save_track(tmp_path / "t.npz", lmk, 25.0, (288, 360))
    track = load_track(tmp_path / "t.npz")
    np.testing.assert_allclose(track.landmarks, lmk.astype(np.float32))
    assert track.landmarks.dtype == np.float32
    assert track.fps == 25.0 and track.image_size == (288, 360)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz"]  # no temp file left
    with np.load(tmp_path / "t.npz") as data:
        assert set(data.files) == {"landmarks", "fps", "image_size"}


def test_bad_inputs_give_one_line_errors(tmp_path):
    with pytest.raises(TalkfaceError, match="must be"):
        save_track(tmp_path / "bad.npz", np.zeros((5, 2)), 25, (10, 10))
    assert not list(tmp_path.iterdir())
    with pytest.raises(TalkfaceError, match="not found"):
        load_track(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(TalkfaceError, match="junk.npz"):
        load_track(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(TalkfaceError, match="other.npz"):
        load_track(tmp_path / "other.npz")


def test_missing_folder_is_reported(tmp_path):
    with pytest.raises(TalkfaceError, match="does not exist"):
        save_track(tmp_path / "nope" / "t.npz", np.zeros((1, 68, 2)), 25, (10, 10))
