"""How readable is an audio2lmk's motion? One change at a time, on the first N s1 test clips.

    python scripts/audio2lmk_lipreading.py ck:audio2lmk/data/audio2lmk.safetensors ck:old.safetensors@nocal real \
        real+smooth=2 --clips 20 --wer --prepared /work/main/data/prepared --out runs/lipreading.json

Each variant gives a landmark track per clip (photo = the clip's first frame, speech = its audio, blinks off,
the predicted head pose kept unless `@still`). Track measures against the real track, in the normalised face
frame: correlation and std ratio of the inner-lip opening, the outer mouth width (48-54), the inner width
(60-64) and the outer lip height (51-57); the same for the opening and width high-passed (minus a 2-frame
Gaussian: the fast detail); the lag (frames) that best aligns the opening; jerk (mean |2nd difference|) ratio.
With --wer: the learned lmk2video's own frames (`mouth_only=False`, as `eval grid`'s full-frame rows) read by
the shipped lipreader through `eval grid`'s path (dlib re-detection, mouth crop), WER/CER by jiwer.

Variants:
  ck:PATH[@nocal|@cal=X][@sharp=K][@still]   an audio2lmk checkpoint; without / with another calibration target;
                                   its motion sharpened in time (audio2lmk.calibration.sharpen, amount K); still head
  pose:A:B                         mouth motion of checkpoint spec A, head pose of B
  mix:A:B                          A's track with the lips' horizontal motion (normalised frame) of B
  real[+smooth=S][+lag=N][+amp=X][+nowidth]   the real track, its motion Gaussian-smoothed (S frames),
                                   delayed, scaled about the first frame, or without horizontal lip motion
  still                            the photo, unmoving (a floor)
--voice F shifts every clip's voice (pitch and formants x F, duration kept: ffmpeg asetrate + atempo, unlike
the training augmentation's mel-domain warp and `eval audio2lmk --voice-shift`'s phase vocoder).

Cross-voice (issue 13's criterion: an s1 photo driven by other GRID speakers' sentences should read within 10
WER points of the same photo driven by s1's own voice): `--other-voices GLOB` (repeatable, with --wer), e.g.
`--other-voices '../shared/data/dev/grid_other/*.mpg'`. Each clip's photo is driven by every matching
recording too (its whole audio; the sentence from its `.align` beside it, else from its GRID id), rendered
and read the same way, against that recording's sentence; `real` variants have no other-voice counterpart.
The summary gains `other_wer` / `other_cer` (all photos x voices) and `other_wer_by_voice`.
"""

from __future__ import annotations

import argparse
import glob
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf
import torch
from imageio_ffmpeg import get_ffmpeg_exe
from scipy.ndimage import gaussian_filter1d

from audio2lmk.learned import load_checkpoint
from audio2lmk.pca import MOTION_POINTS
from talkface import grid
from talkface.errors import TalkfaceError
from talkface.evaluation.end_to_end import load_truth
from talkface.face_crop import crop_face
from talkface.landmarks.indices import MOUTH, interocular, mouth_opening
from talkface.landmarks.normalize import from_normalised, to_normalised
from talkface.landmarks.track import track_video
from talkface.lipreading.mouth import mouth_crops
from talkface.lipreading.wer import LipReader
from talkface.media import read_audio
from talkface.pipeline import SAMPLE_RATE, Synthesizer
from talkface.prepared import PreparedSet
from talkface.stages import load_lmk2video
from talkface.speech import Speech


def measures(track: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame mouth measures of a (T, 68, 2) track in the normalised face frame (interocular 1)."""
    n, _ = to_normalised(np.asarray(track, np.float32))
    dist = lambda a, b: np.linalg.norm(n[:, a] - n[:, b], axis=-1)
    return {"open": mouth_opening(n), "width": dist(48, 54), "iwidth": dist(60, 64), "oheight": dist(51, 57)}


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if np.ptp(a) > 1e-9 and np.ptp(b) > 1e-9 else 0.0


def best_lag(a: np.ndarray, b: np.ndarray, max_lag: int = 6) -> int:
    """Frames by which a follows b (argmax over k of corr(a[t], b[t - k]))."""
    scores = {k: corr(a[k:], b[:len(b) - k]) if k >= 0 else corr(a[:k], b[-k:]) for k in range(-max_lag, max_lag + 1)}
    return max(scores, key=scores.get)


def shift_voice(wave: np.ndarray, factor: float) -> np.ndarray:
    """Pitch and formants x factor, same duration: ffmpeg asetrate (resampling) then atempo (WSOLA)."""
    with tempfile.TemporaryDirectory() as tmp:
        sf.write(f"{tmp}/a.wav", np.asarray(wave, np.float32), SAMPLE_RATE)
        subprocess.run([get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", f"{tmp}/a.wav", "-af",
                        f"asetrate={SAMPLE_RATE * factor:.0f},aresample={SAMPLE_RATE},atempo={1 / factor:.6f}",
                        f"{tmp}/b.wav"], check=True)
        out, _ = sf.read(f"{tmp}/b.wav", dtype="float32")
    out = out[:len(wave)]
    return np.pad(out, (0, len(wave) - len(out)))


def voice_sentence(path: Path) -> str:
    """What a GRID recording says: its `.align` beside it, else the sentence its file name (a GRID id) spells."""
    alignment = path.with_suffix(".align")
    if alignment.is_file():
        return grid.transcript_from_alignment(grid.read_alignment(alignment))
    try:
        return grid.transcript_from_id(path.stem)
    except TalkfaceError:
        raise TalkfaceError(f"{path}: no .align beside it and its name is not a GRID id, so its sentence "
                            "is unknown") from None


def other_voices(patterns: list[str]) -> list[tuple[str, np.ndarray, str]]:
    """(name, 16 kHz speech, sentence) of each file the globs match, in order, each once."""
    paths = [Path(p) for p in dict.fromkeys(p for pattern in patterns for p in sorted(glob.glob(pattern)))]
    if patterns and not paths:
        raise TalkfaceError(f"--other-voices {' '.join(patterns)}: no file matches")
    return [(path.stem, read_audio(path, SAMPLE_RATE), voice_sentence(path)) for path in paths]


def read_render(synth: Synthesizer, reader: LipReader, source, track: np.ndarray, crop, name: str,
                max_frames: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Render a track from the source photo, re-detect its landmarks, read its mouth: (frames, landmarks, text)."""
    frames = np.stack(list(synth.render(source, track)))[:max_frames]
    detected = track_video(frames)
    crops = np.stack([crop_face(f, crop) for f in frames])
    return frames, detected, reader.read(mouth_crops(crops, crop.to_crop(detected), reader.mouth_size), name=name)


def cross_voice_rows(synth: Synthesizer, reader: LipReader, variants: "Variants", specs: list[str], clip_id: str,
                     source, crop, voices: list[tuple[str, np.ndarray, str]]) -> dict[str, list[dict]]:
    """One photo (and its reading crop) driven by each other voice, for each variant but the real tracks."""
    rows: dict[str, list[dict]] = {}
    for spec in specs:
        if spec.startswith("real"):
            continue
        for voice, audio, sentence in voices:
            track = variants.track(spec, None, source.landmarks, audio)
            _, _, text = read_render(synth, reader, source, track, crop, f"{clip_id}+{voice}")
            rows.setdefault(spec, []).append({"clip": clip_id, "voice": voice, "reference": sentence,
                                              "hypothesis": text})
    return rows


class Variants:
    def __init__(self):
        self.models: dict[str, object] = {}

    def model(self, spec: str):
        spec = spec.replace("@still", "")
        if spec not in self.models:
            path, *options = spec.split("@")
            model = load_checkpoint(path)
            for option in options:
                if option == "nocal":
                    model.opening_std = None
                elif option.startswith("cal="):
                    model.opening_std = float(option[4:])
                elif option.startswith("sharp="):
                    model.sharpen = float(option[6:])
                else:
                    raise SystemExit(f"unknown checkpoint option {option!r} in {spec!r}")
            self.models[spec] = model
        return self.models[spec]

    def track(self, spec: str, truth, source: np.ndarray, audio: np.ndarray | None = None) -> np.ndarray:
        """The variant's track for the clip `truth` from the photo's landmarks `source`; `audio` instead of the
        clip's own speech (another voice: `real` variants have none)."""
        audio = truth.audio if audio is None else audio
        n = int(round(len(audio) / SAMPLE_RATE * 25))
        if spec.startswith("ck:"):
            return self.model(spec[3:])(Speech.of(audio, SAMPLE_RATE), source, fps=25.0, blink=False,
                                        head_motion="@still" not in spec)
        if spec == "still":
            return np.repeat(np.asarray(source, np.float32)[None], n, axis=0)
        if spec.startswith("pose:"):
            _, a, b = spec.split(":")
            motion = self.model(a).predict(audio, n)[0]
            return self.model(a).place(motion, np.asarray(source, np.float32), self.model(b).predict(audio, n)[1])
        if spec.startswith("mix:"):
            _, a, b = spec.split(":")
            norm_a, sim = to_normalised(self.track("ck:" + a, truth, source, audio))
            norm_b, _ = to_normalised(self.track("ck:" + b, truth, source, audio))
            norm_a[:, 48:68, 0] = norm_b[:, 48:68, 0]
            return from_normalised(norm_a, sim)
        if spec.startswith("real"):
            norm, sim = to_normalised(np.asarray(truth.landmarks, np.float32))
            points = list(MOTION_POINTS)
            rest = norm[0, points].copy()
            motion = norm[:, points] - rest
            for op in spec.split("+")[1:]:
                name, _, value = op.partition("=")
                if name == "smooth":
                    motion = gaussian_filter1d(motion, float(value), axis=0, mode="nearest")
                elif name == "lag":
                    k = int(value)
                    motion = np.concatenate([np.repeat(motion[:1], k, 0), motion[:len(motion) - k]])
                elif name == "amp":
                    motion = motion * float(value)
                elif name == "nowidth":
                    motion[..., 0] = 0.0
                else:
                    raise SystemExit(f"unknown real-track change {op!r}")
            norm[:, points] = rest + motion
            return from_normalised(norm, sim).astype(np.float32)
        raise SystemExit(f"unknown variant {spec!r}")


def other_wer(rows: list[dict]) -> dict:
    """WER/CER of cross-voice rows, overall and per voice."""
    score = lambda rs: float(jiwer.wer([r["reference"] for r in rs], [r["hypothesis"] for r in rs]))
    voices = dict.fromkeys(r["voice"] for r in rows)
    return {"other_wer": score(rows),
            "other_cer": float(jiwer.cer([r["reference"] for r in rows], [r["hypothesis"] for r in rows])),
            "other_wer_by_voice": {v: score([r for r in rows if r["voice"] == v]) for v in voices}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--wer", action="store_true", help="render and read (slow); otherwise track measures only")
    parser.add_argument("--voice", type=float, default=1.0, help="shift every voice by this factor (see above)")
    parser.add_argument("--other-voices", action="append", default=[], metavar="GLOB",
                        help="with --wer: also drive each clip's photo by these GRID recordings (see above)")
    parser.add_argument("--prepared", default="data/prepared")
    parser.add_argument("--grid-root", default="../shared/data/grid")
    parser.add_argument("--out", required=True, help="JSON with per-clip rows and the summary")
    args = parser.parse_args()
    if args.other_voices and not args.wer:
        parser.error("--other-voices needs --wer (it is read by the lipreader)")
    voices = other_voices(args.other_voices)
    torch.set_num_threads(1)
    prepared = PreparedSet(args.prepared)
    ids = prepared.ids(grid.read_split(grid.split_path(args.grid_root, "s1", "test")))[:args.clips]
    variants = Variants()
    synth = reader = None
    if args.wer:
        synth = Synthesizer(audio2lmk="phonetic", lmk2video="learned")
        synth._stages["lmk2video"] = load_lmk2video("learned", "cpu", mouth_only=False)  # the generator's own frames
        reader = LipReader.load()
    rows: dict[str, list[dict]] = {v: [] for v in args.variants}
    cross: dict[str, list[dict]] = {}
    start = time.time()
    for clip_id in ids:
        truth = load_truth(prepared, clip_id)
        if args.voice != 1.0:
            truth.audio = shift_voice(truth.audio, args.voice)
        real = measures(truth.landmarks)
        source = synth.source_face(truth.frames[0], name=clip_id) if synth else None
        for spec in args.variants:
            track = variants.track(spec, truth, source.landmarks if source else truth.landmarks[0])
            n = min(len(track), len(truth.landmarks))
            gen = measures(track[:n])
            row = {"clip": clip_id, "reference": truth.transcript}
            for k in real:
                row[f"{k}_corr"] = corr(gen[k], real[k][:n])
                row[f"{k}_amp"] = float(gen[k].std() / max(real[k][:n].std(), 1e-9))
            for k in ("open", "width"):
                high = [x - gaussian_filter1d(x, 2.0, mode="nearest") for x in (gen[k], real[k][:n])]
                row[f"{k}_hp_corr"] = corr(*high)
                row[f"{k}_hp_amp"] = float(high[0].std() / max(high[1].std(), 1e-9))
            row["open_lag"] = best_lag(gen["open"], real["open"][:n])
            row["open_jerk"] = float(np.abs(np.diff(gen["open"], 2)).mean()
                                     / max(np.abs(np.diff(real["open"][:n], 2)).mean(), 1e-9))
            if args.wer:
                frames, detected, row["hypothesis"] = read_render(synth, reader, source, track, truth.crop, clip_id,
                                                                  len(truth.frames))
                m = len(frames)
                row["detected_open_corr"] = corr(measures(detected)["open"], real["open"][:m])
                lips = list(MOUTH)
                row["detected_mouth_lmd"] = float((np.linalg.norm(detected[:, lips] - truth.landmarks[:m, lips], axis=-1)
                                                   .mean(1) / interocular(truth.landmarks[:m])).mean())
            rows[spec].append(row)
        for spec, spec_rows in cross_voice_rows(synth, reader, variants, args.variants, clip_id, source, truth.crop,
                                                voices).items():
            cross.setdefault(spec, []).extend(spec_rows)
        print(f"{clip_id} {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    summary = {}
    for spec, spec_rows in rows.items():
        summary[spec] = {k: float(np.mean([r[k] for r in spec_rows])) for k in spec_rows[0]
                         if k not in ("clip", "reference", "hypothesis")}
        if args.wer:
            refs, hyps = [r["reference"] for r in spec_rows], [r["hypothesis"] for r in spec_rows]
            summary[spec].update(wer=float(jiwer.wer(refs, hyps)), cer=float(jiwer.cer(refs, hyps)))
    for spec, spec_rows in cross.items():
        summary[spec].update(other_wer(spec_rows))
    Path(args.out).write_text(json.dumps({"command": "python " + " ".join(sys.argv), "ids": ids, "voice": args.voice,
                                          "other_voices": [v[0] for v in voices], "summary": summary, "rows": rows,
                                          "cross_voice_rows": cross}, indent=1))
    keys = ["wer", "cer", "open_corr", "open_amp", "open_hp_corr", "width_corr", "width_amp", "width_hp_corr",
            "oheight_corr", "open_lag", "open_jerk"]
    print("| variant | " + " | ".join(keys) + " |")
    for spec, s in summary.items():
        print(f"| {spec} | " + " | ".join(f"{s[k]:.3f}" if k in s else "–" for k in keys) + " |")
    if cross:
        print(f"\nCross-voice: {len(ids)} s1 photos, own voice vs {', '.join(v[0] for v in voices)}\n"
              "| variant | own-voice WER | other-voice WER | gap (points) | by voice |")
        for spec in cross:
            s = summary[spec]
            by_voice = ", ".join(f"{v} {w:.3f}" for v, w in s["other_wer_by_voice"].items())
            print(f"| {spec} | {s['wer']:.3f} | {s['other_wer']:.3f} | {100 * (s['other_wer'] - s['wer']):+.1f} "
                  f"| {by_voice} |")


if __name__ == "__main__":
    main()
