"""docs/results.md, the results that hold today, regenerated from JSON instead of copied by hand.

    python scripts/results_tables.py           # write docs/results.md
    python scripts/results_tables.py --check   # exit 1 when docs/results.md is not what this writes

The figures come from the shipped checkpoints' sidecars (their `test`, `people`, `lipreading`, `val` summaries),
docs/bench_cpu.json and docs/bench_batch_cpu.json (`talkface bench`), docs/lmk2video_unseen_face.json, the report
JSONs the evaluation commands wrote, kept in docs/reports/ (numbers only: never dev-set pixels), and
docs/reports/recorded.json: the figures no JSON report holds, each with its command, data and the notebook section
it comes from. Every row names its command, data and split, and links to the notebook section with its history.
A new measurement goes in by replacing its report in docs/reports/ (or its row of recorded.json) and re-running
this script. A new recorded.json row with `"table": "speed"` (any name in TABLES) goes at the end of that table
without a code change; its `notebook` must be a heading of docs/notebook.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# Every JSON the tables read, by a short name.
SOURCES = {
    "audio2lmk": "audio2lmk/data/audio2lmk.json",
    "lmk2video": "lmk2video/data/lmk2video.json",
    "fetch_attention": "lmk2video/data/fetch_attention.json",
    "expression": "talkface/expression/data/expression.json",
    "lipreader": "talkface/lipreading/data/lipreader.json",
    "bench": "docs/bench_cpu.json",
    "bench_batch": "docs/bench_batch_cpu.json",
    "unseen_face": "docs/lmk2video_unseen_face.json",
    "chatter": "docs/reports/chatter.json",
    "grid": "docs/reports/grid.json",
    "people": "docs/reports/people.json",
    "lmk2video_report": "docs/reports/lmk2video.json",
    "dub_s1": "docs/reports/dub_s1.json",
    "dub_other": "docs/reports/dub_other.json",
    "expression_report": "docs/reports/expression.json",
    "recorded": "docs/reports/recorded.json",
}


class TablesError(Exception):
    """A source that is missing or lacks a figure, or a row that names no notebook section: one line."""


@dataclass
class Row:
    figure: str
    value: str
    data: str
    command: str
    source: str  # a key of SOURCES
    notebook: str  # a heading of docs/notebook.md


@dataclass
class Section:
    title: str  # the heading; kept stable, the README links to its anchor
    intro: str
    rows: list[Row]


class Sources:
    """The JSON files, read once; `get` names the file and the missing key when a figure is not there."""

    def __init__(self, root: Path = ROOT):
        self.root = root
        self._loaded: dict[str, dict] = {}
        self.recorded_used: set[str] = set()

    def json(self, name: str) -> dict:
        if name not in self._loaded:
            path = self.root / SOURCES[name]
            try:
                self._loaded[name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise TablesError(f"{SOURCES[name]}: cannot read it as JSON ({exc})") from None
        return self._loaded[name]

    def get(self, name: str, *path: str):
        value = self.json(name)
        for i, key in enumerate(path):
            if not isinstance(value, dict) or key not in value:
                raise TablesError(f"{SOURCES[name]}: no {'.'.join(path[:i + 1])}")
            value = value[key]
        return value

    def ran(self, name: str) -> str:
        """When and how a report in docs/reports/ was made (recorded.json's `reports`)."""
        report = Path(SOURCES[name]).name
        return self.get("recorded", "reports", report, "ran")

    def run_command(self, name: str) -> str:
        """The exact command that wrote a report in docs/reports/ (recorded.json's `reports`)."""
        return self.get("recorded", "reports", Path(SOURCES[name]).name, "command")

    def recorded(self, row_id: str) -> Row:
        rows = {r["id"]: r for r in self.get("recorded", "rows")}
        if row_id not in rows:
            raise TablesError(f"{SOURCES['recorded']}: no row {row_id}")
        self.recorded_used.add(row_id)
        r = rows[row_id]
        return Row(r["figure"], r["value"], r["data"], r["command"], "recorded", r["notebook"])

    def unplaced(self) -> list[dict]:
        """recorded.json's rows no table function placed: they go at the end of the table their `table` names."""
        return [r for r in self.get("recorded", "rows") if r["id"] not in self.recorded_used]


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


# ---- the tables ------------------------------------------------------------------------------------------------

EVAL_AUDIO2LMK = ("talkface eval audio2lmk --checkpoint audio2lmk/data/audio2lmk.safetensors --split test "
                  "--prepared data/prepared")


def method(names, prefix: str, source: str) -> str:
    """The one method name (of a report's methods) that starts with `prefix`: `auto (learned:...)`, ..."""
    found = [name for name in names if name.startswith(prefix)]
    if len(found) != 1:
        raise TablesError(f"{SOURCES[source]}: no one method starting {prefix!r} in {list(names)}")
    return found[0]


def end_to_end(s: Sources) -> Section:
    real = s.get("lipreader", "test_real_videos")
    report, command = s.get("grid"), s.run_command("grid")
    product, oracle, copy, real_20 = (report["methods"][method(report["methods"], prefix, "grid")]
                                      for prefix in ("audio:", "oracle", "copy first frame", "real video"))
    clips = f"GRID s1 test split, first {report['n_clips']} usable clips"
    section = "24 strict-reader epochs: the same fine-tune run twice, shipped as `auto` (issues 13 and 15)"
    return Section(
        "End to end on GRID s1",
        "The project's GRID lipreader (trained on s1's train split) reads whole videos: the photo (each clip's first "
        "frame) made to speak the clip's sentence from its audio. Lower WER reads better; the real videos are the "
        "ceiling, the first frame copied the floor.",
        [Row("Lipreader WER / CER on the product's videos made from audio (`auto`: both learned stages)",
             f"**{pct(product['wer'])}** / {pct(product['cer'])}", f"{clips}; ran {s.ran('grid')}", command, "grid",
             section),
         Row("The same videos: PSNR / mouth LMD / mouth-opening corr / identity distance (FMS)",
             f"{product['psnr']:.2f} dB / {product['mouth_lmd']:.4f} / {product['mouth_corr']:.3f} / "
             f"{product['face_distance']:.3f} ({product['fms']:.0f} %)", f"{clips}; same run", command, "grid",
             section),
         Row("The renderer alone: videos driven by the clips' real landmark tracks (`--oracle`), WER / CER; PSNR",
             f"{pct(oracle['wer'])} / {pct(oracle['cer'])}; {oracle['psnr']:.2f} dB", f"{clips}; same run", command,
             "grid", "Its own training face: the learned lmk2video's own frames on s1, the mouth only on everyone "
             "else (issue 14)"),
         Row("Floors on those clips: the real videos / the first frame copied, WER",
             f"{pct(real_20['wer'])} / {pct(copy['wer'])}", f"{clips}; same run", command, "grid", section),
         Row("Lipreader WER / CER on all the real test videos", f"{pct(real['wer'])} / {pct(real['cer'])}",
             f"GRID s1 test split, all {real['n_videos']} usable raw videos",
             "talkface eval wer --videos <the s1 test videos> --out wer.json", "lipreader",
             "Lipreader (the WER yardstick)")])


def audio2lmk(s: Sources) -> Section:
    test = s.get("audio2lmk", "test", "audio2lmk_test.json", "summary")
    s1_test = (f"GRID s1 test split (`../shared/data/grid/splits/s1_test.txt`), "
               f"{s.get('audio2lmk', 'test', 'audio2lmk_test.json', 'n_clips')} usable clips")
    lr = s.get("audio2lmk", "lipreading")
    cross = next(iter(lr["summary"].values()))
    by_voice = " / ".join(f"{v} {pct(w)}" for v, w in cross["other_wer_by_voice"].items())
    return Section(
        "audio2lmk: speech to mouth motion",
        "The shipped `auto` (three LSTMs on per-utterance standardised log-mels, fine-tuned with a landmark "
        "lipreader's word loss, voice gate) against the training-free phonetic default and a still mouth. Mouth "
        "LMD: mean landmark distance over interocular (lower is better); corr: Pearson correlation of the inner-lip "
        "opening with the real one.",
        [Row("s1 test: mouth LMD, `auto` / phonetic / still",
             f"**{test['learned']['mouth_lmd']:.4f}** / {test['phonetic']['mouth_lmd']:.4f} / "
             f"{test['still']['mouth_lmd']:.4f}", s1_test, EVAL_AUDIO2LMK, "audio2lmk",
             "24 strict-reader epochs: the same fine-tune run twice, shipped as `auto` (issues 13 and 15)"),
         Row("s1 test: mouth-opening corr, `auto` / phonetic / still",
             f"**{test['learned']['mouth_opening_corr']:.3f}** / {test['phonetic']['mouth_opening_corr']:.3f} / "
             f"{test['still']['mouth_opening_corr']:.3f}", s1_test, EVAL_AUDIO2LMK, "audio2lmk",
             "24 strict-reader epochs: the same fine-tune run twice, shipped as `auto` (issues 13 and 15)"),
         Row("Cross-voice lipreading: s1 photos driven by s1's own sentences / by other GRID speakers' (WER)",
             f"**{pct(cross['wer'])}** / **{pct(cross['other_wer'])}** ({by_voice}; gap "
             f"{100 * (cross['other_wer'] - cross['wer']):+.1f} points)",
             f"first {lr['clips']} s1 test clips' photos; other voices: dev `grid_other/` (GRID s23 `priazn`, s2 "
             "`swwp2s`), never trained on; `lead_ens_cal` is the shipped checkpoint", lr["command"], "audio2lmk",
             "24 strict-reader epochs: the same fine-tune run twice, shipped as `auto` (issues 13 and 15)"),
         *people_motion_rows(s)])


PEOPLE_SECTION = "Where the mouth's amplitude is lost on other people (issue 13): in the track, not the render"


def people_motion_rows(s: Sources) -> list[Row]:
    """Mouth motion on people never seen: their talking videos re-made from the first frame, and voices."""
    report, ran, command = s.get("people"), s.ran("people"), s.run_command("people")
    auto, phonetic = method(report["methods"], "auto", "people"), method(report["methods"], "phonetic", "people")
    grid, tv = report["videos"]["grid_other"], report["videos"]["talk"]
    tv_clips = ", ".join(f"{r['clip']} {r['corr']:.2f}" for r in report["video_clips"]
                         if r["method"] == auto and r["group"] == "talk")
    s2, s42 = report["voices"]["s2"], report["voices"]["s42"]
    videos = "first 15 s of each, still head, warp render"
    return [Row("Unseen GRID speakers' videos re-made from their first frame and own speech: mouth-opening corr / "
                "amplitude ratio, `auto` (phonetic)",
                f"**{grid[auto]['corr']:.3f}** / {grid[auto]['amp_ratio']:.2f} ({grid[phonetic]['corr']:.3f} / "
                f"{grid[phonetic]['amp_ratio']:.2f}); issue 13's goals ≥ 0.70 / 0.85–1.15",
                f"dev `grid_other/` (GRID s2, s23: {grid[auto]['clips']} clips), {videos}; ran {ran}", command,
                "people", PEOPLE_SECTION),
            Row("The same, dev TV clips (music, other languages)",
                f"**{tv[auto]['corr']:.3f}** / {tv[auto]['amp_ratio']:.2f} ({tv[phonetic]['corr']:.3f} / "
                f"{tv[phonetic]['amp_ratio']:.2f}); per clip, `auto` corr: {tv_clips}",
                f"dev `talk/` ({tv[auto]['clips']} clips with speech; {', '.join(report['skipped'])} skipped), "
                f"{videos}; same run", command, "people",
                "The voice gate also listens to a denoised copy: speech under a TV show's music moves the mouth (issue 13)"),
            Row("The mouth in silence (≥ 0.2 s from speech): opening above the clip's closed level, `auto` / real video",
                f"GRID {grid[auto]['silence_open']:.3f} / {grid[auto]['real_silence_open']:.3f}; TV "
                f"{tv[auto]['silence_open']:.3f} / {tv[auto]['real_silence_open']:.3f}", "as the two rows above",
                command, "people", PEOPLE_SECTION),
            Row("Six speakers' spoken digits on a closed-mouth / a parted-lips photo: mouth opening's corr with the "
                "speech envelope; digit spread across speakers (0: every voice opens the mouth alike), `auto` "
                "(phonetic)",
                f"{s2[auto]['env_corr']:.3f} / {s42[auto]['env_corr']:.3f}; {s2[auto]['digit_spread']:.2f} / "
                f"{s42[auto]['digit_spread']:.2f} ({s2[phonetic]['env_corr']:.3f} / {s42[phonetic]['env_corr']:.3f}; "
                f"{s2[phonetic]['digit_spread']:.2f} / {s42[phonetic]['digit_spread']:.2f})",
                "dev `voices/` (6 speakers, digits 0–9 with 0.5 s pauses, 8 kHz) on dev photos s2, s42; same run",
                command, "people", PEOPLE_SECTION),
            Row("Head motion from speech on those photos: sway / jitter / drift (interoculars), `auto` (phonetic)",
                f"{s2[auto]['head_sway']:.3f} / {s2[auto]['head_jitter']:.4f} / {s2[auto]['head_drift']:.3f} "
                f"({s2[phonetic]['head_sway']:.3f} / {s2[phonetic]['head_jitter']:.4f} / "
                f"{s2[phonetic]['head_drift']:.3f}: random sway)", "dev `voices/` on photo s2; same run", command,
                "people", PEOPLE_SECTION)]


def people_render_rows(s: Sources) -> list[Row]:
    """The renderer on people never seen: their videos animated by their own tracks; photos made to speak."""
    report, command = s.get("people"), s.run_command("people")
    warp, learned = method(report["methods"], "real track (warp)", "people"), method(report["methods"], "real track (learned", "people")
    auto = method(report["methods"], "auto", "people")
    rows = []
    for group, label in (("grid_other", "unseen GRID speakers"), ("talk", "dev TV clips")):
        g = report["videos"][group]
        cells = [f"{g[m]['psnr']:.2f} dB / {g[m]['ssim']:.3f} / {g[m]['mouth_psnr']:.2f} dB / {g[m]['id_distance']:.3f}"
                 for m in (learned, warp)]
        rows.append(Row(f"Videos of {label} animated from their first frame by their own landmark tracks: face PSNR / "
                        "SSIM / mouth PSNR / identity distance, `auto` (warp)", f"{cells[0]} ({cells[1]})",
                        f"dev `{group}/`, first 15 s, {g[learned]['clips']} clips; ran {s.ran('people')}", command,
                        "people", "Where the warp loses, and forehead points that move with the head (issue 14, third pass)"))
    v = report["voices"]
    rows.append(Row("Photos made to speak (`auto`): sharpness kept at mouth / eyes, seam, FMS, identity distance to "
                    "the photo, photo s2 / s42",
                    " / ".join(f"{v[p][auto]['mouth_sharpness']:.2f}" for p in ("s2", "s42")) + ", "
                    + " / ".join(f"{v[p][auto]['eye_sharpness']:.2f}" for p in ("s2", "s42")) + ", "
                    + " / ".join(f"{v[p][auto]['seam']:.3f}" for p in ("s2", "s42")) + ", "
                    + " / ".join(f"{v[p][auto]['fms']:.0f}" for p in ("s2", "s42")) + ", "
                    + " / ".join(f"{v[p][auto]['id_distance']:.3f}" for p in ("s2", "s42")),
                    "dev photos s2 (closed mouth), s42 (parted lips) driven by dev `voices/`; same run", command,
                    "people", "Any face, any size: sharpness, seams, identity on people never seen (issue 14)"))
    return rows


def lmk2video_s1_rows(s: Sources) -> list[Row]:
    """The renderers on s1's test clips driven by their real tracks (`talkface eval lmk2video`)."""
    report, command = s.get("lmk2video_report"), s.run_command("lmk2video_report")
    summary = report["summary"]
    data = f"GRID s1 test split, {report['n_clips']} usable clips, 128 px crops"
    section = ("Its own training face: the learned lmk2video's own frames on s1, the mouth only on everyone else "
               "(issue 14)")

    def cells(name: str, bold: bool = False) -> str:
        m = summary[name]
        psnr = f"**{m['psnr']:.2f} dB**" if bold else f"{m['psnr']:.2f} dB"
        return f"{psnr} / {m['ssim']:.4f} / {m['mouth_psnr']:.2f} dB (FMS {m['fms']:.0f})"

    fps = report["throughput_fps"]
    return [Row("s1 test, real tracks: PSNR / SSIM / mouth PSNR, the product (`auto`: its own frames on s1)",
                cells("product", bold=True) + " (issue 14's bar: ≥ 33.0 dB)", f"{data}; ran {s.ran('lmk2video_report')}",
                command, "lmk2video_report", section),
            Row("The same, the path every other face gets (only the mouth opening painted)",
                cells("product_other_faces"), f"{data}; same run", command, "lmk2video_report", section),
            Row("The same, the training-free warp", cells("warp"), f"{data}; same run", command, "lmk2video_report",
                section),
            Row("The same, the first frame copied (floor)", cells("copy"), f"{data}; same run", command,
                "lmk2video_report", section),
            Row("Render throughput at 128 px, one thread: learned / warp",
                f"{fps['learned']:.0f} / {fps['warp']:.0f} frames/s", f"{data}; same run (machine shared)", command,
                "lmk2video_report", section)]


def lmk2video(s: Sources) -> Section:
    unseen = s.get("unseen_face", "summary")
    return Section(
        "lmk2video: landmarks to face video",
        "Driven by the clips' real landmark tracks, so only the renderer is measured. `auto` renders its own frames on "
        "the face it was trained on (s1) and paints only inside the mouth opening on every other face (the product "
        "for other faces row); `warp` is the training-free renderer.",
        [*lmk2video_s1_rows(s),
         *(Row(f"{figure}, warp / `auto` / net alone",
               " / ".join(f"{unseen[method][key]:.{digits}f}" for method in ("warp", "learned", "learned_net_alone")),
               "first 10 s1 test tracks retargeted to the photo", s.get("unseen_face", "command"), "unseen_face",
               "Faces it never saw")
           for figure, key, digits in (
               ("A face it never saw (`examples/face.png` driven by s1 tracks): mouth LMD", "mouth_lmd", 4),
               ("The same: identity distance to the photo (dlib descriptor)", "fms_distance", 3)))])


def dubbing(s: Sources) -> Section:
    val = s.get("fetch_attention", "val")
    return Section(
        "Dubbing",
        "`talkface dub` with `--mouth auto` (`generate` on s1, the generator's own face; `fetch`, the video's own "
        "lips, on everyone else) and the motion gain matched to the video. Cross-dub: a clip dubbed with another "
        "clip's speech, read against the new sentence; self-dub: with its own speech, compared with its own frames.",
        [*dub_s1_rows(s), *dub_other_rows(s),
         Row("`--fetch-blend learned` (not the default): held-out lip PSNR, learned / shape blend, 3 candidates; 5",
             f"{val['learned_dub_k_psnr']:.2f} / {val['shape_dub_k_psnr']:.2f} dB; "
             f"{val['learned_k_max_psnr']:.2f} / {val['shape_k_max_psnr']:.2f} dB",
             f"{s.get('fetch_attention', 'data', 'n_val')} held-out s1 train-split clips, real landmarks as targets",
             s.get("fetch_attention", "training", "command"), "fetch_attention",
             "A learned blend of the fetched mouths (issue 15, FLNet's attention): kept behind `--fetch-blend learned`"),
         s.recorded("dub.occlusion"), s.recorded("dub.occlusion_false")])


DUB_SECTION = "The dub opens the mouth as far as the person in the video does (issue 15; issue 13's amplitude, for dubs)"


def dub_s1_rows(s: Sources) -> list[Row]:
    """s1 test clips dubbed with another clip's speech (read by the lipreader) and with their own."""
    report, command = s.get("dub_s1"), s.run_command("dub_s1")
    m = report["methods"]
    self_dub, cross, untouched, real = (m[method(m, prefix, "dub_s1")] for prefix in
                                        ("self-dub", "cross-dub", "floor: untouched", "floor: real video"))
    gain = report["motion_gain_used"]
    data = (f"GRID s1 test split, first 60 ids ({self_dub['clips']} usable), mouth "
            f"`{'/'.join(report['mouth_used'])}`, motion gain {gain['min']:.2f}–{gain['max']:.2f} (mean {gain['mean']:.2f})")
    return [Row("s1 cross-dub: lipreader WER / CER on the new sentence; the real videos; the untouched video read as "
                "the new sentence",
                f"**{pct(cross['wer'])}** / {pct(cross['cer'])}; {pct(real['wer'])}; {pct(untouched['wer'])} "
                "(issue 15's bar: within 15 points of the real videos)", f"{data}; ran {s.ran('dub_s1')}", command,
                "dub_s1", DUB_SECTION),
            Row("s1 self-dub: WER / face-crop PSNR / mouth PSNR / mouth-opening corr",
                f"{pct(self_dub['wer'])} / {self_dub['psnr']:.2f} dB / **{self_dub['mouth_psnr']:.2f} dB** / "
                f"{self_dub['mouth_corr']:.3f} (bar: mouth PSNR ≥ 32 dB)", f"{data}; same run", command, "dub_s1",
                DUB_SECTION)]


def dub_other_rows(s: Sources) -> list[Row]:
    """Other people's talking videos dubbed with their own speech, frame by frame, against the silent floor."""
    report, command = s.get("dub_other"), s.run_command("dub_other")
    rows = []
    for group, label in (("grid_other", "Unseen GRID speakers (s2, s23)"), ("talk", "Dev TV clips")):
        methods = report["videos"][group]
        dub, floor = (methods[method(methods, prefix, "dub_other")] for prefix in ("self-dub", "floor"))
        data = (f"dev `{group}/`, first {report['max_seconds']:g} s of each ({dub['clips']} videos, "
                f"{dub['seconds']:.0f} s), mouth `{'/'.join(report['mouth_used'])}`")
        rows.append(Row(f"{label} self-dubbed: face-crop / mouth PSNR, mouth-opening corr (mouth held still), "
                        "amplitude ratio, identity distance",
                        f"{dub['face_psnr']:.2f} / {dub['mouth_psnr']:.2f} dB, **{dub['mouth_corr']:.3f}** "
                        f"({floor['mouth_corr']:.3f}), {dub['amp_ratio']:.2f}, {dub['id_distance']:.3f}",
                        data + (f"; ran {s.ran('dub_other')}" if group == "grid_other" else "; same run"), command,
                        "dub_other", DUB_SECTION))
    return rows


def other_people(s: Sources) -> Section:
    return Section(
        "Other people",
        "People the models never saw (`../shared/data/dev`, never trained or tuned on). Speech-driven motion on "
        "them is in the audio2lmk table, dubs of their videos in the Dubbing table.",
        [*people_render_rows(s), s.recorded("people.photos"), s.recorded("people.real_track"),
         s.recorded("people.real_track_warp")])


def hardening(s: Sources) -> Section:
    missing = s.get("bench", "onnx", "cold_synth", "missing_input_wall_s")
    return Section(
        "Hardening",
        "Sound that is not speech must not move the mouth; bad input must fail fast, in one line, leaving nothing "
        "behind. Chatter: the mouth's frame-to-frame motion on a sound over its motion on real speech (the bad-input "
        "test's bar is 0.35).",
        [*chatter_rows(s), s.recorded("hard.chatter30"), s.recorded("hard.gate_tv"),
         Row("A missing input reported (whole process)", f"{missing:.2f} s wall",
             "`talkface synth --image <missing> ...`, median of runs",
             "talkface bench --out docs/bench_cpu.json --backend both --sizes 128 256 512 --cold-runs 5 "
             "--dub-runs 3", "bench", "Speed"),
         s.recorded("hard.no_face"), s.recorded("hard.huge"), s.recorded("hard.bad_audio")])


def chatter_rows(s: Sources) -> list[Row]:
    report = s.get("chatter")
    models = report["models"]
    ran, command = s.ran("chatter"), s.run_command("chatter")
    per_model = []
    for spec, row in models.items():
        cells = {f"{row[name]:.2f} ({max(draws):.2f})" for name, draws in row["per_draw"].items()}
        label = "`auto`" if spec.startswith("ck:audio2lmk/data/") else spec
        per_model.append(f"{label}: " + (f"**{cells.pop()}** on every sound" if len(cells) == 1 else
                                         ", ".join(f"{name} {row[name]:.2f} ({max(draws):.2f})"
                                                   for name, draws in row["per_draw"].items())))
    pop = "speech over pop loop, 10 dB: corr with clean"
    sounds = ", ".join(next(iter(models.values()))["per_draw"])
    section = "The voice gate also listens to a denoised copy: speech under a TV show's music moves the mouth (issue 13)"
    return [Row(f"Chatter on held-out sounds ({sounds}), {len(report['seeds'])} draws each: mean (worst draw)",
                "; ".join(per_model),
                f"sounds the script generates (none in training); reference speech: dev `voices/`; ran {ran}",
                command, "chatter", section),
            Row("Speech under the pop loop at 10 dB SNR: corr of the mouth opening with the clean speech's",
                " / ".join(f"{'`auto`' if spec.startswith('ck:audio2lmk/data/') else spec} {row[pop]:.2f}"
                           for spec, row in models.items()),
                "dev `voices/` (3 speakers) with the script's pop loop mixed in; same run", command, "chatter",
                section)]


EXPRESSION_SECTION = "Expression control, second pass (issue 29, 2026-12-08): teeth as bright as real ones, folds as creases"
EXPRESSIONS_SHOWN = ("happy", "surprised", "sad", "angry")


def expression_photo_rows(s: Sources) -> list[Row]:
    """Edits of dev photos read by the offline classifier, per photo set."""
    report = s.get("expression_report")
    command, rows = s.run_command("expression_report"), []
    for group, label in (("smile", "dev `smile/` (neutral photos of 20 people, 1350²)"), ("photos", "dev `photos/` (7)")):
        sets = [report["photos"][f"{group}/{name}"] for name in EXPRESSIONS_SHOWN]
        p_at = [{k.split("@")[1]: v for k, v in x.items() if k.startswith("p_") and "@" in k} for x in sets]
        data = f"{label}; ran {s.ran('expression_report')}" if group == "smile" else f"{label}; same run"
        rows += [Row(f"{label.split(' (')[0].capitalize()}: p(intended) at intensity 1 (at 0), "
                     + " / ".join(EXPRESSIONS_SHOWN),
                     " / ".join(f"**{p['1']:.3f}**" if name == "happy" else f"{p['1']:.3f}"
                                for name, p in zip(EXPRESSIONS_SHOWN, p_at))
                     + " (" + " / ".join(f"{p['0']:.3f}" for p in p_at) + ")", data, command, "expression_report",
                     EXPRESSION_SECTION),
                 Row("The same: share of photos whose p(intended) rises from 0 to 1; intended is the top class at 1; "
                     "identity distance to the input at 1",
                     " / ".join(f"{100 * x['rises_0_to_1']:.0f}" for x in sets) + " %; "
                     + " / ".join(f"{100 * x['top_is_intended@1']:.0f}" for x in sets) + " %; "
                     + " / ".join(f"{x['identity_distance@1']:.3f}" for x in sets), f"{label}; same run", command,
                     "expression_report", EXPRESSION_SECTION)]
    happy = report["photos"]["smile/happy"]
    rows.append(Row("The same 20 people's real smiles: p(happy); people whose edit (happy, 1) reads at least as happy",
                    f"{happy['real_smile_happy']:.3f}; {100 * happy['edited_at_least_real']:.0f} %",
                    "dev `smile/`: the smiling photos; same run", command, "expression_report", EXPRESSION_SECTION))
    floor = happy["person_agnostic_floor"]
    rows.append(Row("Happy: inner-face landmark error to the person's real smile over the neutral photo's: edited "
                    "at 1 (median); at 0.5 (means); the other people's mean real smile put on each face (median: the "
                    "best a model blind to the person does; the bar asks ≤ 0.5)",
                    f"{happy['error_ratio_median']:.2f}; {happy['error_to_smile@0.5'] / happy['neutral_error_to_smile']:.2f}"
                    f"; **{floor['error_ratio_median']:.2f}**",
                    "dev `smile/`: 20 people, neutral and smiling photos; same run", command, "expression_report",
                    EXPRESSION_SECTION))
    psnr0 = min(x["psnr_min@0"] for x in report["photos"].values())
    rows.append(Row("Intensity 0: the photo unchanged (lowest PSNR to the input over every photo)",
                    f"{psnr0:.0f} dB (the metric's cap: bit for bit)", "dev `smile/` and `photos/`; same run", command,
                    "expression_report", EXPRESSION_SECTION))
    return rows


def expression_speech_row(s: Sources) -> Row:
    speech = s.get("expression_report", "speech")
    return Row("With speech (`synth --expression happy:0.7` vs none): mouth-opening corr between the two renders; "
               "p(happy) over the frames with / without",
               " / ".join(f"{r['opening_correlation']:.3f}" for r in speech) + "; "
               + " / ".join(f"{r['happy_on']:.2f}" for r in speech) + " vs "
               + " / ".join(f"{r['happy_off']:.2f}" for r in speech),
               f"{len(speech)} dev `smile/` neutral photos (≤ 512 px), `examples/speech.wav`; same run",
               s.run_command("expression_report"), "expression_report", EXPRESSION_SECTION)


def expression(s: Sources) -> Section:
    test = s.get("expression", "test", "per_expression", "all")
    return Section(
        "Expression control",
        "`talkface edit`, `--expression`, `--au`: the person's own landmarks moved by a model learned from RaFD, "
        "the photo warped onto them. p(intended): the offline FER2013 classifier's probability of the intended "
        "expression (it calls 11 of the 20 real smiles neutral).",
        [Row("Held-out RaFD people: inner-face landmark error / interocular, model / class mean / no change",
             f"**{test['model']:.3f}** / {test['class_mean']:.3f} / {test['no_change']:.3f}",
             f"RaFD frontal camera, 15 held-out people × 3 gazes × 7 expressions ({test['n']} faces); the "
             "command's first table", s.run_command("expression_report"), "expression", EXPRESSION_SECTION),
         *expression_photo_rows(s), s.recorded("expr.real_smile_identity"), expression_speech_row(s)])


def speed(s: Sources) -> Section:
    """`talkface bench --backend both`: every figure for the ONNX Runtime backend (the product) and torch's."""
    runs = {backend: s.get("bench", backend) for backend in ("onnx", "torch")}
    batch = s.get("bench_batch", "batch")
    bench_command = "talkface bench --out docs/bench_cpu.json --backend both --sizes 128 256 512 --cold-runs 5 --dub-runs 3"
    onnx, torch = runs["onnx"], runs["torch"]

    def both(fmt) -> str:
        return f"{fmt(onnx)} / {fmt(torch)}"

    cold, dub = onnx["cold_synth"], onnx["cold_dub"]
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in onnx["stages_s"].items())
    sizes = ", ".join(f"{size} px {fps:.0f} / {torch['generator_fps'][size]:.0f}"
                      for size, fps in onnx["generator_fps"].items())
    return Section(
        "Speed",
        "CPU only (no GPU run has been made). Whole processes timed from outside, start-up included; ONNX Runtime "
        "(the product's backend) / torch (`--backend torch`) where a row has both, measured in one bench run. The "
        "bench runs and the other whole-process timings were made on different days and loads of the project's "
        "2-core x86_64 machine: compare rows only within one command.",
        [Row(f"Cold `talkface synth`, {cold['audio_seconds']:g} s of speech, 512² photo, `auto`: wall (median of "
             f"{cold['runs']}); peak memory",
             both(lambda r: f"**{r['cold_synth']['synth_wall_s']:.2f} s**") + "; "
             + both(lambda r: f"{r['cold_synth']['peak_rss_mb']:.0f} MB"),
             "`examples/face.png` + the first 3 s of `examples/speech.wav`", bench_command, "bench", "Speed"),
         s.recorded("speed.synth_light"),
         Row(f"In-process stages, {onnx['inputs']['audio_seconds']:g} s of speech ({onnx['inputs']['frames']} "
             "frames), ONNX Runtime", f"{onnx['total_s']:.2f} s: {stages}; render {onnx['lmk2video_fps']:.0f} "
             f"frames/s (torch: {torch['total_s']:.2f} s, {torch['lmk2video_fps']:.0f} frames/s)",
             "`examples/face.png` + `examples/speech.wav`, crop 128", bench_command, "bench", "Speed"),
         Row("The learned generator alone, frames/s at each crop size", sizes,
             "`examples/face.png` cropped at each size (its teeth show: the net's change is not used there)",
             bench_command, "bench", "Speed"),
         s.recorded("speed.render_net"),
         Row(f"Cold `talkface dub`, {dub['video_seconds']:g} s {dub['video_size'][0]}×{dub['video_size'][1]} video + "
             "10 s of other speech: wall (median of 3); peak memory",
             both(lambda r: f"{r['cold_dub']['dub_wall_s']:.1f} s") + "; "
             + both(lambda r: f"{r['cold_dub']['peak_rss_mb']:.0f} MB") + " (issue 15's bar: 20 s)",
             "`examples/face.png` made to talk by `synth`, scaled and cropped to that size", bench_command, "bench",
             "Speed"),
         s.recorded("speed.install"),
         Row(f"`talkface batch`, {batch['jobs']} synth jobs of {batch['audio_seconds']:g} s",
             f"2 workers {batch['batch_2_workers']['s_per_job']:.2f} s/job ({batch['batch_2_workers']['vs_separate']:.2f}× "
             f"the {batch['separate']['s_per_job']:.2f} s/job of separate processes), 1 worker "
             f"{batch['batch_1_workers']['s_per_job']:.2f} s/job; outputs "
             f"{'byte-identical' if batch['identical_to_separate'] else 'not identical'} to separate runs",
             "the 512² example, seeds 0–19", "talkface bench --batch --cold-runs 0 --dub-runs 0 --repeats 1 "
             "--out docs/bench_batch_cpu.json", "bench_batch", "Speed"),
         s.recorded("speed.edit"), s.recorded("speed.help"), s.recorded("speed.dub_720p")])


TABLES: list[Callable[[Sources], Section]] = [end_to_end, audio2lmk, lmk2video, dubbing, other_people, hardening,
                                              expression, speed]


# ---- rendering -------------------------------------------------------------------------------------------------

def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def notebook_anchors(notebook: Path) -> dict[str, str]:
    """Heading text -> anchor, with GitHub's -1, -2 suffixes for repeats (outside code fences)."""
    anchors, seen, fence = {}, {}, False
    for line in notebook.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fence = not fence
        match = None if fence else re.match(r"#+ (.*)", line)
        if match:
            base = anchor(match.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            anchors.setdefault(match.group(1).strip(), base if n == 0 else f"{base}-{n}")
    return anchors


def link(source: str) -> str:
    """A markdown link from docs/results.md to a source JSON."""
    path = SOURCES[source]
    return f"[{Path(path).name}]({os.path.relpath(ROOT / path, DOCS)})"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


RERUN_SECTION = "The current tables re-measured (2026-12-07, issue 33)"


def render(sections: list[Section], anchors: dict[str, str]) -> str:
    sources = ", ".join(link(name) for name in SOURCES)
    if RERUN_SECTION not in anchors:
        raise TablesError(f"docs/notebook.md: no heading \"{RERUN_SECTION}\"")
    out = ["# Results", "",
           "What talkface does today, one table per capability. **Generated** by `python scripts/results_tables.py` "
           f"from JSON ({sources}): edit those, not this file (`--check` tells whether it is current). Each row "
           "names its command, data and split; the number in the last column links to the section of "
           "[the notebook](notebook.md) with its history and evidence. GRID figures are on speaker s1's fixed test "
           "split unless a row says otherwise (`pbio7a` and `prii9a` are damaged in the corpus and left out); "
           "\"dev\" is `../shared/data/dev`, people never trained or tuned on. One run each unless a row says "
           "otherwise, on the project's 2-core x86_64 CPU machine, no GPU. The reports in `docs/reports/` were re-run for "
           f"these tables: [the notebook, \"{RERUN_SECTION}\"](notebook.md#{anchors[RERUN_SECTION]}) says what each "
           "reproduced.", ""]
    for section in sections:
        notes: list[str] = []
        for row in section.rows:
            if row.notebook not in anchors:
                raise TablesError(f"docs/notebook.md: no heading \"{row.notebook}\" (row: {row.figure})")
            if row.notebook not in notes:
                notes.append(row.notebook)
        out += [f"## {section.title}", "", section.intro, "",
                "| figure | value | data | command | JSON | notebook |", "|---|---|---|---|---|---|"]
        for row in section.rows:
            k = notes.index(row.notebook) + 1
            out.append(f"| {cell(row.figure)} | {cell(row.value)} | {cell(row.data)} | `{cell(row.command)}` | "
                       f"{link(row.source)} | "
                       f"[{k}](notebook.md#{anchors[row.notebook]}) |")
        out += ["", "History and evidence in the notebook: "
                + "; ".join(f"{k}. [{h}](notebook.md#{anchors[h]})" for k, h in enumerate(notes, 1)) + ".", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def generate(root: Path = ROOT) -> str:
    s = Sources(root)
    sections = {}
    for table in TABLES:
        try:
            sections[table.__name__] = table(s)
        except (KeyError, StopIteration, TypeError) as exc:  # a report whose layout changed: name the table
            raise TablesError(f"table {table.__name__}: a source lacks a figure it reads "
                              f"({type(exc).__name__}: {exc})") from None
    for r in s.unplaced():
        if r.get("table") not in sections:
            raise TablesError(f"{SOURCES['recorded']}: row {r['id']} names no table (\"table\": one of "
                              f"{', '.join(sections)})")
        sections[r["table"]].rows.append(s.recorded(r["id"]))
    return render(list(sections.values()), notebook_anchors(root / "docs" / "notebook.md"))


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/results.md is not what this writes")
    args = parser.parse_args(argv)
    results = root / "docs" / "results.md"
    try:
        text = generate(root)
    except TablesError as exc:
        print(f"results_tables: error: {exc}", file=sys.stderr)
        return 1
    if args.check:
        current = results.read_text(encoding="utf-8") if results.exists() else ""
        if current != text:
            print("results_tables: docs/results.md is not what scripts/results_tables.py writes: run it",
                  file=sys.stderr)
            return 1
        return 0
    results.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
