"""How well the dub's occlusion test (lmk2video/occlusion.py) finds something in front of the lower face.

GRID clips (default: s1's test split): each clip as it is (every flag is a false flag), and with a synthetic
occluder pasted over a run of its frames, placed by the landmarks tracked on the clean clip: `hand` (a
skin-coloured ellipse over mouth and chin, lit from above, its colour taken from the clip's own cheek), `chin`
(a smaller one over the chin only), `mic` (a dark rounded bar from below up to the lower lip). Recall = flagged
occluded frames / occluded frames; false flags = flagged clean frames / clean frames. `--video GLOB` adds any
videos as they are (false flags only, unless they show an occluder): e.g. the dev talking videos.

    python scripts/occlusion_eval.py --out runs/occlusion [--limit 40] [--video '../shared/data/dev/talk/*.mp4']

Writes occlusion.md/.json/.csv under --out (numbers only: no pixels).
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmk2video.occlusion import LowerFaces, occluded  # noqa: E402
from talkface import grid  # noqa: E402
from talkface.landmarks.indices import interocular  # noqa: E402
from talkface.landmarks.track import track_stream, track_video  # noqa: E402
from talkface.media import read_video  # noqa: E402
from talkface.report import markdown_table, write_report  # noqa: E402
from talkface.video_stream import iter_frames, probe_video  # noqa: E402

KINDS = ("hand", "chin", "mic")
RUNS = {"0.4s": (30, 40), "1s": (25, 50), "1.6s": (15, 55)}  # occluded frames [a, b) of a 75-frame (3 s) clip


def paste_occluder(frame: np.ndarray, lmk: np.ndarray, kind: str, t: int) -> np.ndarray:
    """The frame with a synthetic occluder over the lower face of the (68, 2) landmarks, drifting with t."""
    io = float(interocular(lmk))
    drift = np.array([np.sin(t / 4.0), np.cos(t / 5.0)]) * 0.05 * io
    h, w = frame.shape[:2]
    mask = np.zeros((h, w), np.float32)
    if kind == "mic":
        x = lmk[57, 0] + 0.15 * io + drift[0]
        top = lmk[57, 1] + 0.05 * io + drift[1]
        cv2.rectangle(mask, (int(x - 0.25 * io), int(top)), (int(x + 0.25 * io), h), 1.0, -1)
        colour = np.array([40.0, 40.0, 46.0])
    else:
        cheek = ((lmk[3] + lmk[31]) / 2).astype(int)
        r = max(2, int(0.1 * io))
        colour = np.median(frame[cheek[1] - r:cheek[1] + r, cheek[0] - r:cheek[0] + r].reshape(-1, 3), 0) * 1.08
        if kind == "hand":
            centre, axes = lmk[57] + 0.6 * (lmk[8] - lmk[57]), (0.8 * io, 0.45 * io)
        else:
            centre, axes = lmk[8] - [0, 0.15 * io], (0.5 * io, 0.25 * io)
        centre = centre + drift
        cv2.ellipse(mask, (int(centre[0]), int(centre[1])), (int(axes[0]), int(axes[1])), 10, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.04 * io))
    shade = np.linspace(1.1, 0.85, h, dtype=np.float32)[:, None, None]  # lit from above
    occluder = np.clip(colour[None, None] * shade, 0, 255)
    out = frame.astype(np.float32) * (1 - mask[..., None]) + occluder * mask[..., None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def flags_of(frames, name: str, fps: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(flagged (T,), found (T,), seconds spent on the occlusion test) for a stream of frames."""
    faces = LowerFaces()
    _, found = track_stream(frames, name=name, on_face=lambda t, f, lmk: faces.offer(f, lmk, t))
    start = time.perf_counter()
    flagged = np.zeros(len(found), bool)
    flagged[faces.frame_index] = occluded(faces, fps)
    return flagged, found, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--grid-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "grid"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--video", action="append", default=[], help="glob of other videos (false flags)")
    args = parser.parse_args()

    rows = []
    root = Path(args.grid_root)
    clips = {c.clip_id: c for c in grid.find_clips(root, ["s1"])} if root.is_dir() else {}
    ids = [i for i in grid.read_split(grid.split_path(root, "s1", args.split)) if i in clips][:args.limit] if clips else []
    for n, clip_id in enumerate(ids):
        video = read_video(clips[clip_id].video)
        frames = video.frames
        clean, found, seconds = flags_of(iter(frames), clip_id, video.fps)
        rows.append({"video": clip_id, "case": "clean", "frames": len(frames), "occluded": 0, "found": int(found.sum()),
                     "hit": 0, "false": int(clean.sum()), "seconds": round(seconds, 3)})
        lmk = track_video(frames, name=clip_id)
        for kind in KINDS:
            for run, (a, b) in RUNS.items():
                b = min(b, len(frames))
                occluded = np.zeros(len(frames), bool)
                occluded[a:b] = True
                pasted = (paste_occluder(f, lmk[t], kind, t) if occluded[t] else f for t, f in enumerate(frames))
                flagged, found, seconds = flags_of(pasted, clip_id, video.fps)
                rows.append({"video": clip_id, "case": f"{kind}/{run}", "frames": len(frames),
                             "occluded": int(occluded.sum()), "found": int(found.sum()),
                             "hit": int((flagged & occluded).sum()), "false": int((flagged & ~occluded).sum()),
                             "seconds": round(seconds, 3)})
        print(f"{n + 1}/{len(ids)} {clip_id}", rows[-1], flush=True)
    for path in sorted(p for pattern in args.video for p in glob.glob(pattern)):
        info = probe_video(path)
        flagged, found, seconds = flags_of(iter_frames(info), path, info.fps)
        runs = np.flatnonzero(np.diff(np.concatenate([[0], flagged.astype(int), [0]])))
        rows.append({"video": Path(path).name, "case": "as is", "frames": len(found), "occluded": 0,
                     "found": int(found.sum()), "hit": 0, "false": int(flagged.sum()), "seconds": round(seconds, 3),
                     "flagged_runs": " ".join(f"{a}-{b - 1}" for a, b in zip(runs[::2], runs[1::2]))})
        print(rows[-1], flush=True)

    # One line per case over the GRID clips, one per other video.
    groups = {case: [r for r in rows if r["case"] == case] for case in dict.fromkeys(r["case"] for r in rows)}
    groups = {**{k: v for k, v in groups.items() if k != "as is"},
              **{r["video"]: [r] for r in groups.get("as is", [])}}
    summary = []
    for case, group in groups.items():
        occ = sum(g["occluded"] for g in group)
        clean = sum(g["found"] - g["occluded"] for g in group)
        summary.append({"case": case, "videos": len(group),
                        "recall": sum(g["hit"] for g in group) / occ if occ else None,
                        "false_flag_rate": sum(g["false"] for g in group) / max(clean, 1),
                        "clips_with_a_false_flag": sum(g["false"] > 0 for g in group),
                        "seconds_per_100_frames": 100 * sum(g["seconds"] for g in group) / sum(g["frames"] for g in group)})
    table = markdown_table(["case", "videos", "recall", "false flags", "videos with a false flag", "occlusion test s / 100 frames"],
                           [[s["case"], s["videos"], "—" if s["recall"] is None else f"{100 * s['recall']:.1f} %",
                             f"{100 * s['false_flag_rate']:.2f} %", s["clips_with_a_false_flag"],
                             f"{s['seconds_per_100_frames']:.2f}"] for s in summary])
    command = "python scripts/occlusion_eval.py " + " ".join(sys.argv[1:])
    md = f"# Occlusion test\n\n`{command}`\n\n{table}\n"
    path = write_report(args.out, "occlusion", {"command": command, "summary": summary, "rows": rows}, md, rows)
    print(md)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
