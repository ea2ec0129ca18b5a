"""Does an audio2lmk stage move the mouth on music and noise? Measured with generators that training never used.

    python scripts/audio2lmk_chatter.py ck:audio2lmk/data/audio2lmk.safetensors ck:C.safetensors@nogate phonetic ... \
        [--voices ../shared/data/dev/voices] [--seeds N] [--out runs/chatter.json]

audio2lmk/nonspeech.py makes the training sounds (additive harmonic notes with ADSR envelopes, coloured-noise
bursts, coloured noise, hum, room tone); the sounds here are made differently, so a low score is not the net
recognising its own training data: Karplus-Strong plucked strings, FM bells (inharmonic), a drum kit (pitch-swept
kick, snare, hi-hat) in a swung 4/4, a pop loop (detuned saw pad + square bass + that kit), applause, rain
crackle, and the bad-input test's chords, white and brown noise (white noise is the one in-family sound).

Chatter = mean |frame-to-frame change| of the inner-mouth opening on 6 s of the sound, divided by the same on
real speech of people the nets never heard (the dev set's spoken digits, 3 speakers, joined with pauses). The
bad-input test's bar is 0.35. Also: speech over the pop loop at 10 dB SNR, the opening's correlation with the
opening on the clean speech (the mouth must still follow the voice). Flags after `@`, joined by `+`: `nogate` switches
the phone gate off, `novoice` the voice-activity gate (audio2lmk.voice_activity), `phones` the phone gate on.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from audio2lmk.learned import load_checkpoint
from audio2lmk.phonetic import PhoneticAudio2Lmk
from talkface.audio import SAMPLE_RATE
from talkface.landmarks.indices import mouth_opening
from talkface.landmarks.normalize import MEAN_SHAPE
from talkface.media import read_audio
from talkface.speech import Speech

SR = SAMPLE_RATE
SECONDS = 6.0


def _t(seconds: float = SECONDS) -> np.ndarray:
    return np.arange(int(seconds * SR)) / SR


def plucked(rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong plucked-string arpeggios (a delay line with averaging, not additive harmonics)."""
    out = np.zeros(int(SECONDS * SR))
    notes = [110.0, 138.6, 164.8, 220.0, 277.2, 329.6]
    for k, start in enumerate(np.arange(0, SECONDS - 0.1, 0.25)):
        period = int(SR / (notes[k % len(notes)] * rng.choice([1, 2])))
        n = min(int(1.5 * SR), len(out) - int(start * SR))
        line = list(rng.uniform(-1, 1, period))
        sig = np.empty(n)
        for i in range(n):
            sig[i] = line[i % period]
            line[i % period] = 0.996 * 0.5 * (line[i % period] + line[(i + 1) % period])
        out[int(start * SR):int(start * SR) + n] += sig
    return out


def fm_bells(rng: np.random.Generator) -> np.ndarray:
    """FM bells: carrier:modulator 1:1.4 (inharmonic partials), decaying modulation index, random pitches."""
    t = _t()
    out = np.zeros_like(t)
    for start in np.arange(0, SECONDS, 0.6):
        seg = t >= start
        tt = t[seg] - start
        f = rng.uniform(300, 900)
        index = 4 * np.exp(-tt / 0.8)
        out[seg] += np.exp(-tt / 1.2) * np.sin(2 * np.pi * f * tt + index * np.sin(2 * np.pi * 1.4 * f * tt))
    return out


def drum_kit(rng: np.random.Generator, bpm: float = 100.0) -> np.ndarray:
    """Kick (sine swept 150 -> 50 Hz), snare (tone + noise) and hi-hat (differenced noise), swung 4/4."""
    out = np.zeros(int(SECONDS * SR))
    eighth = 30.0 / bpm

    def put(at: float, sound: np.ndarray) -> None:
        a = int(at * SR)
        if a < len(out):
            out[a:a + len(sound)] += sound[:len(out) - a]

    tk = _t(0.3)
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-tk / 0.04)) / SR) * np.exp(-tk / 0.12)
    ts = _t(0.2)
    snare = (0.5 * np.sin(2 * np.pi * 190 * ts) + rng.standard_normal(len(ts))) * np.exp(-ts / 0.05)
    th = _t(0.05)
    hat = np.diff(rng.standard_normal(len(th) + 1)) * np.exp(-th / 0.01)
    for k, at in enumerate(np.arange(0, SECONDS, eighth)):
        at += 0.3 * eighth * (k % 2)  # swing
        put(at, 0.4 * hat)
        if k % 4 == 0:
            put(at, kick)
        if k % 4 == 2:
            put(at, 0.6 * snare)
    return out


def pop_loop(rng: np.random.Generator) -> np.ndarray:
    """Detuned sawtooth pad chords (slow attack), a square-wave bass line and the drum kit."""
    t = _t()
    chords = [(220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7), (164.8, 196.0, 246.9)]
    pad, bass = np.zeros_like(t), np.zeros_like(t)
    for k, start in enumerate(np.arange(0, SECONDS, 1.5)):
        seg = (t >= start) & (t < start + 1.5)
        tt = t[seg] - start
        for f in chords[k % 4]:
            for detune in (0.997, 1.003):
                pad[seg] += 2 * ((f * detune * tt) % 1.0) - 1
        pad[seg] *= np.minimum(tt / 0.3, 1.0)
        bass[seg] = np.sign(np.sin(2 * np.pi * chords[k % 4][0] / 2 * tt)) * np.exp(-((tt % 0.375) / 0.2))
    return pad / pad.std() + 0.7 * bass / bass.std() + 1.5 * drum_kit(rng, 120.0) / 0.3


def applause(rng: np.random.Generator) -> np.ndarray:
    """Many claps: short band-passed noise bursts at random times, density swelling and fading."""
    out = np.zeros(int(SECONDS * SR))
    tc = _t(0.02)
    for at in np.sort(rng.uniform(0, SECONDS - 0.05, 400)):
        if rng.random() < np.sin(np.pi * at / SECONDS):
            a = int(at * SR)
            burst = np.diff(rng.standard_normal(len(tc) + 1)) * np.exp(-tc / 0.004)
            out[a:a + len(burst)] += rng.uniform(0.3, 1.0) * burst
    return out


def rain(rng: np.random.Generator) -> np.ndarray:
    """Pink-ish hiss with sparse crackles (drops on a roof, a vinyl record)."""
    n = int(SECONDS * SR)
    spectrum = np.fft.rfft(rng.standard_normal(n)) / np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0))
    out = np.fft.irfft(spectrum, n)
    out /= out.std()
    clicks = np.zeros(n)
    clicks[rng.integers(0, n, 300)] = rng.uniform(3, 12, 300) * rng.choice([-1, 1], 300)
    return out + np.convolve(clicks, np.exp(-np.arange(40) / 8), mode="same")


def chords(seconds: float = SECONDS) -> np.ndarray:
    """Sustained piano-like chords changing every 0.5 s (harmonic, no syllable rhythm): the music of
    tests/audio2lmk/test_audio2lmk_bad_input.py, which takes it from here."""
    t = _t(seconds)
    out = np.zeros_like(t)
    roots = [220.0, 246.9, 261.6, 293.7, 329.6, 196.0]
    for k, start in enumerate(np.arange(0, seconds, 0.5)):
        seg = (t >= start) & (t < start + 0.5)
        for ratio in (1.0, 1.26, 1.5):
            for h in range(1, 5):
                out[seg] += np.sin(2 * np.pi * roots[k % len(roots)] * ratio * h * t[seg]) / h
        out[seg] *= np.exp(-2.0 * (t[seg] - start))
    return out


def white(rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(int(SECONDS * SR))


def brown(rng: np.random.Generator) -> np.ndarray:
    noise = np.cumsum(rng.standard_normal(int(SECONDS * SR)))
    return noise - np.convolve(noise, np.ones(400) / 400, mode="same")


SOUNDS = {"plucked strings": plucked, "FM bells": fm_bells, "drum kit": drum_kit, "pop loop": pop_loop,
          "applause": applause, "rain": rain, "test chords": lambda rng: chords(), "white noise": white, "brown noise": brown}


def at_level(wave: np.ndarray, rms: float = 0.05) -> np.ndarray:
    return (rms * wave / (wave.std() + 1e-12)).astype(np.float32)


def speech_reference(voices: Path, speakers=("george", "lucas", "yweweler")) -> list[np.ndarray]:
    """Per speaker: the digits 0-9 (take 0) joined with 0.3 s pauses, 16 kHz."""
    out = []
    for who in speakers:
        parts = []
        for digit in range(10):
            parts += [read_audio(voices / f"{digit}_{who}_0.wav", SR), np.zeros(int(0.3 * SR), np.float32)]
        out.append(at_level(np.concatenate(parts)))
    return out


def opening(model, wave: np.ndarray, voice_gate: bool = True) -> np.ndarray:
    source = (MEAN_SHAPE * 100 + np.array([200.0, 180.0])).astype(np.float32)
    return mouth_opening(model(Speech.of(wave, SR), source, blink=False, head_motion=False, voice_gate=voice_gate))


def chatter(series: np.ndarray) -> float:
    """Mean absolute frame-to-frame change of the opening."""
    return float(np.abs(np.diff(series)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="ck:PATH[@nogate][+novoice][+phones] or phonetic[@novoice]")
    parser.add_argument("--voices", type=Path, default=Path("../shared/data/dev/voices"))
    parser.add_argument("--seeds", type=int, default=1,
                        help="draws of each generated sound (seed 7, then 1, 2, ...): the table shows the mean and, "
                             "with more than one, the worst draw")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    speech = speech_reference(args.voices)
    seeds = [7, *[k for k in range(1, args.seeds + 1) if k != 7]][:args.seeds]
    draws = {name: [at_level(make(np.random.default_rng(seed))) for seed in seeds] for name, make in SOUNDS.items()}
    sounds = {name: waves[0] for name, waves in draws.items()}
    command = " ".join(args.models) + (f" --seeds {args.seeds}" if args.seeds > 1 else "")
    report = {"command": "python scripts/audio2lmk_chatter.py " + command, "seeds": seeds, "models": {}}
    worst = {}
    for spec in args.models:
        path, _, flags = spec.removeprefix("ck:").partition("@")
        flags = set(flags.split("+")) - {""}
        if flags - {"nogate", "novoice", "phones"} or (path == "phonetic" and flags - {"novoice"}):
            parser.error(f"{spec}: unknown flags {sorted(flags)}")
        model = PhoneticAudio2Lmk() if path == "phonetic" else load_checkpoint(path)
        if path != "phonetic":
            model.phone_gate = "phones" in flags or (model.phone_gate and "nogate" not in flags)
        voiced = "novoice" not in flags
        start = time.monotonic()
        clean = [opening(model, s, voiced) for s in speech]
        ref = float(np.mean([chatter(o) for o in clean]))
        per_draw = {name: [chatter(opening(model, wave, voiced)) / ref for wave in waves] for name, waves in draws.items()}
        row = {name: float(np.mean(values)) for name, values in per_draw.items()}
        corrs = []
        for s, o in zip(speech, clean):
            back = np.resize(sounds["pop loop"], len(s))
            mixed = s + back * np.sqrt(np.mean(s**2) / np.mean(back**2) / 10.0)
            corrs.append(float(np.corrcoef(opening(model, mixed.astype(np.float32), voiced), o)[0, 1]))
        row["speech over pop loop, 10 dB: corr with clean"] = float(np.mean(corrs))
        row["speech chatter (reference)"] = ref
        row["seconds"] = round(time.monotonic() - start, 1)
        report["models"][spec] = {**row, "per_draw": per_draw}
        print(spec, json.dumps({k: round(v, 3) for k, v in row.items()}), flush=True)
        worst[spec] = {name: max(values) for name, values in per_draw.items()}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    names = [n for n in next(iter(report["models"].values())) if n not in ("per_draw", "speech chatter (reference)",
                                                                              "seconds")]
    print("\n| model | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for spec, row in report["models"].items():
        cells = [f"{row[n]:.2f}" + (f" ({worst[spec][n]:.2f})" if len(seeds) > 1 and n in worst[spec] else "")
                 for n in names]
        print(f"| {spec} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
