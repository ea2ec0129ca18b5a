"""What a user asks of the face's expression, checked before any model loads.

`--expression happy:0.7` holds one expression for the whole video; keyframes change it over time
(`--expression "0:neutral 2.5:happy:0.8 5:surprised:0.5"`, or the same as a .json/.csv file); `--au 12=0.8,6=0.5`
adds action units on top, for the whole video. An `ExpressionPlan` turns that into a displacement of the 68
landmarks per frame, in the normalised face frame of the person's own neutral face.

Timing: a keyframe's expression is reached at its time; the change towards it takes the RAMP_SECONDS before it
(less when keyframes are closer), eased with a smoothstep. Before the first keyframe the face is the photo's own.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from talkface.errors import MediaError, TalkfaceError
from talkface.expression import EXPRESSIONS
from talkface.expression.units import ACTION_UNITS

RAMP_SECONDS = 0.5  # how long a change of expression takes
KEYFRAME_SUFFIXES = (".json", ".csv")


class ExpressionSpecError(TalkfaceError):
    """A malformed --expression / --au value (the CLI reports it as a bad command line)."""


@dataclass(frozen=True)
class Keyframe:
    time: float  # seconds from the start
    expression: str
    intensity: float = 1.0
    units: tuple[tuple[int, float], ...] = ()  # action units at this keyframe (a file's keyframes may carry them)


@dataclass(frozen=True)
class ExpressionPlan:
    """Keyframes in time order, plus units held for the whole video."""

    keyframes: tuple[Keyframe, ...] = ()
    units: tuple[tuple[int, float], ...] = ()
    description: str = field(default="", compare=False)  # as the user wrote it, for summaries

    @property
    def is_neutral(self) -> bool:
        """Whether the plan changes nothing (every intensity 0)."""
        expressive = any(k.expression != "neutral" and k.intensity > 0 for k in self.keyframes)
        return not (expressive or any(v > 0 for _, v in self.units)
                    or any(v > 0 for k in self.keyframes for _, v in k.units))

    @property
    def is_still(self) -> bool:
        """One expression for all time (what a photo edit can take)."""
        return len(self.keyframes) <= 1

    def held_displacement(self, neutral_norm: np.ndarray) -> np.ndarray:
        """(68, 2): the units held for the whole video (`--au`)."""
        from talkface.expression.units import units_displacement

        if not self.units:
            return np.zeros((68, 2), np.float64)
        return np.asarray(units_displacement(dict(self.units), neutral_norm), np.float64)

    def keyframe_displacements(self, neutral_norm: np.ndarray, model) -> np.ndarray:
        """(K, 68, 2): each keyframe's displacement in the normalised frame (without the held units)."""
        from talkface.expression.units import units_displacement

        out = np.zeros((max(len(self.keyframes), 1), 68, 2), np.float64)
        for shift, key in zip(out, self.keyframes):
            if key.expression != "neutral" and key.intensity > 0:
                shift += key.intensity * model.displacement(neutral_norm, key.expression)
            if key.units:
                shift += units_displacement(dict(key.units), neutral_norm)
        return out

    def still_displacement(self, neutral_norm: np.ndarray, model) -> np.ndarray:
        """(68, 2) float32: the one expression of a still plan (at most one keyframe) with the held units."""
        shifts = self.keyframe_displacements(neutral_norm, model)
        return (shifts[-1] + self.held_displacement(neutral_norm)).astype(np.float32)

    def displacements(self, neutral_norm: np.ndarray, model, n_frames: int, fps: float) -> np.ndarray:
        """(n_frames, 68, 2) float32: the displacement at each frame's time i / fps."""
        shifts = self.keyframe_displacements(neutral_norm, model)
        times = [k.time for k in self.keyframes] or [0.0]
        weights = keyframe_weights(np.arange(n_frames) / fps, times)
        moving = np.einsum("tk,kij->tij", weights, shifts)
        return (moving + self.held_displacement(neutral_norm)).astype(np.float32)


def keyframe_weights(t: np.ndarray, times: list[float], ramp: float = RAMP_SECONDS) -> np.ndarray:
    """(len(t), K) weights of each keyframe's displacement at times t: keyframe k is fully on from its time
    until the ramp towards k + 1 starts; before the first keyframe everything is 0 (the photo), unless it is at 0."""
    t = np.asarray(t, np.float64)
    k = len(times)
    weights = np.zeros((len(t), k))
    previous = -math.inf
    for i, at in enumerate(times):
        if at <= 0:  # the very start: on at once
            rise = np.ones(len(t))
        else:  # times increase (parse_expression checks), so the ramp never starts before the keyframe before
            span = min(ramp, at - previous)
            rise = _smoothstep((t - (at - span)) / span)
        weights[:, i] = rise
        if i > 0:
            weights[:, :i] *= (1.0 - rise)[:, None]  # earlier keyframes hand over to this one
        previous = at
    return weights


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


# -- parsing -------------------------------------------------------------------------------------

def _intensity(text: str, option: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ExpressionSpecError(f"{option}: {where}: intensity '{text}' is not a number (0 to 1)") from None
    if not (0.0 <= value <= 1.0):
        raise ExpressionSpecError(f"{option}: {where}: intensity {text} is out of range (0 to 1)")
    return value


def _expression_name(text: str, option: str, where: str) -> str:
    name = text.strip().lower()
    if name not in EXPRESSIONS:
        raise ExpressionSpecError(f"{option}: {where}: unknown expression '{text}' (one of: {', '.join(EXPRESSIONS)})")
    return name


def _one(text: str, option: str) -> Keyframe:
    parts = text.split(":")
    if len(parts) > 2:
        raise ExpressionSpecError(f"{option}: '{text}' is not NAME[:INTENSITY] or keyframes 'SECONDS:NAME[:INTENSITY] ...'")
    name = _expression_name(parts[0], option, f"'{text}'")
    return Keyframe(0.0, name, _intensity(parts[1], option, f"'{text}'") if len(parts) == 2 else 1.0)


def _keyframe(token: str, option: str, number: int) -> Keyframe:
    where = f"keyframe {number} '{token}'"
    parts = token.split(":")
    if len(parts) not in (2, 3):
        raise ExpressionSpecError(f"{option}: {where} is not SECONDS:NAME[:INTENSITY]")
    try:
        time = float(parts[0])
    except ValueError:
        raise ExpressionSpecError(f"{option}: {where}: time '{parts[0]}' is not a number of seconds") from None
    if not (math.isfinite(time) and time >= 0):
        raise ExpressionSpecError(f"{option}: {where}: time must be 0 or more seconds")
    name = _expression_name(parts[1], option, where)
    return Keyframe(time, name, _intensity(parts[2], option, where) if len(parts) == 3 else 1.0)


def _in_order(keys: list[Keyframe], option: str) -> tuple[Keyframe, ...]:
    for number, (a, b) in enumerate(zip(keys, keys[1:]), start=2):
        if b.time <= a.time:
            raise ExpressionSpecError(f"{option}: keyframe {number} at {b.time:g} s is not after the one before "
                                      f"({a.time:g} s): times must increase")
    return tuple(keys)


def parse_expression(text: str, option: str = "--expression") -> tuple[Keyframe, ...]:
    """'happy', 'happy:0.7', or keyframes '0:neutral 2.5:happy:0.8 5:surprised:0.5'."""
    tokens = text.replace(",", " ").split()
    if not tokens:
        raise ExpressionSpecError(f"{option}: empty (e.g. happy:0.7, or keyframes '0:neutral 2:happy')")
    if len(tokens) == 1 and not _starts_with_number(tokens[0]):
        return (_one(tokens[0], option),)
    return _in_order([_keyframe(tok, option, i) for i, tok in enumerate(tokens, start=1)], option)


def _starts_with_number(token: str) -> bool:
    try:
        float(token.split(":")[0])
    except ValueError:
        return False
    return True


def parse_units(text: str, option: str = "--au") -> tuple[tuple[int, float], ...]:
    """'12=0.8,6=0.5' -> ((12, 0.8), (6, 0.5)); each unit once, each value 0 to 1."""
    allowed = ", ".join(str(u) for u in ACTION_UNITS)
    units: dict[int, float] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        name, eq, value = item.partition("=")
        key = name.strip().upper().removeprefix("AU")
        if not eq or not key.isdigit():
            raise ExpressionSpecError(f"{option}: '{item}' is not UNIT=INTENSITY (e.g. 12=0.8; units: {allowed})")
        unit = int(key)
        if unit not in ACTION_UNITS:
            raise ExpressionSpecError(f"{option}: unknown action unit {unit} (one of: {allowed})")
        if unit in units:
            raise ExpressionSpecError(f"{option}: unit {unit} is given twice")
        units[unit] = _intensity(value.strip(), option, f"unit {unit}")
    if not units:
        raise ExpressionSpecError(f"{option}: empty (e.g. 12=0.8,6=0.5; units: {allowed})")
    return tuple(units.items())


def load_keyframes(path: str | Path) -> tuple[Keyframe, ...]:
    """Keyframes from a file: JSON, a list of {"time", "expression", "intensity"?, "au"?: {"12": 0.8}}, or CSV with
    a header `time,expression[,intensity]`. Errors name the file (a bad input file, not a bad command line)."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise MediaError(f"{name}: cannot read keyframes ({getattr(err, 'strerror', None) or err})") from None
    try:
        rows = _json_rows(text, name) if path.suffix.lower() == ".json" else _csv_rows(text, name)
        keys = []
        for number, row in enumerate(rows, start=1):
            where = f"keyframe {number}"
            try:
                time = float(row.get("time", ""))
            except (TypeError, ValueError):
                raise ExpressionSpecError(f"{name}: {where}: 'time' is missing or not a number of seconds") from None
            if not (math.isfinite(time) and time >= 0):
                raise ExpressionSpecError(f"{name}: {where}: time must be 0 or more seconds")
            expression = _expression_name(str(row.get("expression", "neutral")), name, where)
            intensity = row.get("intensity", 1.0)
            intensity = _intensity(str(intensity if intensity not in ("", None) else 1.0), name, where)
            units = row.get("au") or {}
            if not isinstance(units, dict):
                raise ExpressionSpecError(f"{name}: {where}: 'au' must be an object like {{\"12\": 0.8}}")
            parsed = parse_units(",".join(f"{k}={v}" for k, v in units.items()), f"{name}: {where}") if units else ()
            keys.append(Keyframe(time, expression, intensity, parsed))
        if not keys:
            raise ExpressionSpecError(f"{name}: no keyframes")
        return _in_order(keys, name)
    except ExpressionSpecError as err:
        raise MediaError(str(err)) from None


def _json_rows(text: str, name: str) -> list[dict]:
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as err:
        raise ExpressionSpecError(f"{name}: not valid JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ExpressionSpecError(f"{name}: expected a JSON list of keyframes like "
                                  '[{"time": 0, "expression": "happy", "intensity": 0.8}]')
    return rows


def _csv_rows(text: str, name: str) -> list[dict]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "time" not in [f.strip().lower() for f in reader.fieldnames]:
        raise ExpressionSpecError(f"{name}: expected a CSV header 'time,expression,intensity'")
    return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]


def expression_plan(expression: str | None = None, units: str | None = None) -> ExpressionPlan | None:
    """The plan for `--expression` (a spec or a .json/.csv keyframe file) and `--au`; None when neither is given."""
    if expression is None and units is None:
        return None
    keyframes: tuple[Keyframe, ...] = ()
    if expression is not None:
        if Path(expression).suffix.lower() in KEYFRAME_SUFFIXES:
            keyframes = load_keyframes(expression)
        else:
            keyframes = parse_expression(expression)
    held = parse_units(units) if units is not None else ()
    words = [w for w in (expression, f"AU {units}" if units else None) if w]
    return ExpressionPlan(keyframes, held, " + ".join(words))
