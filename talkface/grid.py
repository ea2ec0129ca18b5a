"""The GRID audio-visual corpus: clip discovery in its usual layouts, word alignments, transcripts, splits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from talkface.errors import TalkfaceError

ALIGN_UNITS_PER_FRAME = 1000.0  # alignment times are in 1/1000 of a 25 fps video frame
SILENCE_TOKENS = {"sil", "sp"}
VIDEO_EXTENSIONS = (".mpg", ".mp4", ".avi", ".mov")

# The GRID grammar: command colour preposition letter digit adverb. Clip ids spell a sentence with
# one character per slot (`bbaf2n` = "bin blue at f two now").
GRAMMAR = {
    "command": {"b": "bin", "l": "lay", "p": "place", "s": "set"},
    "colour": {"b": "blue", "g": "green", "r": "red", "w": "white"},
    "preposition": {"a": "at", "b": "by", "i": "in", "w": "with"},
    "letter": {c: c for c in "abcdefghijklmnopqrstuvxyz"},  # GRID has no 'w' letter
    "digit": {"z": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five",
              "6": "six", "7": "seven", "8": "eight", "9": "nine"},
    "adverb": {"a": "again", "n": "now", "p": "please", "s": "soon"},
}
VOCABULARY = sorted({w for slot in GRAMMAR.values() for w in slot.values()})


@dataclass(frozen=True)
class GridClip:
    clip_id: str
    speaker: str
    video: Path
    alignment: Path | None


@dataclass(frozen=True)
class Word:
    start: float  # video frame index (float)
    end: float
    word: str


def transcript_from_id(clip_id: str) -> str:
    """The sentence a clip id spells; raises TalkfaceError for ids outside the grammar."""
    slots = list(GRAMMAR.values())
    code = clip_id[-6:]
    if len(clip_id) < 6 or any(ch not in slot for ch, slot in zip(code, slots)):
        raise TalkfaceError(f"{clip_id}: not a GRID clip id (expected 6 characters spelling a GRID sentence)")
    return " ".join(slot[ch] for ch, slot in zip(code, slots))


def read_alignment(path: str | os.PathLike) -> list[Word]:
    """Words (silences included) of a `.align` file, times converted to video frames."""
    words = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise TalkfaceError(f"{path}:{n}: expected 'start end word', got {line!r}")
        start, end, word = parts
        words.append(Word(int(start) / ALIGN_UNITS_PER_FRAME, int(end) / ALIGN_UNITS_PER_FRAME, word))
    return words


def transcript_from_alignment(words: list[Word]) -> str:
    return " ".join(w.word for w in words if w.word not in SILENCE_TOKENS)


def _alignment_for(root: Path, speaker: str, clip_id: str, video: Path) -> Path | None:
    candidates = [
        root / "alignments" / speaker / f"{clip_id}.align",
        root / speaker / "align" / f"{clip_id}.align",
        root / "align" / speaker / f"{clip_id}.align",
        root / "align" / f"{clip_id}.align",
        video.parent / "align" / f"{clip_id}.align",
        video.parent.parent / "align" / f"{clip_id}.align",
        video.with_suffix(".align"),
    ]
    return next((c for c in candidates if c.is_file()), None)


def _speaker_of(video: Path, root: Path) -> str | None:
    """The first path component under root that looks like a GRID speaker (s1..s34)."""
    for part in video.relative_to(root).parts[:-1]:
        if part[:1] == "s" and part[1:].isdigit():
            return part
    return None


def find_clips(root: str | os.PathLike, speakers: list[str] | None = None) -> list[GridClip]:
    """Every GRID clip under root, whatever the layout (`s1/<id>.mpg`, `s1/video/mpg_6000/<id>.mpg`,
    `<root>/s1/<id>.mp4`, ...). When a clip exists in several formats, .mpg (the native one) wins."""
    root = Path(root)
    if not root.is_dir():
        raise TalkfaceError(f"{root}: GRID root directory not found")
    found: dict[tuple[str, str], Path] = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.suffix.lower() not in VIDEO_EXTENSIONS:
                continue
            speaker = _speaker_of(path, root)
            if speaker is None or (speakers and speaker not in speakers):
                continue
            key = (speaker, path.stem)
            rank = VIDEO_EXTENSIONS.index(path.suffix.lower())
            if key not in found or rank < VIDEO_EXTENSIONS.index(found[key].suffix.lower()):
                found[key] = path
    return [GridClip(clip_id, speaker, video, _alignment_for(root, speaker, clip_id, video))
            for (speaker, clip_id), video in sorted(found.items())]


def read_split(path: str | os.PathLike) -> list[str]:
    """Clip ids of a split file, one per line."""
    path = Path(path)
    if not path.is_file():
        raise TalkfaceError(f"{path}: split file not found")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def split_path(root: str | os.PathLike, speaker: str, split: str) -> Path:
    """`<root>/splits/<speaker>_<split>.txt`, falling back to the copy shipped in configs/splits."""
    candidate = Path(root) / "splits" / f"{speaker}_{split}.txt"
    if candidate.is_file():
        return candidate
    return Path(__file__).resolve().parent / "splits" / f"{speaker}_{split}.txt"
