"""Phone -> viseme classes, and the table of mouth shapes per viseme (estimated from GRID).

A viseme's shape is the mean displacement of the MOTION_POINTS (20 mouth points + lower jaw
5..11) in the normalised face frame (unit interocular distance, y down), relative to the
speaker's closed, resting mouth. `scripts/derive_visemes.py` writes the shipped table.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from talkface.errors import TalkfaceError

# Mouth first (iBUG 48..67), then the lower jaw contour that moves with the chin (5..11).
MOTION_POINTS = tuple(range(48, 68)) + tuple(range(5, 12))

SILENCE = "sil"
# ~12 classes grouped by how the lips and jaw look, not how the sound is made.
VISEME_PHONES: dict[str, tuple[str, ...]] = {
    SILENCE: ("SIL", "+NSN+", "+SPN+"),
    "bilabial": ("P", "B", "M"),
    "labiodental": ("F", "V"),
    "dental": ("TH", "DH"),
    "alveolar": ("T", "D", "N", "S", "Z", "L"),
    "postalveolar": ("SH", "CH", "JH", "ZH"),
    "velar": ("K", "G", "NG", "HH"),
    "open": ("AA", "AE", "AH", "AO", "AY", "AW"),
    "mid": ("EH", "ER", "EY"),
    "rounded": ("OW", "UW", "UH", "OY", "W"),
    "spread": ("IY", "IH", "Y"),
    "r": ("R",),
    # Lips part in the in-breath before speaking; placed before speech onsets, not by phones.
    "breath": (),
}
BREATH = "breath"
VISEMES = tuple(VISEME_PHONES)
PHONE_TO_VISEME = {p: v for v, phones in VISEME_PHONES.items() for p in phones}

DEFAULT_TABLE_PATH = Path(__file__).resolve().parent / "data" / "visemes.json"


@dataclass
class VisemeTable:
    """Per-viseme mouth displacement from rest, (V, 27, 2) in the normalised face frame."""

    visemes: tuple[str, ...]
    displacement: np.ndarray  # (V, 27, 2) robust mean displacement from the closed rest mouth
    std: np.ndarray  # (V, 27, 2) spread across occurrences
    count: np.ndarray  # (V,) occurrences averaged
    rest: np.ndarray  # (27, 2) mean rest shape of the training speaker(s), normalised frame
    phone_to_viseme: dict[str, str] = field(default_factory=lambda: dict(PHONE_TO_VISEME))
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(MOTION_POINTS)
        v = len(self.visemes)
        if self.displacement.shape != (v, n, 2) or self.std.shape != (v, n, 2) or self.rest.shape != (n, 2):
            raise TalkfaceError(f"viseme table: expected ({v},{n},2) displacements and ({n},2) rest shape, "
                                f"got {self.displacement.shape} and {self.rest.shape}")

    def index(self, viseme: str) -> int:
        return self.visemes.index(viseme)

    def to_json(self) -> dict:
        return {
            "visemes": list(self.visemes),
            "motion_points": list(MOTION_POINTS),
            "phone_to_viseme": self.phone_to_viseme,
            "rest": np.round(self.rest, 5).tolist(),
            "shapes": {
                name: {"count": int(self.count[i]),
                       "displacement": np.round(self.displacement[i], 5).tolist(),
                       "std": np.round(self.std[i], 5).tolist()}
                for i, name in enumerate(self.visemes)
            },
            "provenance": self.provenance,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Atomic write (temp file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # One line per innermost list keeps the file small and its diffs readable.
        text = re.sub(r"\[([^\[\]{}]*)\]", lambda m: "[" + " ".join(m.group(1).split()) + "]",
                      json.dumps(self.to_json(), indent=1))
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    @classmethod
    def from_json(cls, data: dict) -> VisemeTable:
        names = tuple(data["visemes"])
        shapes = data["shapes"]
        return cls(
            visemes=names,
            displacement=np.array([shapes[n]["displacement"] for n in names], np.float32),
            std=np.array([shapes[n]["std"] for n in names], np.float32),
            count=np.array([shapes[n]["count"] for n in names], np.int64),
            rest=np.array(data["rest"], np.float32),
            phone_to_viseme=dict(data["phone_to_viseme"]),
            provenance=dict(data.get("provenance", {})),
        )

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> VisemeTable:
        path = Path(path) if path is not None else DEFAULT_TABLE_PATH
        try:
            data = json.loads(path.read_text())
            if list(data["motion_points"]) != list(MOTION_POINTS):
                raise ValueError("motion points differ from this version's")
            return cls.from_json(data)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise TalkfaceError(f"{path}: cannot read viseme table ({e})") from None
