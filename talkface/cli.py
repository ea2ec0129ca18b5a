"""The `talkface` command. Each subcommand imports what it needs when it runs, so `--help` stays fast.

Every failure ends in one line on stderr, `talkface: error: <what>: <problem>`, and a non-zero exit:
1 for bad input or a failed job, 2 for a bad command line, 130 for Ctrl-C, 143 for SIGTERM (SIGHUP: 129);
nothing partial is left beside the outputs (see talkface.safe_output).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from pathlib import Path

from talkface.errors import TalkfaceError

MOUTHS = ("auto", "generate", "fetch", "mix")  # talkface.dub.MOUTHS, spelled here so --help needs no torch
MOTION_GAIN = None  # talkface.dub.MOTION_GAIN (matched to the video), likewise
EXPRESSIONS = ("neutral", "happy", "sad", "surprised", "angry", "disgusted", "fearful", "contemptuous")  # likewise

# The GRID corpus: $TALKFACE_GRID_ROOT, else ../shared/data/grid beside the repository (--grid-root overrides).
DEFAULT_GRID_ROOT = Path(os.environ.get("TALKFACE_GRID_ROOT",
                                        Path(__file__).resolve().parents[1].parent / "shared" / "data" / "grid"))
# stage -> (module with `train(config)`, its config dataclass)
TRAINERS = {
    "audio2lmk": ("audio2lmk.train", "Audio2LmkConfig"),
    "lmk2video": ("lmk2video.train", "Lmk2VideoConfig"),
    "lipreader": ("talkface.lipreading.train", "LipreaderConfig"),
    "fetch_attention": ("lmk2video.train_fetch_attention", "FetchAttentionConfig"),
    "expression": ("talkface.expression.train", "ExpressionConfig"),
}


OUT_HELP = ("output video: .mp4 (or .m4v, .mov, .mkv; other types are refused), H.264 + AAC at 25 fps, "
            "at the photo's size (an odd width or height gains one pixel, a copy of the edge: H.264 4:2:0 "
            "needs even sizes); never an input or a device")


def _add_fetch_blend_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fetch-blend", default="shape", metavar="shape|learned|PATH",
                   help="how fetch and mix blend the fetched frames inside the lips: shape (default): one weight per "
                        "frame from how close its mouth is to the target; learned: per-pixel weights from the learned "
                        "attention (lmk2video/fetch_attention.py); or a fetch-attention checkpoint (.safetensors)")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line (`talkface: error: ...`, exit 2), not usage + error."""

    def error(self, message: str):
        self.exit(2, f"talkface: error: {message} (see {self.prog} --help)\n")


def _int_at_least(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"{value} out of range (from {low}" + (f" to {high})" if high is not None else " up)"))
        return value
    parse.__name__ = "number"
    return parse


def _crop_size(text: str) -> int | str:
    from talkface.face_crop import check_crop_size  # imported only when --size is given

    try:
        return check_crop_size(text)
    except TalkfaceError as err:
        raise argparse.ArgumentTypeError(str(err).split(": ", 1)[-1]) from None


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _add_motion_gain_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--motion-gain", type=_motion_gain, default=MOTION_GAIN, metavar="X",
                   help="how wide the mouth moves: the speech's motion x X about the video's rest mouth, or "
                        "'matched' (default): as wide as the person in the video opens their own mouth (x 1 to 2)")


def _motion_gain(text: str) -> float | None:
    return None if text == "matched" else _positive_float(text)


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not above 0")
    return value


def _add_backend_option(p: argparse.ArgumentParser) -> None:
    from talkface.stages import BACKENDS

    p.add_argument("--backend", choices=BACKENDS, default="onnx",
                   help="what runs the learned models: onnx (ONNX Runtime, the default: no torch needed) or torch "
                        "(needs `pip install 'talkface[train]'`; a checkpoint of yours without an exported .onnx)")


def _add_stage_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lmk2video", default="auto",
                   help="warp | learned | PATH to a checkpoint (default auto = the shipped learned generator, "
                        "else the warp)")
    p.add_argument("--size", type=_crop_size, default="auto",
                   help="face crop size in pixels (multiple of 8, at most 512), or auto (default): the face's own "
                        "size in the photo, so it keeps the photo's resolution")
    p.add_argument("--device", default="cpu",
                   help="cpu, cuda or cuda:N (onnxruntime-gpu), mps (--backend torch only) (default cpu)")
    _add_backend_option(p)
    p.add_argument("--face-index", type=_int_at_least(0), default=None,
                   help="which face to animate when the photo has several (0 = largest; default largest)")
    p.add_argument("--quiet", action="store_true", help="no progress display")


def _spec_checked(parse_name: str):
    """An argparse type that checks an expression option's syntax (imported only when the option is given);
    a keyframe file (.json/.csv) is read, and its errors reported, when the command runs."""
    def parse(text: str) -> str:
        from talkface.expression import spec

        if parse_name == "parse_expression" and Path(text).suffix.lower() in spec.KEYFRAME_SUFFIXES:
            return text
        try:
            getattr(spec, parse_name)(text)
        except TalkfaceError as err:
            raise argparse.ArgumentTypeError(str(err).split(": ", 1)[-1]) from None
        return text
    parse.__name__ = "expression"
    return parse


def _add_expression_options(p: argparse.ArgumentParser, keyframes: bool = True) -> None:
    names = ", ".join(EXPRESSIONS)
    p.add_argument("--expression", type=_spec_checked("parse_expression"), default=None, metavar="SPEC",
                   help=f"the face's expression: NAME[:INTENSITY 0-1], NAME one of {names}"
                        + ("; or keyframes '0:neutral 2.5:happy:0.8 5:surprised:0.5' (reached at each time, "
                           "0.5 s transitions), or a .json/.csv keyframe file" if keyframes else ""))
    p.add_argument("--au", type=_spec_checked("parse_units"), default=None, metavar="UNITS",
                   help="facial action units, each 0-1, e.g. 12=0.8,6=0.5 (brows 1,2,4; lids 5,7,43; cheeks 6; "
                        "nose 9; upper lip 10; lip corners 12,14,15,16,20; chin 17; lips 23,25; jaw 26)")


def _expression_plan(args):
    from talkface.expression.spec import expression_plan

    return expression_plan(args.expression, args.au)


def _add_any_sound_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--any-sound", action="store_true",
                   help="move the mouth to every sound, for singing or speech under loud music (default: the mouth "
                        "rests where no one is heard speaking, so music and noise do not make it chatter)")


def _add_people_options(e: argparse.ArgumentParser) -> None:
    e.add_argument("--videos", action="append", default=None, metavar="DIR",
                   help="folder of talking videos with speech (repeatable; default: dev grid_other/ and talk/)")
    e.add_argument("--voices", default=None, metavar="DIR",
                   help="folder of speech files (default: dev voices/); 'none' to skip")
    e.add_argument("--voice-photo", action="append", default=None, metavar="IMAGE",
                   help="photo the speech files drive (repeatable; default: dev photos s2.jpg, closed mouth, and s42.jpg, "
                        "parted lips)")
    e.add_argument("--audio2lmk", action="append", default=None, metavar="SPEC",
                   help="audio2lmk stages to compare (repeatable; default: auto and phonetic; the copy-first-frame "
                        "floor is always added)")
    e.add_argument("--lmk2video", default="warp", help="lmk2video stage (default warp: only mouth geometry is measured)")
    e.add_argument("--real-track", action="append", default=None, metavar="SPEC",
                   help="lmk2video stages that animate each video's first frame by its own landmark track, compared "
                        "pixel for pixel with the real frames (repeatable; default: warp and auto; 'none' to skip)")
    e.add_argument("--max-seconds", type=float, default=15.0, help="only the first N s of each video (default 15)")
    e.add_argument("--limit", type=int, default=None, help="only the first N videos and N voice runs")
    e.add_argument("--device", default="cpu")
    e.add_argument("--out", default="runs/eval_people", help="folder for report.md/.json and contact_sheet.png")


def _add_expression_eval_options(e: argparse.ArgumentParser) -> None:
    e.add_argument("--dev", default=None, metavar="DIR",
                   help="the people set with smile/ and photos/ (default ../shared/data/dev)")
    e.add_argument("--limit", type=_int_at_least(1), default=None, help="only the first N people and N photos")
    e.add_argument("--speech-photos", type=_int_at_least(0), default=3,
                   help="smile/ neutral photos driven by the bundled speech with and without the expression (0: none)")
    e.add_argument("--speech-expression", default="happy:0.7", metavar="SPEC", help="the expression they get")
    e.add_argument("--speech-seconds", type=_positive_float, default=None, help="only the first N s of the speech")
    e.add_argument("--no-rafd", action="store_true", help="skip the held-out RaFD landmark error")
    e.add_argument("--out", default="runs/eval_expression", help="report folder (report.md/.json/.csv)")


def _add_eval_options(e: argparse.ArgumentParser, out: str, prepared: bool = True) -> None:
    """The options every GRID evaluation shares: which clips, where the data is, which device, where to write."""
    e.add_argument("--split", default="test")
    e.add_argument("--speaker", default="s1")
    if prepared:
        e.add_argument("--prepared", default="data/prepared", help="prepared GRID folder (talkface prepare grid)")
    e.add_argument("--grid-root", default=str(DEFAULT_GRID_ROOT), help="GRID root (split files; raw clips for dub)")
    e.add_argument("--limit", type=_int_at_least(1), default=None, help="only the first N usable clips of the split")
    e.add_argument("--device", default="cpu")
    e.add_argument("--out", default=out, help="report folder (report.md/.json and the evaluation's figures)")


def _parser() -> _Parser:
    parser = _Parser(prog="talkface", description="Talking-face video from one photo and speech.",
                     epilog="Errors: one line on stderr naming the file and the problem; exit 1 (bad input), "
                            "2 (bad command line), 130/143 (Ctrl-C / SIGTERM). Nothing partial is left behind.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="photo + speech -> talking-face video")
    p.add_argument("--image", required=True, help="face photo (any common format; transparency over white)")
    p.add_argument("--audio", required=True, help="speech recording (wav, flac, mp3, m4a, ogg, or a video's audio; "
                                                  "any rate, any channels: the video carries it as it is)")
    p.add_argument("--out", required=True, help=OUT_HELP)
    p.add_argument("--audio2lmk", default="auto",
                   help="phonetic | learned | PATH to a checkpoint (default: learned when shipped, else phonetic)")
    _add_stage_options(p)
    p.add_argument("--seed", type=_int_at_least(0, 2**32 - 1), default=0,
                   help="seed for blinks and head motion (0 to 2^32-1)")
    p.add_argument("--no-blink", action="store_true", help="no eye blinks")
    p.add_argument("--still", action="store_true", help="no head motion")
    _add_any_sound_option(p)
    p.add_argument("--motion-gain", type=_positive_float, default=1.0, metavar="X",
                   help="how wide the mouth moves: the jaw and lip motion x X about the closed mouth (default 1: as "
                        "the model predicts it, calibrated to its training speaker; people articulate differently "
                        "widely)")
    p.add_argument("--save-landmarks", default=None, help="also write the landmark track (.npz)")
    _add_expression_options(p)

    p = sub.add_parser("animate", help="photo + landmark track -> video (the face follows the track)")
    p.add_argument("--image", required=True, help="face photo")
    p.add_argument("--landmarks", required=True, help="landmark track .npz (see `talkface landmarks`)")
    p.add_argument("--out", required=True, help=OUT_HELP)
    p.add_argument("--audio", default=None,
                   help="audio to mux into the video (its own rate and channels); shorter audio is padded with "
                        "silence, longer audio is cut: the video always has every frame of the track")
    p.add_argument("--mode", default="auto", choices=("auto", "absolute", "relative"),
                   help="use the track's positions as they are, or transfer its motion onto the photo's face "
                        "(auto: absolute when the track starts on the photo's own face)")
    _add_expression_options(p)
    _add_stage_options(p)

    p = sub.add_parser("edit", help="photo -> the same photo with another expression (.png or .jpg)")
    p.add_argument("--image", required=True, help="face photo")
    p.add_argument("--out", required=True, help="output image: .png or .jpg, at the photo's size")
    _add_expression_options(p, keyframes=False)
    p.add_argument("--face-index", type=_int_at_least(0), default=None,
                   help="which face to edit when the photo has several (0 = largest; default largest)")
    p.add_argument("--quiet", action="store_true", help="only the result line (an edit shows no progress anyway)")

    p = sub.add_parser("dub", help="video + new speech -> the same video lip-synced to the speech")
    p.add_argument("--video", required=True, help="video of a face (its frames, head motion and background are kept)")
    p.add_argument("--audio", required=True, help="the new speech (any audio file, or a video's audio)")
    p.add_argument("--out", required=True, help="output .mp4 (the video's size and fps, the speech as audio)")
    fit = p.add_mutually_exclusive_group()
    fit.add_argument("--loop", dest="fit", action="store_const", const="loop",
                     help="speech longer than the video: the video plays on back and forth (default)")
    fit.add_argument("--trim", dest="fit", action="store_const", const="trim",
                     help="stop at the end of the shorter of video and speech")
    p.set_defaults(fit="loop")
    p.add_argument("--audio2lmk", default="auto", help="phonetic | learned | PATH (default: learned when shipped)")
    _add_any_sound_option(p)
    p.add_argument("--mouth", default="auto", choices=MOUTHS,
                   help="mix: the lmk2video generator paints chin and skin, the lips are the video's own frames "
                        "fetched by mouth shape (the generator only where no frame matches); generate: the "
                        "generator paints the lips too; fetch: only the lips are edited, fetched as in mix; "
                        "auto (default): generate on the face the learned generator was trained on, fetch on any other")
    _add_motion_gain_option(p)
    _add_fetch_blend_option(p)
    _add_expression_options(p)
    _add_stage_options(p)

    p = sub.add_parser("landmarks", help="video -> 68-point landmark track (.npz)")
    p.add_argument("video")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--detect-every", type=_int_at_least(1), default=5, help="run the face detector every N frames")
    p.add_argument("--quiet", action="store_true", help="no progress display")

    p = sub.add_parser("prepare", help="prepare a corpus for training and evaluation")
    p.add_argument("corpus", choices=("grid",))
    p.add_argument("--root", required=True, help="GRID root folder")
    p.add_argument("--out", required=True, help="output folder (resumable)")
    p.add_argument("--workers", type=_int_at_least(1), default=max(1, os.cpu_count() or 1))
    p.add_argument("--speakers", default=None, help="comma-separated speakers, e.g. s1,s2 (default all)")
    p.add_argument("--size", type=int, default=128, choices=(128, 256))
    p.add_argument("--limit", type=_int_at_least(1), default=None, help="only the first N clips (for a quick look)")

    p = sub.add_parser("train", help="train a model from a YAML config (key=value overrides after it)")
    p.add_argument("stage", choices=sorted(TRAINERS))
    p.add_argument("--config", required=True, help="configs/<stage>/<name>.yaml")
    p.add_argument("--resume", action="store_true", help="continue from the run's last saved state")
    p.add_argument("overrides", nargs="*", help="config fields to override, e.g. optim.lr=1e-3 run.device=cuda (the section is optional)")

    p = sub.add_parser("eval", help="evaluate models on GRID (or score videos with the lipreader)")
    ev = p.add_subparsers(dest="target", required=True)
    e = ev.add_parser("grid", help="end-to-end: generate each test clip from its first frame and audio, score all metrics")
    _add_eval_options(e, "runs/eval_grid")
    e.add_argument("--audio2lmk", default="auto")
    e.add_argument("--lmk2video", default="auto")
    e.add_argument("--oracle", action="store_true", help="also drive each clip with its real landmark track")
    e = ev.add_parser("audio2lmk", help="landmark accuracy of an audio2lmk checkpoint vs the phonetic default and a still face")
    _add_eval_options(e, "runs/eval_audio2lmk")
    e.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped one)")
    e.add_argument("--voice-shift", type=_finite_float, default=0.0, metavar="SEMITONES",
                   help="shift every clip's voice (pitch and formants, duration kept) by this many semitones: "
                        "a stand-in for speakers the models never heard")
    e = ev.add_parser("lmk2video", help="PSNR/SSIM/LMD/FMS of a generator driven by real tracks vs the warp and copy floors")
    _add_eval_options(e, "runs/eval_lmk2video")
    e.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped one)")
    e = ev.add_parser("people", help="the product on people who are not s1: mouth motion against real talking videos "
                                     "and speech of unknown speakers (../shared/data/dev by default)")
    _add_people_options(e)
    e = ev.add_parser("expression", help="expression control on people never seen: RaFD held-out landmark error, "
                                         "edited dev photos scored by an offline expression classifier, with speech")
    _add_expression_eval_options(e)
    e = ev.add_parser("dub", help="dubbing on GRID: self-dub quality, cross-dub lipreader WER with floors")
    _add_eval_options(e, "runs/eval_dub", prepared=False)
    e.add_argument("--other", action="append", default=None, metavar="GLOB",
                   help="talking videos (any size, fps, person) to self-dub with their own audio and score frame by "
                        "frame against their own frames, beside a floor dubbed with silence (repeatable), e.g. "
                        "'../shared/data/dev/grid_other/*.mpg' '../shared/data/dev/talk/*.mp4'")
    e.add_argument("--other-only", action="store_true", help="only the --other videos (no GRID s1 clips)")
    e.add_argument("--max-seconds", type=_positive_float, default=15.0,
                   help="--other videos: only their first N s (default 15)")
    e.add_argument("--audio2lmk", default="auto")
    e.add_argument("--lmk2video", default="auto")
    e.add_argument("--mouth", default="auto", choices=MOUTHS)
    _add_motion_gain_option(e)
    _add_fetch_blend_option(e)
    e = ev.add_parser("wer", help="lipreader WER/CER of videos (GRID transcripts follow from the clip id)")
    e.add_argument("--videos", required=True, help="a folder of videos, or a text file listing video paths")
    e.add_argument("--transcripts", default=None, help="lines '<id or path> <sentence>' (default: from GRID ids)")
    e.add_argument("--checkpoint", default=None, help="lipreader checkpoint (default: the shipped one)")
    e.add_argument("--out", required=True, help="report .json")

    p = sub.add_parser("batch", help="many synth/animate/dub/edit jobs from a CSV or JSON-lines file (models loaded "
                                     "once per worker, resumable, a failing job never stops the others)")
    p.add_argument("jobs", help="CSV (a header of option names) or JSON lines: one job a row, its `command` and options "
                                "by their CLI names (image, audio, out, seed, ...); inputs relative to the file's folder")
    p.add_argument("--out-dir", required=True, help="folder for the outputs (a row's relative `out` is inside it), "
                                                    "batch_report.json and failed.csv")
    p.add_argument("--workers", type=_int_at_least(1), default=None,
                   help="worker processes (default: one per core, as memory allows)")
    p.add_argument("--skip-invalid", action="store_true", help="run the valid rows even when others are invalid")
    p.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                   help="run the jobs as Ray actors on a Ray cluster (pip install 'talkface[ray]'): its head's ADDRESS, "
                        "or none for the cluster this machine is part of (`ray start`); inputs and outputs on storage "
                        "every node sees. Give it after JOBS")
    p.add_argument("--quiet", action="store_true", help="no progress display")

    p = sub.add_parser("bench", help="time each stage on the bundled example; write JSON")
    p.add_argument("--out", default="out/bench.json")
    p.add_argument("--image", default=None)
    p.add_argument("--audio", default=None)
    p.add_argument("--size", type=_crop_size, default="auto", help="face crop size or auto (default)")
    p.add_argument("--sizes", type=_int_at_least(8, 512), nargs="*", default=None,
                   help="also time the generator alone at these crop sizes (e.g. 128 256 512): frames/s each")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=_int_at_least(1), default=3)
    p.add_argument("--cold-runs", type=_int_at_least(0), default=3,
                   help="whole `talkface synth` processes on the first 3 s of the speech, timed (0: none)")
    p.add_argument("--dub-runs", type=_int_at_least(0), default=1,
                   help="whole `talkface dub` processes, timed (0: none); on --dub-video, else on a 10 s 360x288 "
                        "video of the photo made to talk")
    p.add_argument("--dub-video", default=None, help="the video the dub runs are timed on")
    p.add_argument("--backend", choices=("onnx", "torch", "both"), default="onnx",
                   help="what runs the learned models: onnx (ONNX Runtime, default), torch (needs talkface[train]), "
                        "or both, one after the other, in one report")
    p.add_argument("--batch", type=_int_at_least(1), nargs="?", const=20, default=None, metavar="JOBS",
                   help="also time JOBS (default 20) synth jobs on the first 3 s of the speech through one `talkface "
                        "batch` at 1 and at 2 workers, against as many separate `talkface synth` processes")
    return parser


def _cmd_prepare(args) -> None:
    from talkface.prepare_grid import prepare_grid

    speakers = args.speakers.split(",") if args.speakers else None
    manifest = prepare_grid(args.root, args.out, speakers=speakers, size=args.size,
                            workers=args.workers, limit=args.limit)
    ok = sum(e["status"] == "ok" for e in manifest["clips"].values())
    print(f"prepared {ok} clips into {args.out}; skipped {len(manifest['skipped'])}:")
    for clip_id, reason in manifest["skipped"].items():
        print(f"  {clip_id}: {reason}")
    rate = manifest["last_run"]["clips_per_second"]
    if rate:
        print(f"this run: {manifest['last_run']['clips_processed']} clips at {rate} clips/s")


def _cmd_landmarks(args) -> None:
    from talkface.landmarks.io import save_track
    from talkface.landmarks.track import track_stream
    from talkface.media import require_file
    from talkface.progress import bar
    from talkface.safe_output import TRACK_SUFFIXES, check_output
    from talkface.video_stream import iter_frames, probe_video

    require_file(args.video)
    check_output(args.out, [args.video], TRACK_SUFFIXES)
    info = probe_video(args.video)
    on_terminal = sys.stderr.isatty()  # a log or a pipe gets the result line and errors only, one line each
    frames = bar(info.expected_frames, "track", not args.quiet and on_terminal, iterable=iter_frames(info))
    track, found = track_stream(frames, detect_every=args.detect_every, name=args.video)  # one frame in memory
    save_track(args.out, track, info.fps, (info.height, info.width))
    lost = f", face lost in {int((~found).sum())} (nearest found frame's landmarks kept)" if not found.all() else ""
    print(f"{args.out}: {len(track)} frames at {info.fps:g} fps{lost}")


# `talkface batch` workers set this to a dict, where each job's Synthesizer or Dubber is then kept by its options for
# the next job with the same stage choice (talkface.batch); a lone command makes its own.
MODELS: dict | None = None


def _models(cls, **options):
    """`cls(**options)` (a Synthesizer, a Dubber): a new one, or in a batch worker the one an earlier job loaded."""
    if MODELS is None:
        return cls(**options)
    key = (cls.__name__, *sorted(options.items()))
    if key not in MODELS:
        MODELS[key] = cls(**options)
    return MODELS[key]


def _cmd_synth(args) -> None:
    from talkface.pipeline import Synthesizer

    synth = _models(Synthesizer, audio2lmk=args.audio2lmk, lmk2video=args.lmk2video, size=args.size,
                    device=args.device, backend=args.backend)
    result = synth.synthesize_files(args.image, args.audio, args.out, face_index=args.face_index, seed=args.seed,
                                    blink=not args.no_blink, head_motion=not args.still,
                                    save_landmarks=args.save_landmarks, progress=not args.quiet,
                                    voice_gate=not args.any_sound, motion_gain=args.motion_gain,
                                    expression=_expression_plan(args))
    print(f"{args.out}: {result.n_frames} frames, {result.duration:.2f} s "
          f"({result.audio2lmk} + {result.lmk2video})")


def _cmd_animate(args) -> None:
    from talkface.pipeline import Synthesizer

    synth = _models(Synthesizer, lmk2video=args.lmk2video, size=args.size, device=args.device, backend=args.backend)
    result = synth.animate_files(args.image, args.landmarks, args.out, audio=args.audio, mode=args.mode,
                                 face_index=args.face_index, progress=not args.quiet,
                                 expression=_expression_plan(args))
    print(f"{args.out}: {result.n_frames} frames ({result.lmk2video}, {result.mode} landmarks)")


def _cmd_edit(args) -> None:
    from talkface.edit import Editor

    plan = _expression_plan(args)
    if plan is None:
        raise TalkfaceError("edit: give --expression NAME[:INTENSITY] and/or --au UNITS")
    out = _models(Editor).edit_files(args.image, args.out, plan, face_index=args.face_index)
    print(f"{out}: {plan.description}")


def _cmd_dub(args) -> None:
    from talkface.dub import Dubber

    dubber = _models(Dubber, audio2lmk=args.audio2lmk, lmk2video=args.lmk2video,
                     size=None if args.size == "auto" else args.size, device=args.device, backend=args.backend,
                     mouth=args.mouth, blend=args.fetch_blend, motion_gain=args.motion_gain)
    r = dubber.dub_files(args.video, args.audio, args.out, face_index=args.face_index, fit=args.fit,
                         progress=not args.quiet, voice_gate=not args.any_sound, expression=_expression_plan(args))
    lost = f", face lost in {r.lost_frames} video frames (left untouched)" if r.lost_frames else ""
    lost += f", face covered or mis-tracked in {r.occluded_frames} video frames (left untouched)" if r.occluded_frames else ""
    loop = ", video looped back and forth to cover the speech" if r.looped else ""
    mouth = {"fetch": f"mouths fetched from {r.bank_size} of its frames",
             "mix": f"lips fetched from {r.bank_size} of its frames, chin by {r.lmk2video}"
             }.get(r.mouth, f"mouth by {r.lmk2video}")
    motion = f", mouth motion x{r.motion_gain:.2f}" + (" (matched to the video)" if args.motion_gain is None else "")
    print(f"{args.out}: {r.n_frames} frames at {r.fps:g} fps, {r.size[0]}x{r.size[1]}, {mouth}{motion}{lost}{loop}")


def _cmd_bench(args) -> None:
    from talkface.bench import run_bench
    from talkface.safe_output import atomic_output, check_output

    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # bench makes its folder (out/ by default)
    except OSError:
        pass  # check_output says why in one line
    check_output(out, [args.image, args.audio, args.dub_video], (".json",))
    backends = ("onnx", "torch") if args.backend == "both" else (args.backend,)
    report = run_bench(image=args.image, audio=args.audio, size=args.size, device=args.device, repeats=args.repeats,
                       generator_sizes=args.sizes or (), cold_runs=args.cold_runs, dub_runs=args.dub_runs,
                       dub_video=args.dub_video, batch_jobs=args.batch or 0, backends=backends)
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    for backend in backends:
        if len(backends) > 1:
            print(f"-- backend {backend}")
        _print_bench(report[backend] if len(backends) > 1 else report)
    print(f"{'written':>10}: {out}")


def _print_bench(report: dict) -> None:
    for stage, seconds in report["stages_s"].items():
        print(f"{stage:>10}: {seconds * 1000:8.1f} ms")
    for size, fps in report.get("generator_fps", {}).items():
        print(f"{'generator':>10}: {fps:8.1f} frames/s at {size} px")
    if "cold_synth" in report:
        cold = report["cold_synth"]
        print(f"{'cold synth':>10}: {cold['synth_wall_s'] * 1000:8.1f} ms wall for {cold['audio_seconds']:g} s of speech "
              f"(median of {cold['runs']}, peak {cold['peak_rss_mb']:.0f} MB); missing input: "
              f"{cold['missing_input_wall_s'] * 1000:.0f} ms")
    if "cold_dub" in report:
        dub = report["cold_dub"]
        print(f"{'cold dub':>10}: {dub['dub_wall_s'] * 1000:8.1f} ms wall for {dub['video_seconds']:g} s of "
              f"{dub['video_size'][0]}x{dub['video_size'][1]} video (median of {dub['runs']}, peak "
              f"{dub['peak_rss_mb']:.0f} MB)")
    for name, timed in report.get("batch", {}).items():
        if isinstance(timed, dict):
            print(f"{name.replace('_', ' '):>18}: {timed['s_per_job']:6.2f} s/job, {timed['jobs_per_min']:5.1f} jobs/min, "
                  f"{timed['cpu_s_per_job']:.2f} CPU-s/job"
                  + (f" ({timed['vs_separate']:.2f}x the separate processes)" if "vs_separate" in timed else ""))
    if "batch" in report:
        print(f"{'batch outputs':>18}: {'identical' if report['batch']['identical_to_separate'] else 'DIFFERENT'} "
              f"to the separate runs' ({report['batch']['jobs']} jobs of {report['batch']['audio_seconds']:g} s)")
    print(f"{'total':>10}: {report['total_s'] * 1000:8.1f} ms")


def _cmd_batch(args) -> None:
    from talkface.batch import JobsInvalid, run

    try:
        report = run(args.jobs, args.out_dir, workers=args.workers, skip_invalid=args.skip_invalid,
                     progress=not args.quiet, ray=args.ray)
    except JobsInvalid as err:
        for problem in err.problems:
            print(f"talkface: error: {problem}", file=sys.stderr)
        raise
    for job in report.jobs:
        if job.error:
            print(f"talkface: note: {job.error} (not run)", file=sys.stderr)
    print(report.summary)
    if not report.ok:
        failed = report.counts["failed"] + report.counts["invalid"]
        raise TalkfaceError(f"{failed} of {len(report.jobs)} jobs failed; their rows and errors: {report.paths['failed']}")


def _cmd_train(args) -> None:
    from talkface.config import load_config

    module = importlib.import_module(TRAINERS[args.stage][0])
    overrides = list(args.overrides) + (["resume=true"] if args.resume else [])
    config = load_config(getattr(module, TRAINERS[args.stage][1]), args.config, overrides)
    print(f"best checkpoint: {module.train(config)}")


def _cmd_eval(args) -> None:
    if getattr(args, "device", None) is not None:
        from talkface.stages import check_device, require_device

        require_device(check_device(args.device))  # before any data loads: one line, not a torch error later
    if args.target == "grid":
        from talkface.evaluation.end_to_end import run_eval_grid

        report = run_eval_grid(args.prepared, args.grid_root, args.out, split=args.split, speaker=args.speaker,
                               audio2lmk=args.audio2lmk, lmk2video=args.lmk2video, oracle=args.oracle,
                               limit=args.limit, device=args.device, command="talkface " + " ".join(sys.argv[1:]))
        print((Path(args.out) / "report.md").read_text())
        print(f"{report['n_clips']} clips in {report['seconds']:.0f} s -> {args.out}")
    elif args.target == "dub":
        from talkface.evaluation.dub import run_eval_dub

        run_eval_dub(args.grid_root, args.out, split=args.split, speaker=args.speaker, limit=args.limit,
                     other=args.other, audio2lmk=args.audio2lmk, lmk2video=args.lmk2video,
                     device=args.device, mouth=args.mouth, blend=args.fetch_blend, motion_gain=args.motion_gain,
                     command="talkface " + " ".join(sys.argv[1:]),
                     max_seconds=args.max_seconds, grid_clips=not args.other_only)
        print((Path(args.out) / "report.md").read_text())
    elif args.target == "audio2lmk":
        from audio2lmk.evaluate import run_eval_audio2lmk

        from audio2lmk.learned import SHIPPED_CHECKPOINT

        run_eval_audio2lmk(args.checkpoint or SHIPPED_CHECKPOINT, args.prepared, args.split, args.out,
                           speaker=args.speaker, grid_root=args.grid_root, limit=args.limit, device=args.device,
                           voice_shift=args.voice_shift)
    elif args.target == "lmk2video":
        from lmk2video.evaluate import run_eval_lmk2video

        from lmk2video.learned import SHIPPED_CHECKPOINT as SHIPPED_GENERATOR

        run_eval_lmk2video(args.checkpoint or SHIPPED_GENERATOR, args.prepared, args.grid_root, args.split, args.out,
                           limit=args.limit, speaker=args.speaker, device=args.device)
    elif args.target == "people":
        from talkface.evaluation.people import PeopleConfig, run_eval_people

        config = PeopleConfig(lmk2video=args.lmk2video, max_seconds=args.max_seconds, limit=args.limit,
                              device=args.device, out=args.out, command="talkface " + " ".join(sys.argv[1:]))
        if args.voices == "none":
            config.voices = None
        if args.real_track:
            config.real_track = [] if args.real_track == ["none"] else args.real_track
        for option, name in ((args.videos, "videos"), (args.voices if args.voices != "none" else None, "voices"),
                             (args.voice_photo, "voice_photos"), (args.audio2lmk, "audio2lmk")):
            if option:
                setattr(config, name, option)
        report = run_eval_people(config)
        print((Path(args.out) / "report.md").read_text())
        print(f"{len(report['video_clips'])} video and {len(report['voice_clips'])} voice runs in "
              f"{report['seconds']:.0f} s -> {args.out}")
    elif args.target == "expression":
        from talkface.evaluation.expression import ExpressionEvalConfig, run_eval_expression

        report = run_eval_expression(ExpressionEvalConfig(
            dev=args.dev or ExpressionEvalConfig.dev, limit=args.limit, speech_photos=args.speech_photos,
            speech_expression=args.speech_expression, speech_seconds=args.speech_seconds, rafd=not args.no_rafd, out=args.out,
            command="talkface " + " ".join(sys.argv[1:])))
        print((Path(args.out) / "report.md").read_text())
        print(f"{len(report['photo_records'])} edits, {len(report['speech'])} speech runs in "
              f"{report['seconds']:.0f} s -> {args.out}")
    else:
        from talkface.lipreading.wer import run_eval_wer

        run_eval_wer(args.videos, args.transcripts, args.out, checkpoint=args.checkpoint)


COMMANDS = {"prepare": _cmd_prepare, "train": _cmd_train, "eval": _cmd_eval, "landmarks": _cmd_landmarks, "synth": _cmd_synth,
            "animate": _cmd_animate, "bench": _cmd_bench, "dub": _cmd_dub, "batch": _cmd_batch, "edit": _cmd_edit}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse argv; `train` takes key=value overrides before or after its options."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if args.command != "train" or not all("=" in item and not item.startswith("-") for item in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = list(args.overrides) + extra
    return args


def _exit_code(err: KeyboardInterrupt) -> tuple[int, str]:
    signum = getattr(err, "signum", signal.SIGINT)
    return 128 + signum, signal.Signals(signum).name


# What the `train` extra adds to `pip install talkface` (pyproject.toml): a command needing one says how to get it.
TRAIN_MODULES = ("torch", "onnx", "silero_vad", "librosa", "jiwer", "matplotlib", "skimage")


def main(argv: list[str] | None = None) -> int:
    from talkface.safe_output import install_signal_handlers

    install_signal_handlers()  # SIGTERM/SIGHUP unwind like Ctrl-C: temp files are removed on the way out
    try:
        args = parse(argv)
        COMMANDS[args.command](args)
    except TalkfaceError as err:
        print(f"talkface: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:
        code, name = _exit_code(err)
        out = getattr(locals().get("args"), "out", None)
        print(f"talkface: error: interrupted ({name})" + (f"; {out} not written" if out else ""), file=sys.stderr)
        return code
    except MemoryError:
        print("talkface: error: out of memory (input too large for this machine)", file=sys.stderr)
        return 1
    except Exception as err:  # a bug, not bad input: still one line unless asked for the traceback
        if isinstance(err, ModuleNotFoundError) and err.name in TRAIN_MODULES:
            print(f"talkface: error: this needs {err.name}, which the light install leaves out (training, evaluation, "
                  "--backend torch): pip install 'talkface[train]'", file=sys.stderr)
            return 1
        if os.environ.get("TALKFACE_DEBUG"):
            raise
        detail = str(err).strip().splitlines()
        print(f"talkface: error: internal error ({type(err).__name__}: {detail[0] if detail else 'no message'}); "
              f"set TALKFACE_DEBUG=1 for the traceback", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
