"""`talkface eval people`: the mouth measures on synthetic series and signals, the report pieces on small
made-up records, and one integration run on a tiny subset of ../shared/data/dev (skipped without it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from talkface.metrics.mouth import (amplitude_ratio, excess_opening, opening, pearson, resample_series,
                                    silence_mask, speech_envelope, voice_activity)
from talkface.landmarks.normalize import MEAN_SHAPE

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dev"


def _faces(gaps: np.ndarray) -> np.ndarray:
    """(T, 68, 2) mean faces (interocular 1) whose inner lips are `gaps` apart."""
    faces = np.repeat(np.asarray(MEAN_SHAPE, np.float64)[None], len(gaps), axis=0)
    for up, lo in ((61, 67), (62, 66), (63, 65)):
        mid = 0.5 * (faces[:, up, 1] + faces[:, lo, 1])
        faces[:, up, 1] = mid - gaps / 2
        faces[:, lo, 1] = mid + gaps / 2
        faces[:, lo, 0] = faces[:, up, 0]
    return faces


def test_opening_is_the_inner_lip_gap_over_interocular():
    from talkface.landmarks.indices import interocular

    gaps = np.array([0.0, 0.1, 0.25])
    unit = interocular(_faces(gaps))
    np.testing.assert_allclose(opening(_faces(gaps)), gaps / unit, atol=1e-6)
    doubled = _faces(gaps) * 2.0  # a bigger face: same opening in interocular units
    np.testing.assert_allclose(opening(doubled), gaps / unit, atol=1e-6)


def test_pearson_and_amplitude_ratio():
    t = np.linspace(0, 6, 150)
    real = 0.1 + 0.05 * np.sin(t)
    assert pearson(real * 0.5 + 3, real) == pytest.approx(1.0)
    assert pearson(-real, real) == pytest.approx(-1.0)
    assert pearson(np.full_like(real, 0.2), real) == 0.0  # a still mouth earns nothing
    assert amplitude_ratio(0.1 + 0.5 * (real - 0.1), real) == pytest.approx(0.5)
    gen = real.copy()
    gen[:10] = np.nan  # frames without a detected face are left out
    assert pearson(gen, real) == pytest.approx(1.0)
    assert amplitude_ratio(gen, real) == pytest.approx(1.0)
    assert np.isnan(amplitude_ratio(real, np.ones_like(real)))


def test_excess_opening_is_zero_when_closed_in_silence():
    series = np.concatenate([np.zeros(20), 0.2 * np.ones(20), np.zeros(20)]) + 0.01
    silent = np.zeros(60, bool)
    silent[:15] = True
    assert excess_opening(series, silent) == pytest.approx(0.0)
    silent[:] = False
    silent[25:35] = True
    assert excess_opening(series, silent) == pytest.approx(0.2)
    assert np.isnan(excess_opening(series, np.zeros(60, bool)))


def test_resample_series_keeps_a_line_and_bridges_gaps():
    src = np.arange(30) / 30.0  # value = time in seconds, at 30 fps
    src[5] = np.nan
    out = resample_series(src, 30.0, 25.0, 25)
    np.testing.assert_allclose(out, np.arange(25) / 25.0, atol=1e-9)
    assert np.isnan(resample_series(np.full(5, np.nan), 30.0, 25.0, 4)).all()


def _bursts(sr: int = 16000) -> tuple[np.ndarray, np.ndarray]:
    """1 s silence-ish noise, 1 s tone, 1 s noise, 1 s tone -> (wave, truth per 25 fps frame)."""
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    quiet = 1e-3 * rng.standard_normal(sr)
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    wave = np.concatenate([quiet, tone + quiet, quiet, tone + quiet]).astype(np.float32)
    truth = np.repeat([False, True, False, True], 25)
    return wave, truth


def test_voice_activity_and_envelope_follow_the_bursts():
    wave, truth = _bursts()
    vad = voice_activity(wave, 16000, 100, 25.0)
    assert (vad == truth).mean() > 0.97
    env = speech_envelope(wave, 16000, 100, 25.0)
    assert env[truth].min() > 30.0 and env[~truth].max() < 10.0
    assert not voice_activity(np.zeros(16000, np.float32), 16000, 25, 25.0).any()


def test_silence_mask_keeps_a_margin_from_speech():
    speech = np.zeros(50, bool)
    speech[20:30] = True
    silent = silence_mask(speech, 25.0, margin_s=0.2)  # 5 frames
    assert silent[:15].all() and not silent[15:35].any() and silent[35:].all()


def test_voice_cases_join_digits_per_speaker(tmp_path):
    from talkface.evaluation.people import load_voice_cases

    sr = 8000
    for speaker in ("ann", "bob"):
        for digit in "01":
            for take in (0, 1):
                sf.write(tmp_path / f"{digit}_{speaker}_{take}.wav", 0.1 * np.ones(int(0.4 * sr), np.float32), sr)
    photo = tmp_path / "face.png"
    import cv2
    cv2.imwrite(str(photo), np.zeros((40, 30, 3), np.uint8))
    cases = load_voice_cases(tmp_path, [photo])
    assert [c.speaker for c in cases] == ["ann", "bob"]
    case = cases[0]
    assert [d for d, _, _ in case.segments] == ["0", "1"]
    # 0.5 s pause, 0.4 s digit, pause, digit, pause = 2.3 s
    assert len(case.audio) == pytest.approx(2.3 * 16000, abs=2)
    (_, a0, b0), (_, a1, b1) = case.segments
    assert (a0, b0) == (12, 23) and a1 == 35
    assert case.speech[a0:b0].all() and not case.speech[:a0].any() and not case.speech[b0 + 1:a1].any()


def test_speech_from_alignment_or_energy(tmp_path):
    from talkface.evaluation.people import speech_of

    video = tmp_path / "clip.mpg"
    wave, truth = _bursts()
    mask, source = speech_of(video, wave, 100)
    assert source == "energy VAD" and (mask == truth).mean() > 0.97
    (tmp_path / "clip.align").write_text("0 10000 sil\n10000 30000 bin\n30000 50000 sil\n")
    mask, source = speech_of(video, wave, 100)
    assert source == "alignment" and mask[10:30].all() and not mask[:10].any() and not mask[30:].any()


def test_summary_and_digit_spread():
    from talkface.evaluation.people import VIDEO_MEASURES, digit_spread, markdown, summarise

    records = [{"clip": "a", "group": "g", "method": "m", "corr": 0.5, "amp_ratio": 1.0},
               {"clip": "b", "group": "g", "method": "m", "corr": 0.7, "amp_ratio": float("nan")}]
    summary = summarise(records, VIDEO_MEASURES, "group")
    assert summary["g"]["m"]["corr"] == pytest.approx(0.6)
    assert summary["g"]["m"]["amp_ratio"] == pytest.approx(1.0)  # NaN left out
    same = [{"digit_peaks": {"1": 0.2, "2": 0.1}}, {"digit_peaks": {"1": 0.2, "2": 0.1}}]
    assert digit_spread(same) == pytest.approx(0.0)
    apart = [{"digit_peaks": {"1": 0.1}}, {"digit_peaks": {"1": 0.3}}]
    assert digit_spread(apart) == pytest.approx(0.5)
    report = {"command": "x", "hardware": "cpu", "seconds": 1.0, "protocol": "p", "skipped": {}, "videos": summary,
              "voices": {}, "methods": ["m"], "video_clips": records}
    text = markdown(report)
    assert "| m | 2 | 0.600 | 1.00 |" in text and "| a | 0.50 / 1.00 |" in text


@pytest.mark.slow
@pytest.mark.integration
def test_eval_people_on_a_tiny_dev_subset(tmp_path):
    if not (DEV / "grid_other" / "swwp2s.mpg").is_file() or not (DEV / "voices").is_dir():
        pytest.skip(f"dev set not found at {DEV}")
    from talkface.evaluation.people import PeopleConfig, run_eval_people

    config = PeopleConfig(videos=[str(DEV / "grid_other")], audio2lmk=["phonetic"], limit=1, real_track=["warp"],
                          voice_photos=[str(DEV / "photos" / "s2.jpg")], out=str(tmp_path / "out"))
    report = run_eval_people(config)
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"report.json", "report.md", "contact_sheet.png",
                                                              "photo_sheet.png"}
    assert json.loads((tmp_path / "out" / "report.json").read_text())["methods"] == [
        "phonetic", "copy first frame", "real track (warp)"]
    grid = report["videos"]["grid_other"]
    # the phonetic default follows a GRID speaker's mouth; the unmoving photo is the floor
    assert grid["phonetic"]["corr"] > 0.2 and grid["copy first frame"]["corr"] == 0.0
    assert 0.1 < grid["phonetic"]["amp_ratio"] < 3.0
    voice = report["voices"]["s2"]["phonetic"]
    assert voice["clips"] == 1 and voice["env_corr"] > 0.3 and voice["gen_std"] > 0.005
    assert 0.0 < voice["head_sway"] < 0.1 and voice["head_drift"] < 0.1  # the phonetic default's gentle sway
    assert np.isnan(report["voices"]["s2"]["copy first frame"]["head_sway"])  # no head track for the floor
    # visual measures: the real track animates the GRID speaker closer to the real frames than the still photo
    real = grid["real track (warp)"]
    assert real["psnr"] > grid["copy first frame"]["psnr"] and real["mouth_psnr"] > grid["copy first frame"]["mouth_psnr"]
    assert real["corr"] > 0.5 and real["id_distance"] < 0.45
    # the photo talking keeps the photo's sharpness and identity, with no seam
    assert voice["mouth_sharpness"] > 0.8 and voice["eye_sharpness"] > 0.8 and 0.8 < voice["seam"] < 1.2
    assert voice["fms"] == 100.0 and voice["id_distance"] < 0.3
    assert "real track (warp)" not in report["voices"]["s2"]  # needs a real video


def test_the_amplitude_ratio_splits_into_the_tracks_and_what_the_render_keeps():
    from talkface.evaluation.people import Rendered, VideoCase, mouth_vs_real

    n = 100
    real_gaps = 0.1 + 0.05 * np.sin(np.arange(n) / 4.0)
    speech = np.zeros(n, bool)
    speech[20:80] = True
    case = VideoCase("c", "g", np.zeros((n, 8, 8, 3), np.uint8), 25.0, np.zeros(n * 640, np.float32),
                     _faces(real_gaps), speech, "alignment")
    track_gaps = 0.1 + 0.5 * (real_gaps - 0.1)  # a track opening half as much as the real mouth
    seen = 0.1 + 0.8 * (track_gaps - 0.1)  # and the rendered frames showing 0.8 of the track's opening
    seen_faces = _faces(seen)
    seen_faces[:5] = np.nan  # frames where the re-detection found no face are left out
    scores = mouth_vs_real(case, Rendered("m", case.frames, seen_faces, track=_faces(track_gaps)))
    assert scores["track_amp"] == pytest.approx(0.5, rel=1e-3)
    assert scores["visible_over_track"] == pytest.approx(0.8, rel=1e-3)
    assert scores["amp_ratio"] == pytest.approx(0.4, rel=1e-3) and scores["corr"] == pytest.approx(1.0)
    floor = mouth_vs_real(case, Rendered("copy", case.frames, np.repeat(_faces(real_gaps[:1]), n, axis=0)))
    assert np.isnan(floor["track_amp"]) and np.isnan(floor["visible_over_track"])  # no track to split by


def test_the_default_dev_set_is_the_shared_folder_beside_the_repository():
    from talkface.evaluation import expression, people

    beside = Path(__file__).resolve().parents[3] / "shared" / "data" / "dev"
    assert people.DEFAULT_DEV_ROOT == expression.DEFAULT_DEV_ROOT == beside


def test_the_expression_evaluation_speaks_the_bundled_example():
    from talkface.evaluation import expression

    assert expression.SPEECH.is_file()
