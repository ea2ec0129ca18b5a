"""Where the training-free warp loses to the learned net and to the real frames: squared error split by
face region and by kind of frame (issue 14, third pass; docs/results.md).

    python scripts/warp_error_regions.py cache-s1 --limit 20     # real / warp / net frames / product, 20 s1 test clips
    python scripts/warp_error_regions.py cache-dev               # real / warp on the 7 dev talking videos (first 75 frames)
    python scripts/warp_error_regions.py report

Regions come from each frame's real landmarks (crop pixels), first match wins: mouth opening, lips, eyes,
brows, nose, jaw band (within 0.12 interocular of the jaw line 2-14), chin (inside the face below the mouth
corners), cheeks (the rest inside jaw + brows), then outside the face: forehead/hair (above the brows), neck
(below the jaw, between points 3 and 13), sides. Frames: the first, blinks (eye opening < 0.75 x the clip's
median), large head motion (stable points moved > 0.05 interocular from frame 0, rigid part), the rest.
"Swap" columns: mean frame PSNR of the warp with that region's pixels taken from the other method -- the dB
that region is worth. The caches hold GRID/dev pixels: they stay under --cache (default /tmp/a14w/cache).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from talkface.landmarks.indices import interocular

REGIONS = ("opening", "lips", "eyes", "brows", "nose", "jaw band", "chin", "cheeks", "forehead/hair", "neck",
           "sides")
FRAME_KINDS = ("first", "blink", "head motion", "rest")
RIGID = [*range(17, 48)]  # brows, nose, eyes: follow the skull


def _poly(mask_shape, points) -> np.ndarray:
    m = np.zeros(mask_shape, np.uint8)
    cv2.fillPoly(m, [np.round(points * 16).astype(np.int32)], 1, shift=4)
    return m.astype(bool)


def region_labels(lmk: np.ndarray, size: int) -> np.ndarray:
    """(68, 2) crop landmarks -> (size, size) int8 index into REGIONS."""
    shape = (size, size)
    iod = float(interocular(lmk))
    label = np.full(shape, -1, np.int8)

    def put(index: int, mask: np.ndarray) -> None:
        label[(label < 0) & mask] = index

    def grown(mask: np.ndarray, by: float) -> np.ndarray:
        r = max(1, round(by * iod))
        return cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0

    put(0, _poly(shape, lmk[60:68]))
    put(1, _poly(shape, lmk[48:60]))
    put(2, grown(_poly(shape, lmk[36:42]), 0.1) | grown(_poly(shape, lmk[42:48]), 0.1))
    brows = np.zeros(shape, np.uint8)
    for seg in (lmk[17:22], lmk[22:27]):
        cv2.polylines(brows, [np.round(seg * 16).astype(np.int32)], False, 1, thickness=1, shift=4)
    put(3, grown(brows, 0.08))
    put(4, _poly(shape, cv2.convexHull(lmk[27:36].astype(np.float32))[:, 0]))
    jaw = np.zeros(shape, np.uint8)
    cv2.polylines(jaw, [np.round(lmk[2:15] * 16).astype(np.int32)], False, 1, thickness=1, shift=4)
    put(5, grown(jaw, 0.12))
    face = _poly(shape, np.concatenate([lmk[0:17], lmk[26:16:-1]]))
    ys, xs = np.mgrid[0:size, 0:size]
    below_mouth = ys > max(lmk[48, 1], lmk[54, 1])
    put(6, face & below_mouth)
    put(7, face)
    put(8, ys < lmk[17:27, 1].mean())
    put(9, (xs > lmk[3, 0]) & (xs < lmk[13, 0]) & (ys > 0.5 * (lmk[3, 1] + lmk[13, 1])))
    put(10, np.ones(shape, bool))
    return label


def eye_opening(track: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T,) mean eyelid gap / eye width of both eyes."""
    def one(e):
        gap = (np.linalg.norm(track[:, e[1]] - track[:, e[5]], axis=-1) + np.linalg.norm(track[:, e[2]] - track[:, e[4]], axis=-1)) / 2
        return gap / np.linalg.norm(track[:, e[0]] - track[:, e[3]], axis=-1)
    return (one(list(range(36, 42))) + one(list(range(42, 48)))) / 2


def head_motion(track: np.ndarray) -> np.ndarray:
    """(T,) mean displacement of the rigid points from frame 0, in interoculars."""
    return np.linalg.norm(track[:, RIGID] - track[:1, RIGID], axis=-1).mean(-1) / interocular(track[0])


def frame_kinds(track: np.ndarray) -> np.ndarray:
    """(T,) index into FRAME_KINDS."""
    kinds = np.full(len(track), 3, np.int8)
    opening = eye_opening(track)
    kinds[head_motion(track) > 0.05] = 2
    kinds[opening < 0.75 * np.median(opening)] = 1
    kinds[0] = 0
    return kinds


def psnr(mse: np.ndarray) -> np.ndarray:
    return 10 * np.log10(255.0 ** 2 / np.maximum(mse, 255.0 ** 2 * 1e-10))


def analyse(clips: list[dict], methods: list[str]) -> dict:
    """Accumulate per-region and per-frame-kind squared error of each method against real."""
    sse = {m: np.zeros((len(FRAME_KINDS), len(REGIONS))) for m in methods}
    count = np.zeros((len(FRAME_KINDS), len(REGIONS)))
    swap = {m: np.zeros(len(REGIONS)) for m in methods[1:]}  # sum of frame PSNRs with the region swapped in
    base, frames = {m: 0.0 for m in methods}, 0
    kind_psnr = {m: np.zeros(len(FRAME_KINDS)) for m in methods}
    kind_frames = np.zeros(len(FRAME_KINDS))
    for clip in clips:
        real = clip["real"].astype(np.float32)
        track, size = clip["track"], real.shape[1]
        kinds = frame_kinds(track)
        errs = {m: ((clip[m].astype(np.float32) - real) ** 2).sum(-1) / 3 for m in methods}
        for t in range(len(real)):
            lab = region_labels(track[t], size)
            k = kinds[t]
            flat = lab.ravel()
            count[k] += np.bincount(flat, minlength=len(REGIONS))
            for m in methods:
                per = np.bincount(flat, errs[m][t].ravel(), minlength=len(REGIONS))
                sse[m][k] += per
                p = psnr(errs[m][t].mean())
                base[m] += p
                kind_psnr[m][k] += p
            kind_frames[k] += 1
            warp_per = np.bincount(flat, errs[methods[0]][t].ravel(), minlength=len(REGIONS))
            for m in methods[1:]:
                other = np.bincount(flat, errs[m][t].ravel(), minlength=len(REGIONS))
                swapped = warp_per.sum() - warp_per + other
                swap[m] += psnr(swapped / flat.size)
            frames += 1
    return {"sse": sse, "count": count, "swap": {m: v / frames for m, v in swap.items()},
            "psnr": {m: v / frames for m, v in base.items()}, "frames": frames,
            "kind_psnr": {m: v / np.maximum(kind_frames, 1) for m, v in kind_psnr.items()}, "kind_frames": kind_frames}


def print_report(name: str, res: dict, methods: list[str]) -> None:
    total = res["count"].sum()
    print(f"\n## {name}: {res['frames']} frames; mean frame PSNR " +
          ", ".join(f"{m} {res['psnr'][m]:.2f}" for m in methods))
    columns = ["region", "pixels %", *(f"{m} MSE" for m in methods), f"{methods[0]} MSE share %",
               *(f"PSNR with {m} here" for m in methods[1:])]
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    warp_total = res["sse"][methods[0]].sum()
    for r, region in enumerate(REGIONS):
        n = res["count"][:, r].sum()
        cells = [f"{100 * n / total:.1f}"] + [f"{res['sse'][m][:, r].sum() / max(n, 1):.1f}" for m in methods]
        cells.append(f"{100 * res['sse'][methods[0]][:, r].sum() / warp_total:.1f}")
        cells += [f"{res['swap'][m][r]:.2f}" for m in methods[1:]]
        print(f"| {region} | " + " | ".join(cells) + " |")
    print("\n| frames | count | " + " | ".join(f"{m} PSNR" for m in methods) + " | " +
          " | ".join(f"{m} MSE" for m in methods) + " |")
    print("|---|---|" + "---|" * (2 * len(methods)))
    for k, kind in enumerate(FRAME_KINDS):
        n = res["count"][k].sum()
        print(f"| {kind} | {int(res['kind_frames'][k])} | " +
              " | ".join(f"{res['kind_psnr'][m][k]:.2f}" for m in methods) + " | " +
              " | ".join(f"{res['sse'][m][k].sum() / max(n, 1):.1f}" for m in methods) + " |")


def cache_s1(cache: Path, limit: int, prepared: str, grid_root: Path) -> None:
    import torch

    from lmk2video.evaluate import real_crops
    from lmk2video.learned import load_checkpoint
    from lmk2video.warp_generator import WarpGenerator
    from talkface import grid
    from talkface.prepared import PreparedSet

    torch.set_num_threads(1)
    prepared_set = PreparedSet(prepared)
    ids = prepared_set.ids(grid.read_split(grid.split_path(grid_root, "s1", "test")))[:limit]
    net, product, warp = load_checkpoint(mouth_only=False), load_checkpoint(), WarpGenerator()
    (cache / "s1").mkdir(parents=True, exist_ok=True)
    for clip_id in ids:
        clip = prepared_set.load(clip_id, crops=True, audio=False)
        n = min(len(clip.crops), len(clip.crop_landmarks))
        track = clip.crop_landmarks[:n]
        real, _ = real_crops(prepared_set, clip_id, clip.crops[:n], clip.crop_matrix)
        source = real[0].copy()
        np.savez(cache / "s1" / f"{clip_id}.npz", real=real, track=track, warp=warp(source, track[0], track),
                 net=net(source, track[0], track), product=product(source, track[0], track))
        print(clip_id, flush=True)


def cache_dev(cache: Path, frames: int) -> None:
    import runpy

    import torch

    torch.set_num_threads(1)
    visual = runpy.run_path(str(Path(__file__).parent / "visual_eval.py"))
    from talkface.face_crop import auto_crop_size, crop_face, crop_transform
    from talkface.landmarks.track import track_video
    from talkface.pipeline import Synthesizer

    synth = Synthesizer(audio2lmk="phonetic", lmk2video="warp")
    (cache / "dev").mkdir(parents=True, exist_ok=True)
    for name in visual["TALK"]:
        path = visual["DEV"] / name
        real = visual["read_frames"](path, frames)
        track = track_video(real, name=str(path))
        source = synth.source_face(real[0], name=str(path))
        view = crop_transform(track[0], auto_crop_size(track[0]))
        np.savez(cache / "dev" / f"{Path(name).stem}.npz", real=np.stack([crop_face(f, view) for f in real]),
                 track=view.to_crop(track), full_track=track,
                 warp=np.stack([crop_face(f, view) for f in synth.render(source, track)]))
        print(name, flush=True)


def load(folder: Path, methods: list[str]) -> list[dict]:
    out = []
    for path in sorted(folder.glob("*.npz")):
        with np.load(path) as z:
            out.append({"name": path.stem, **{k: z[k] for k in ["real", "track", *methods]}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["cache-s1", "cache-dev", "report"])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/a14w/cache"))
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--frames", type=int, default=75)
    parser.add_argument("--prepared", default="/work/main/data/prepared")
    parser.add_argument("--grid-root", type=Path, default=None, help="GRID root (default: the CLI's)")
    args = parser.parse_args()
    if args.what == "cache-s1":
        from talkface.cli import DEFAULT_GRID_ROOT

        cache_s1(args.cache, args.limit, args.prepared, args.grid_root or DEFAULT_GRID_ROOT)
    elif args.what == "cache-dev":
        cache_dev(args.cache, args.frames)
    else:
        if (args.cache / "s1").is_dir():
            print_report("s1 test", analyse(load(args.cache / "s1", ["warp", "net", "product"]),
                                            ["warp", "net", "product"]), ["warp", "net", "product"])
        if (args.cache / "dev").is_dir():
            clips = load(args.cache / "dev", ["warp"])
            print_report("dev talking videos", analyse(clips, ["warp"]), ["warp"])
            for clip in clips:
                print_report(clip["name"], analyse([clip], ["warp"]), ["warp"])


if __name__ == "__main__":
    main()
