"""The phonetic audio2lmk default: phones, visemes, coarticulation, blinks, head motion, the full stage."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from audio2lmk import PhoneticAudio2Lmk
from audio2lmk.idle import EYELID_PAIRS
from audio2lmk.phonemes import PHONE_SET, Phone, PhoneDecoder, _cut_points, speech_envelope, speech_onsets
from audio2lmk.visemes import MOTION_POINTS, PHONE_TO_VISEME, SILENCE, VISEMES, VisemeTable
from talkface.audio import to_mono_16k
from talkface.errors import MediaError, TalkfaceError
from talkface.landmarks.indices import interocular, mouth_opening
from talkface.landmarks.normalize import MEAN_SHAPE
from talkface.speech import Speech

ROW = {p: i for i, p in enumerate(MOTION_POINTS)}
LOWER = [ROW[p] for p in (65, 66, 67, 55, 56, 57, 58, 59)] + [ROW[p] for p in range(6, 11)]
STILL_POINTS = [p for p in range(68) if p not in MOTION_POINTS]


def closed_mean_face() -> np.ndarray:
    """MEAN_SHAPE (whose inner lips are apart) with the lower inner lip raised onto the upper."""
    face = MEAN_SHAPE.astype(np.float64).copy()
    for up, lo in ((61, 67), (62, 66), (63, 65)):
        face[lo, 1] = face[up, 1]
    return face


def to_image(norm: np.ndarray, scale=120.0, angle_deg=8.0, shift=(180.0, 140.0)) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (scale * norm @ rot.T + np.array(shift)).astype(np.float32)


def fixture_table(open_amount: float = 0.12) -> VisemeTable:
    """Vowels drop the lower lip and jaw, rounded ones also narrow the mouth; consonants stay shut."""
    n = len(MOTION_POINTS)
    disp = np.zeros((len(VISEMES), n, 2), np.float32)
    for name, amount in (("open", 1.0), ("mid", 0.8), ("spread", 0.6), ("rounded", 0.5), ("breath", 0.3)):
        disp[VISEMES.index(name), LOWER, 1] = amount * open_amount
    disp[VISEMES.index("rounded"), ROW[48], 0] += 0.05
    disp[VISEMES.index("rounded"), ROW[54], 0] -= 0.05
    rest = closed_mean_face()[list(MOTION_POINTS)].astype(np.float32)
    return VisemeTable(VISEMES, disp, np.zeros_like(disp), np.full(len(VISEMES), 10), rest)


@pytest.fixture(scope="module")
def model() -> PhoneticAudio2Lmk:
    return PhoneticAudio2Lmk(fixture_table())


def bursts(duration: float, spans: list[tuple[float, float]], sample_rate: int = 16000) -> np.ndarray:
    """Quiet noise with loud vowel-like bursts (a 120 Hz harmonic series) in the given spans."""
    rng = np.random.default_rng(0)
    t = np.arange(int(duration * sample_rate)) / sample_rate
    wave = 1e-3 * rng.standard_normal(len(t))
    voice = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 25))
    for a, b in spans:
        inside = (t >= a) & (t < b)
        wave[inside] += 0.3 * voice[inside] / np.abs(voice).max()
    return wave.astype(np.float32)


# ---- phones and visemes -------------------------------------------------------------------------

def test_phone_set_matches_the_acoustic_model_and_every_phone_has_a_viseme():
    from pocketsphinx import get_model_path

    mdef = (Path(get_model_path()) / "en-us" / "en-us" / "mdef").read_bytes()
    start = mdef.index(b"+NSN+\x00")
    names = []
    for token in mdef[start:start + 400].split(b"\x00"):
        if not re.fullmatch(rb"[A-Z+]+", token):
            break
        names.append(token.decode())
    assert tuple(names) == PHONE_SET
    assert set(PHONE_SET) <= set(PHONE_TO_VISEME)
    assert set(PHONE_TO_VISEME.values()) <= set(VISEMES)
    assert PHONE_TO_VISEME["AA"] == "open" and PHONE_TO_VISEME["M"] == "bilabial"


def test_shipped_table_is_plausible():
    table = VisemeTable.load()
    gap = {name: float(np.mean(table.displacement[i, [ROW[67], ROW[66], ROW[65]], 1]
                               - table.displacement[i, [ROW[61], ROW[62], ROW[63]], 1]))
           for i, name in enumerate(table.visemes)}
    assert gap[SILENCE] == 0.0
    assert gap["open"] > 0.04 and gap["mid"] > 0.04  # vowels open the lips
    assert gap["bilabial"] < gap["open"] / 2  # p, b, m close them
    width = table.displacement[table.index("rounded"), ROW[54], 0] - table.displacement[
        table.index("rounded"), ROW[48], 0]
    assert width < 0  # rounded vowels narrow the mouth
    assert table.provenance["clips_used"] and table.count[table.index("open")] > 50


def test_table_round_trip(tmp_path):
    table = fixture_table()
    table.save(tmp_path / "v.json")
    again = VisemeTable.load(tmp_path / "v.json")
    assert again.visemes == table.visemes
    np.testing.assert_allclose(again.displacement, table.displacement, atol=1e-5)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(TalkfaceError, match="bad.json"):
        VisemeTable.load(tmp_path / "bad.json")


# ---- audio ---------------------------------------------------------------------------------------

def test_resampling_and_bad_audio():
    assert len(to_mono_16k(np.zeros(44100, np.float32), 44100)) == 16000
    assert len(to_mono_16k(np.zeros((8000, 2), np.float32), 8000)) == 16000
    with pytest.raises(MediaError):
        to_mono_16k(np.array([0.0, np.nan], np.float32), 16000)


def test_envelope_and_onsets_follow_the_bursts():
    wave = bursts(3.0, [(1.0, 1.5), (2.2, 2.6)])
    env = speech_envelope(wave, 16000, 75, 25.0)
    assert env[:23].max() == 0 and env[40:53].max() == 0  # silence gated to zero
    assert env[27:36].min() > 0.8 and env[57:63].min() > 0.8
    assert speech_onsets(env, 25.0) == [25, 55]
    assert not speech_envelope(np.zeros(16000, np.float32), 16000, 25).any()
    sparse = speech_envelope(bursts(12.0, [(6.0, 6.3)]), 16000, 300, 25.0)  # speech in 2.5% of it
    assert sparse[:148].max() == 0 and sparse[160:].max() == 0 and sparse[151:156].min() > 0.8


def test_long_audio_is_cut_in_pauses():
    wave = bursts(50.0, [(a, a + 1.5) for a in np.arange(0.5, 49, 2.0)])
    cuts = _cut_points(wave, max_chunk_s=10.0)
    assert cuts[0] == 0 and cuts[-1] == len(wave)
    assert max(np.diff(cuts)) <= 10 * 16000
    for c in cuts[1:-1]:
        assert np.abs(wave[c - 800:c + 800]).max() < 0.01  # every cut falls in a pause


def test_decoder_chunked_equals_shape_of_whole():
    wave = bursts(6.0, [(0.5, 1.2), (2.0, 2.8), (4.0, 4.6)])
    whole = PhoneDecoder()(wave, 16000)
    chunked = PhoneDecoder(max_chunk_s=2.0, context_s=0.5)(wave, 16000)
    for phones in (whole, chunked):
        assert phones and all(p.phone in PHONE_SET for p in phones)
        starts = [p.start for p in phones]
        assert starts == sorted(starts) and phones[-1].end <= 6.0 + 1e-6
    assert PhoneDecoder()(np.zeros(16000, np.float32), 16000) == []


# ---- the stage -----------------------------------------------------------------------------------

@pytest.mark.parametrize("duration", [1.0, 2.98])
@pytest.mark.parametrize("sample_rate", [8000, 16000, 44100])
def test_track_length_and_type(model, duration, sample_rate):
    wave = np.zeros(int(round(duration * sample_rate)), np.float32)
    source = to_image(closed_mean_face())
    track = model(Speech.of(wave, sample_rate), source, fps=25.0)
    assert track.shape == (round(duration * 25), 68, 2) and track.dtype == np.float32
    assert len(model(Speech.of(wave, sample_rate), source, fps=30.0, blink=False)) == round(duration * 30)


def test_silence_gives_a_still_closed_mouth(model):
    source = to_image(closed_mean_face())
    track = model(Speech.of(np.zeros(48000, np.float32), 16000), source, blink=False, head_motion=False)
    assert np.array_equal(track, np.repeat(track[:1], len(track), axis=0))
    np.testing.assert_allclose(track[0], source, atol=1e-3)


def test_an_open_source_mouth_is_closed_first(model):
    source = to_image(MEAN_SHAPE)  # the mean shape has its lips apart
    assert mouth_opening(source) > 0.05
    track = model(Speech.of(np.zeros(32000, np.float32), 16000), source, blink=False, head_motion=False)
    assert np.all(mouth_opening(track) < 0.01)
    np.testing.assert_array_equal(track[:, STILL_POINTS], np.repeat(source[None, STILL_POINTS], len(track), 0))


def test_mouth_opens_on_vowels_closes_on_bilabials_and_silence(model):
    wave = bursts(3.0, [(1.0, 2.0)])
    phones = [Phone("SIL", 0.0, 1.0), Phone("AA", 1.0, 1.4), Phone("M", 1.4, 1.5), Phone("AA", 1.5, 2.0),
              Phone("SIL", 2.0, 3.0)]
    source = to_image(closed_mean_face())
    track = model.synthesise(phones, wave, source, 75, blink=False, head_motion=False)
    opening = mouth_opening(track) - mouth_opening(source)
    assert np.abs(opening[:12]).max() < 1e-4 and np.abs(opening[58:]).max() < 1e-4  # closed at rest
    assert opening[29:33].min() > 0.08 and opening[42:47].min() > 0.08  # open vowels
    assert opening[36] < 0.5 * opening[31]  # the m closes the lips between them
    assert 0.005 < opening[20] < opening[31]  # lips part a little in the in-breath before speech


def test_quieter_speech_opens_less(model):
    wave = bursts(3.0, [(0.8, 1.4), (2.0, 2.6)])
    wave[int(2.0 * 16000):int(2.6 * 16000)] *= 0.1  # the second vowel 20 dB quieter
    phones = [Phone("SIL", 0.0, 0.8), Phone("AA", 0.8, 1.4), Phone("SIL", 1.4, 2.0), Phone("AA", 2.0, 2.6),
              Phone("SIL", 2.6, 3.0)]
    source = to_image(closed_mean_face())
    opening = mouth_opening(model.synthesise(phones, wave, source, 75, blink=False, head_motion=False))
    loud, quiet = opening[22:33].mean(), opening[52:63].mean()
    assert loud > quiet + 0.02 and quiet > mouth_opening(source) + 0.02


def test_stable_points_are_exact_without_head_motion(model):
    source = to_image(closed_mean_face())
    wave = bursts(2.0, [(0.6, 1.6)])
    track = model(Speech.of(wave, 16000), source, blink=False, head_motion=False)
    np.testing.assert_array_equal(track[:, STILL_POINTS], np.repeat(source[None, STILL_POINTS], len(track), 0))
    moved = model(Speech.of(wave, 16000), source, blink=False, head_motion=True)
    drift = np.linalg.norm(moved[:, STILL_POINTS] - source[STILL_POINTS], axis=-1).max()
    assert 0 < drift < 0.15 * interocular(source)  # gentle: a few percent of the face


def test_blinks_close_the_eyes_and_are_seeded(model):
    source = to_image(closed_mean_face())
    wave = np.zeros(16000 * 10, np.float32)
    track = model(Speech.of(wave, 16000), source, head_motion=False, seed=3)
    gap = np.mean([np.linalg.norm(track[:, lo] - track[:, up], axis=-1) for up, lo in EYELID_PAIRS], axis=0)
    open_gap = gap[0] if gap[0] == gap.max() else gap.max()
    closed = gap < 0.2 * open_gap
    n_blinks = int(np.sum(closed[1:] & ~closed[:-1]))
    assert 2 <= n_blinks <= 5  # every 2-6 s over 10 s
    assert closed.sum() <= n_blinks * 6  # each shorter than 250 ms
    assert np.array_equal(track, model(Speech.of(wave, 16000), source, head_motion=False, seed=3))
    assert not np.array_equal(track, model(Speech.of(wave, 16000), source, head_motion=False, seed=4))
    still = model(Speech.of(wave, 16000), source, blink=False, head_motion=False)
    assert np.array_equal(still, np.repeat(still[:1], len(still), axis=0))


def test_bad_source_landmarks(model):
    with pytest.raises(TalkfaceError, match="source landmarks"):
        model(Speech.of(np.zeros(16000, np.float32), 16000), np.zeros((5, 2)))
    with pytest.raises(MediaError, match="too short"):
        model(Speech.of(np.zeros(100, np.float32), 16000), to_image(closed_mean_face()))


# ---- on real speech ------------------------------------------------------------------------------

def test_grid_clip_mouth_follows_the_alignment(grid_root):
    from talkface.grid import SILENCE_TOKENS, read_alignment
    from talkface.media import read_audio

    clip = "bbaf2n"  # a test-split clip: "bin blue at f two now"
    wave = read_audio(grid_root / "s1" / f"{clip}.mp4", 16000)
    words = [w for w in read_alignment(grid_root / "alignments" / "s1" / f"{clip}.align")
             if w.word not in SILENCE_TOKENS]
    source = to_image(closed_mean_face())
    track = PhoneticAudio2Lmk()(Speech.of(wave, 16000), source, blink=False, head_motion=False)
    opening = mouth_opening(track)
    rest = mouth_opening(source)
    first, last = int(words[0].start), int(np.ceil(words[-1].end))
    lead_in = first - 13  # before the in-breath (about half a second before the voice)
    assert np.allclose(opening[:lead_in], rest, atol=1e-4)  # still and closed in the leading silence
    assert opening[first:last].mean() > rest + 0.025  # open while speaking
    assert opening[first:last].max() > rest + 0.05
    assert np.allclose(opening[last + 5:], rest, atol=1e-3)  # closed again afterwards
