"""Frame-level self-dub scoring (talkface/evaluation/dub_video.py, `talkface eval dub --other`): on a talking video the
test renders itself the scores are known (the video against itself; the video with its first frame held), and
one integration run on a few seconds of a dev clip (skipped without ../shared/data/dev)."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from talkface.dub import Track
from talkface.evaluation.dub_video import clip_video, score_frames
from talkface.landmarks.track import track_stream
from talkface.media import read_audio, read_image
from talkface.metrics import PSNR_CAP_DB, FaceDescriber
from talkface.pipeline import Synthesizer
from talkface.video_stream import iter_frames, probe_video

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dev"


@pytest.fixture(scope="module")
def talking(tmp_path_factory, one_torch_thread):
    """3 s of the example face (head and shoulders) speaking the example speech (phonetic + warp), as an mp4, and its track."""
    path = tmp_path_factory.mktemp("talking") / "talking.mp4"
    photo = read_image(EXAMPLES / "face.png")[20:260, 110:350]  # the head and shoulders (no patch that reads as a face)
    photo = cv2.resize(photo, (384, 384), interpolation=cv2.INTER_CUBIC)
    wave = read_audio(EXAMPLES / "speech.wav")[:3 * 16000]
    Synthesizer(audio2lmk="phonetic", lmk2video="warp").synthesize(photo, wave, 16000, path)
    info = probe_video(path)
    landmarks, found = track_stream(iter_frames(info))
    return info, Track(info, landmarks, found, bank=None, occluded=np.zeros(len(found), bool))


def test_the_video_against_itself_scores_the_ceiling(talking):
    info, track = talking
    n = track.n_frames
    record, tiles, _ = score_frames(iter_frames(info), info, track, n, FaceDescriber(), sheet=[0, n // 2])
    assert record["frames"] == n and record["lost"] == 0.0 and record["output_lost"] == 0.0
    for key in ("frame_psnr", "face_psnr", "mouth_psnr"):
        assert record[key] == PSNR_CAP_DB
    for key in ("frame_ssim", "face_ssim", "mouth_ssim"):
        assert record[key] == pytest.approx(1.0)
    # the same tracker on the same frames: the same landmarks
    assert record["mouth_corr"] == pytest.approx(1.0) and record["amp_ratio"] == pytest.approx(1.0)
    assert record["mouth_lmd"] == 0.0 and record["id_distance"] == 0.0
    assert sorted(tiles) == [0, n // 2] and all(np.array_equal(a, b) for a, b in tiles.values())


def test_a_held_mouth_scores_no_motion_and_lower_pixels(talking):
    info, track = talking
    n = track.n_frames
    first = next(iter_frames(info))
    assert np.ptp(np.linalg.norm(track.landmarks[:, 62] - track.landmarks[:, 66], axis=-1)) > 4  # the mouth moves
    record, _, _ = score_frames(iter(np.repeat(first[None], n, 0)), info, track, n)
    assert abs(record["mouth_corr"]) < 0.3 and record["amp_ratio"] < 0.2
    assert record["mouth_psnr"] < record["face_psnr"] < record["frame_psnr"] < PSNR_CAP_DB and record["mouth_psnr"] < 45
    assert record["mouth_lmd"] > 0.01
    assert np.isnan(record["id_distance"])  # no describer given


def test_long_videos_are_clipped_with_their_audio(talking, tmp_path):
    info, _ = talking
    clip = clip_video(info.path, 1.0, tmp_path)
    assert clip.parent == tmp_path and clip_video(info.path, 3.0, tmp_path) == info.path  # not longer: itself
    frames = list(iter_frames(probe_video(clip)))
    # streams copied, not re-encoded: the same pixels; the video may run on to the end of its group of pictures,
    # the audio (which sets how many frames are dubbed) stops within an audio packet of 1 s
    assert 25 <= len(frames) <= 40 and np.array_equal(frames[10], list(iter_frames(info, stop=11))[10])
    assert abs(len(read_audio(clip)) - 16000) < 400


def test_fewer_dubbed_frames_score_only_those(talking):
    info, track = talking
    first = next(iter_frames(info))
    record, _, _ = score_frames(iter([first] * 10), info, track, track.n_frames)
    assert record["frames"] == 10 and record["seconds"] == pytest.approx(10 / info.fps)


@pytest.mark.slow
@pytest.mark.integration
def test_eval_dub_scores_a_dev_video_frame_by_frame(tmp_path):
    clip = DEV / "grid_other" / "swwp2s.mpg"
    if not clip.is_file():
        pytest.skip(f"dev set not found at {DEV}")
    from talkface.evaluation.dub import run_eval_dub

    report = run_eval_dub("unused", str(tmp_path), other=[str(clip)], grid_clips=False, command="test")
    assert {p.name for p in tmp_path.iterdir()} == {"report.json", "report.md", "report.csv", "contact_sheet.png"}
    rows = {r["method"]: r for r in json.loads((tmp_path / "report.json").read_text())["per_clip"]["other"]}
    self_dub, floor = rows["self-dub (own audio)"], rows["floor: dubbed with silence (mouth held at rest)"]
    for r in (self_dub, floor):
        assert r["clip"] == "swwp2s" and r["frames"] == 74 and r["lost"] == 0.0
        assert r["frame_psnr"] > r["face_psnr"] > r["mouth_psnr"] > 20 and r["id_distance"] < 0.4
        assert r["dub_s_per_video_s"] > 0
    # the speech moves the mouth with the real one; silence holds it
    assert self_dub["mouth_corr"] > 0.3 > floor["mouth_corr"] and self_dub["amp_ratio"] > 2 * floor["amp_ratio"]
    assert report["videos"]["grid_other"]["self-dub (own audio)"]["clips"] == 1
    assert "## Self-dub of talking videos: grid_other" in (tmp_path / "report.md").read_text()


def test_other_globs_matching_nothing_are_one_line(tmp_path):
    from talkface.evaluation.dub import other_videos
    from talkface.errors import TalkfaceError

    (tmp_path / "b.mp4").write_bytes(b"x")
    (tmp_path / "a.mp4").write_bytes(b"x")
    assert other_videos([str(tmp_path / "*.mp4"), str(tmp_path / "a.mp4")]) == [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    assert other_videos([]) == []
    with pytest.raises(TalkfaceError, match=r"--other .*\*\.mpg: no file matches"):
        other_videos([str(tmp_path / "*.mpg")])
