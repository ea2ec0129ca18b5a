"""Bad input for the shipped audio2lmk (issue 13): music, noise, whispering, shouting, 8 kHz telephone audio and long
silences must not crash; the mouth stays closed in silence and does not chatter on noise or music (the phonetic
default's too, on music). Speech is the bundled example recording (espeak-ng speech: a voice to the mouth's speech
gate, the voice-activity detector of audio2lmk.voice_activity, which a harmonic buzz under a syllable envelope is
not); music and noise are synthetic, made by scripts/audio2lmk_chatter.py's generators, which no training used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import butter, sosfilt

from audio2lmk.learned import SHIPPED_CHECKPOINT, load_checkpoint
from scripts.audio2lmk_chatter import SOUNDS, at_level, chatter, chords
from talkface.landmarks.indices import mouth_opening
from talkface.media import read_audio
from talkface.speech import Speech
from test_audio2lmk_learned import face

SR = 16000
EXAMPLE_SPEECH = Path(__file__).resolve().parents[2] / "examples" / "speech.wav"


@pytest.fixture(scope="module")
def model():
    if not SHIPPED_CHECKPOINT.is_file():
        pytest.skip("no shipped audio2lmk checkpoint")
    torch.set_num_threads(1)
    return load_checkpoint()


@pytest.fixture(scope="module")
def source():
    return face(100.0, 0.0, (200.0, 180.0), 4)


def _opening(model, wave, source, sr=SR, voice_gate=True) -> np.ndarray:
    track = model(Speech.of(wave, sr), source, blink=False, head_motion=False, voice_gate=voice_gate)
    assert track.shape == (int(round(len(wave) / sr * 25)), 68, 2) and np.isfinite(track).all()
    return mouth_opening(track)


def speech(seconds: float) -> np.ndarray:
    """The first `seconds` of the example recording (7.4 s of speech with two short pauses)."""
    return read_audio(EXAMPLE_SPEECH, SR)[:int(seconds * SR)]


def _music(seconds: float) -> np.ndarray:
    out = chords(seconds)
    return (0.1 * out / np.abs(out).max()).astype(np.float32)


def test_speech_moves_the_mouth_and_long_silence_closes_it(model, source):
    words = speech(2.5)
    wave = np.concatenate([words, np.zeros(4 * SR, np.float32), words])
    opening = _opening(model, wave, source)
    rest = float(mouth_opening(source))
    silent = opening[int(2.5 * 25) + 8:int(6.5 * 25) - 8]  # the silence, 0.3 s from its edges
    assert np.abs(silent - silent[0]).max() < 1e-3 and silent.max() < rest + 0.02
    assert np.ptp(opening[:60]) > 0.03  # the speech does move it


HELD_OUT = ["plucked strings", "drum kit", "pop loop", "applause", "rain"]  # sounds the phone gate let chatter


@pytest.mark.parametrize("kind", ["white noise", "brown noise", "music"] + HELD_OUT)
def test_no_chatter_on_noise_or_music(model, source, kind):
    rng = np.random.default_rng(0)
    if kind in HELD_OUT:
        wave = at_level(SOUNDS[kind](rng)[:4 * SR])
    elif kind == "music":
        wave = _music(4.0)
    else:
        noise = rng.standard_normal(4 * SR)
        if kind == "brown noise":
            noise = np.cumsum(noise)
            noise -= np.convolve(noise, np.ones(400) / 400, mode="same")
        wave = (0.05 * noise / noise.std()).astype(np.float32)
    talking = chatter(_opening(model, speech(4.0), source))
    other = chatter(_opening(model, wave, source))
    assert other < 0.35 * talking, f"{kind}: mouth moves {other:.4f}/frame vs {talking:.4f} on speech"


def test_speech_over_music_still_moves_the_mouth(model, source):
    words = speech(6.0)
    loop = SOUNDS["pop loop"](np.random.default_rng(0))[:len(words)]
    mixed = (words + loop * np.sqrt(np.mean(words ** 2) / np.mean(loop ** 2) / 10.0)).astype(np.float32)  # 10 dB SNR
    clean = _opening(model, words, source)
    over_music = _opening(model, mixed, source)
    assert np.corrcoef(clean, over_music)[0, 1] > 0.5
    assert np.ptp(over_music) > 0.5 * np.ptp(clean)


def test_whisper_shout_and_telephone_audio(model, source):
    words = speech(3.0)
    normal = _opening(model, words, source)
    # whisper: the same syllable envelope on noise, no voicing
    env = np.abs(words)
    env = np.convolve(env, np.ones(400) / 400, mode="same")
    whisper = (env / env.max() * 0.05 * np.random.default_rng(1).standard_normal(len(words))).astype(np.float32)
    assert np.isfinite(_opening(model, whisper, source)).all()
    shout = np.clip(words * 20.0, -1.0, 1.0)  # clipped, 26 dB louder
    loud = _opening(model, shout, source)
    assert np.ptp(loud) < 2.0 * np.ptp(normal) + 0.02  # loudness is normalised: no blown-up jaw
    sos = butter(6, [300, 3400], btype="bandpass", fs=SR, output="sos")
    phone8k = sosfilt(sos, words)[::2].astype(np.float32)  # 8 kHz band-limited telephone speech
    tele = _opening(model, phone8k, source, sr=8000)
    assert np.ptp(tele) > 0.3 * np.ptp(normal)


@pytest.mark.parametrize("kind", ["plucked strings", "music"])
def test_the_phonetic_default_does_not_chatter_on_music(source, kind):
    from audio2lmk import PhoneticAudio2Lmk

    wave = _music(4.0) if kind == "music" else at_level(SOUNDS[kind](np.random.default_rng(0))[:4 * SR])
    phonetic = PhoneticAudio2Lmk()
    talking = chatter(_opening(phonetic, speech(4.0), source))
    other = chatter(_opening(phonetic, wave, source))
    assert other < 0.35 * talking, f"{kind}: mouth moves {other:.4f}/frame vs {talking:.4f} on speech"
    # what the gate stops: pocketsphinx hears phones in music (the user's switch for singing)
    assert chatter(_opening(phonetic, wave, source, voice_gate=False)) > 0.35 * talking
