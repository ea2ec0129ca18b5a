import json

import numpy as np
import pytest

from talkface.grid import GridClip
from talkface.prepare_grid import PrepareOptions, damage_reason, prepare_clip, prepare_grid
from talkface.prepared import PreparedSet


def _frames(n=75, value=None, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (1, 72, 90, 3)).repeat(n, 0).astype(np.uint8)
    return base if value is None else np.full_like(base, value)


def test_damage_detection_on_synthetic_frames():
    assert damage_reason(_frames()) is None
    assert "truncated" in damage_reason(_frames(20))
    grey = _frames()
    grey[0] = 128
    assert "blank frame 0" in damage_reason(grey)
    jump = _frames()
    jump[40:] = _frames(35, seed=1)
    assert "abrupt corruption at frame 40" in damage_reason(jump)


def test_faceless_video_is_skipped_with_a_reason(tmp_path):
    from talkface.media import write_video
    video = write_video(tmp_path / "zzzz1a.mp4", _frames(60), 25.0, audio=np.zeros(16000 * 2, np.float32))
    clip = GridClip("zzzz1a", "s1", video, None)
    entry = prepare_clip(clip, tmp_path / "out", PrepareOptions())
    assert entry["status"] == "skipped" and "face" in entry["reason"]
    assert json.loads((tmp_path / "out" / "s1" / "zzzz1a.skipped.json").read_text())["status"] == "skipped"
    assert not (tmp_path / "out" / "s1" / "zzzz1a").exists()


@pytest.mark.parametrize("size", [128])
def test_prepare_a_handful_of_grid_clips_and_resume(grid_root, tmp_path, size):
    ids = ["bbaf2n", "pbio7a", "sbbbzp"]
    manifest = prepare_grid(grid_root, tmp_path, speakers=["s1"], size=size, workers=1, ids=ids, progress=False)
    assert manifest["clips"]["bbaf2n"]["status"] == "ok"
    assert manifest["clips"]["sbbbzp"]["n_frames"] == 74
    assert "pbio7a" in manifest["skipped"]  # corrupted in the corpus itself
    prepared = PreparedSet(tmp_path)
    clip = prepared.load("bbaf2n", audio=True)
    assert clip.crops.shape == (75, size, size, 3)
    assert clip.mel.shape == (75, 4, 80) and abs(len(clip.audio) / 16000 - 2.98) < 0.05
    assert clip.transcript == "bin blue at f two now"
    # the mouth is where the mouth is: lower-middle of the crop, below the nose, above the chin
    mouth = clip.crop_landmarks[:, 48:68].mean(1)
    assert np.all((mouth[:, 0] > 0.35 * size) & (mouth[:, 0] < 0.65 * size))
    assert np.all(mouth[:, 1] > clip.crop_landmarks[:, 33, 1]) and np.all(mouth[:, 1] < clip.crop_landmarks[:, 8, 1])
    # mouth pixels are darker/redder than the cheek: the crop really holds a face where landmarks say
    x, y = np.round(mouth[0]).astype(int)
    assert clip.crops[0, y, x].astype(int).sum() < clip.crops[0, int(clip.crop_landmarks[0, 2, 1]), int(clip.crop_landmarks[0, 2, 0]) + 8].astype(int).sum()
    # resume: a second run does nothing new
    again = prepare_grid(grid_root, tmp_path, speakers=["s1"], size=size, workers=1, ids=ids, progress=False)
    assert again["last_run"]["clips_processed"] == 0 and again["clips"] == manifest["clips"]
    # total size stays compact (~50 kB a clip)
    total = sum(p.stat().st_size for p in (tmp_path / "s1" / "bbaf2n").iterdir())
    assert total < 90_000
