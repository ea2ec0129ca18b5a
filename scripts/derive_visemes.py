"""Estimate the viseme mouth shapes shipped in audio2lmk/data/visemes.json from prepared GRID clips.

For every training clip: force-align its transcript to phones (pocketsphinx, CMU dictionary),
normalise the landmark track (similarity on the stable points), subtract the clip's rest shape
(median of the frames of the leading silence, before the first word), and sample the
displacement of the 27 motion points at each phone's centre. A viseme's shape is the trimmed
mean over all its occurrences.

    python -m scripts.derive_visemes --prepared /work/prep \
        --split ../shared/data/grid/splits/s1_train.txt --out audio2lmk/data/visemes.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import trim_mean
from tqdm import tqdm

from audio2lmk.phonemes import Phone, align_phones, speech_envelope, speech_onsets
from audio2lmk.phonetic import BREATH_TIMING_S, LEAD_S
from audio2lmk.visemes import (BREATH, DEFAULT_TABLE_PATH, MOTION_POINTS, PHONE_TO_VISEME, SILENCE, VISEMES,
                               VisemeTable)
from talkface.audio import SAMPLE_RATE
from talkface.errors import TalkfaceError
from talkface.grid import SILENCE_TOKENS, read_split
from talkface.landmarks.normalize import to_normalised
from talkface.prepared import PreparedSet

REST_MARGIN_S = 0.2  # rest frames end this long before the first word (and before the in-breath)
MIN_REST_FRAMES = 3
TRIM = 0.1  # trimmed mean: drop this fraction at each end per coordinate


def interpolate(track: np.ndarray, frame: float) -> np.ndarray:
    """Linear interpolation of a (T, ...) track at a fractional frame index (clamped)."""
    frame = float(np.clip(frame, 0, len(track) - 1))
    lo = int(np.floor(frame))
    hi = min(lo + 1, len(track) - 1)
    return (1 - (frame - lo)) * track[lo] + (frame - lo) * track[hi]


def clip_samples(motion: np.ndarray, phones: list[Phone], first_word_frame: float, onsets: list[int],
                 fps: float) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]] | None:
    """(rest shape, [(viseme, displacement at the phone centre)]) for one clip, or None when
    the clip has too little leading silence to know its rest mouth.

    The in-breath shape is sampled in the middle of its plateau before the first speech onset
    (found by the same detector the synthesis uses)."""
    rest_end = first_word_frame - REST_MARGIN_S * fps
    if onsets:
        rest_end = min(rest_end, onsets[0] - BREATH_TIMING_S[0] * fps)
    n_rest = int(np.floor(rest_end))
    if n_rest < MIN_REST_FRAMES:
        return None
    rest = np.median(motion[:n_rest], axis=0)
    samples = []
    if onsets:
        plateau_s = 0.5 * (BREATH_TIMING_S[1] + BREATH_TIMING_S[2])
        samples.append((BREATH, interpolate(motion, onsets[0] - plateau_s * fps) - rest))
    for p in phones:
        viseme = PHONE_TO_VISEME.get(p.phone)
        if viseme is None or p.phone.startswith("+"):
            continue  # noise labels carry no mouth shape
        centre_frame = (0.5 * (p.start + p.end) - LEAD_S) * fps
        samples.append((viseme, interpolate(motion, centre_frame) - rest))
    return rest, samples


def derive(prepared: Path, split: Path, limit: int | None) -> VisemeTable:
    data = PreparedSet(prepared)
    ids = data.ids(read_split(split))
    if limit:
        ids = ids[:limit]
    per_viseme: dict[str, list[np.ndarray]] = defaultdict(list)
    rests, used, skipped = [], [], {}
    for clip_id in tqdm(ids, desc="clips", unit="clip"):
        clip = data.load(clip_id, crops=False, audio=True)
        words = [w for w in clip.words if w["word"] not in SILENCE_TOKENS]
        if not words:
            skipped[clip_id] = "no words"
            continue
        try:
            phones = align_phones(clip.audio, SAMPLE_RATE, [w["word"] for w in words])
        except TalkfaceError as e:
            skipped[clip_id] = str(e)
            continue
        norm, _ = to_normalised(clip.landmarks)
        onsets = speech_onsets(speech_envelope(clip.audio, SAMPLE_RATE, len(norm), clip.fps), clip.fps)
        result = clip_samples(np.asarray(norm, np.float64)[:, list(MOTION_POINTS)], phones,
                              float(words[0]["start"]), onsets, clip.fps)
        if result is None:
            skipped[clip_id] = "leading silence too short for a rest shape"
            continue
        rest, samples = result
        rests.append(rest)
        for viseme, d in samples:
            per_viseme[viseme].append(d)
        used.append(clip_id)
    if not used:
        raise TalkfaceError(f"{prepared}: no usable clips from {split}")

    n = len(MOTION_POINTS)
    mean = np.zeros((len(VISEMES), n, 2))
    std = np.zeros((len(VISEMES), n, 2))
    count = np.zeros(len(VISEMES), np.int64)
    for i, name in enumerate(VISEMES):
        ds = np.array(per_viseme.get(name, []))
        count[i] = len(ds)
        if name == SILENCE or len(ds) == 0:
            continue  # silence is the rest shape by definition (zero displacement)
        mean[i] = trim_mean(ds, TRIM, axis=0)
        std[i] = ds.std(axis=0)
    provenance = {
        "command": " ".join(["python -m scripts.derive_visemes", *map(shlex.quote, sys.argv[1:])]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "prepared": str(prepared),
        "split": Path(split).name,
        "phones": "pocketsphinx forced alignment of the transcript (CMU dictionary, en-us acoustic model)",
        "rest": f"median of normalised frames before the in-breath and {REST_MARGIN_S} s before the first word",
        "breath": "displacement in the middle of the in-breath plateau before the first speech onset",
        "statistic": f"trimmed mean ({TRIM:.0%} each end) of the displacement at phone centres; std over all",
        "lead_s": LEAD_S,
        "clips_used": used,
        "clips_skipped": skipped,
    }
    return VisemeTable(VISEMES, mean.astype(np.float32), std.astype(np.float32), count,
                       np.mean(rests, axis=0).astype(np.float32), dict(PHONE_TO_VISEME), provenance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, default=Path("/work/prep"), help="prepared GRID folder")
    parser.add_argument("--split", type=Path,
                        default=Path(__file__).resolve().parents[1] / "talkface" / "splits" / "s1_train.txt",
                        help="clip ids to learn from (never the test split)")
    parser.add_argument("--out", type=Path, default=DEFAULT_TABLE_PATH)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N clips")
    args = parser.parse_args()
    try:
        table = derive(args.prepared, args.split, args.limit)
    except TalkfaceError as e:
        sys.exit(f"error: {e}")
    table.save(args.out)
    print(f"wrote {args.out}: {len(table.provenance['clips_used'])} clips, "
          f"{len(table.provenance['clips_skipped'])} skipped")
    for name, c, d in zip(table.visemes, table.count, table.displacement):
        print(f"  {name:13s} n={c:5d}  inner-lip gap {np.mean(d[[19, 18, 17], 1] - d[[13, 14, 15], 1]):+.3f}"
              f"  chin dy {d[23, 1]:+.3f}  mouth width {d[6, 0] - d[0, 0]:+.3f}")


if __name__ == "__main__":
    main()
