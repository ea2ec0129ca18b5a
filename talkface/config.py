"""Run configs: dataclasses loaded from YAML, overridable with `key=value` strings from the command line.

Every trainer's config has the same nested YAML shape: the sections `model`, `data`, `loss`, `optim` and
`run`, each holding its fields (the dataclass says which in its `SECTIONS`). In code a config stays one flat
dataclass (`config.lr`); overrides may name a field with or without its section (`optim.lr=1e-3`, `lr=1e-3`).
A flat YAML (the shape before sections) still loads.

A config may start from another: `base: normmel.yaml` (a path relative to the file) loads that config first and
the file's own fields replace the base's, so a variant lists only what it changes.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, TypeVar

import yaml

from talkface.errors import TalkfaceError

T = TypeVar("T")
SECTIONS = ("model", "data", "loss", "optim", "run")
BASE_KEY = "base"


def _coerce(value: str, current: Any) -> Any:
    parsed = yaml.safe_load(value)
    if isinstance(current, float) and isinstance(parsed, int):
        return float(parsed)
    return parsed


def field_sections(cls) -> dict[str, str]:
    """{field name: its section} from the config class's SECTIONS ({section: field names})."""
    return {name: section for section, names in cls.SECTIONS.items() for name in names}


def _flatten(values: dict, cls, path) -> dict:
    """A nested (sectioned) mapping as flat field values; each field must sit in its own section."""
    where = field_sections(cls)
    flat = {k: v for k, v in values.items() if k not in SECTIONS}
    for section in SECTIONS:
        if section not in values:
            continue
        body = values[section] or {}
        if not isinstance(body, dict):
            raise TalkfaceError(f"{path}: section {section} must be a mapping")
        for key, value in body.items():
            if key in where and where[key] != section:
                raise TalkfaceError(f"{path}: {section}.{key}: {key} belongs in section {where[key]}")
            if key in flat:
                raise TalkfaceError(f"{path}: {key} is given twice")
            flat[key] = value
    return flat


def _read_flat(cls, path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """The flat field values of the YAML at `path`, its `base:` chain (if any) merged underneath."""
    path = path.resolve()
    if path in chain:
        raise TalkfaceError(f"{path}: config base chain loops ({' -> '.join(p.name for p in (*chain, path))})")
    if not path.is_file():
        where = f" (the base of {chain[-1]})" if chain else ""
        raise TalkfaceError(f"{path}: config file not found{where}")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise TalkfaceError(f"{path}: a config must be a YAML mapping")
    base = values.pop(BASE_KEY, None)
    flat = {}
    if base is not None:
        if not isinstance(base, str):
            raise TalkfaceError(f"{path}: {BASE_KEY} must be a path to another config")
        flat = _read_flat(cls, path.parent / base, (*chain, path))
    flat.update(_flatten(values, cls, path))
    return flat


def load_config(cls: type[T], path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> T:
    """A `cls` instance from YAML at `path` (unknown keys are an error) with `key=value` overrides applied."""
    values = _read_flat(cls, Path(path)) if path is not None else {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise TalkfaceError(f"{path}: unknown config keys {', '.join(unknown)}")
    config = cls(**values)
    where = field_sections(cls)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        section, _, name = key.rpartition(".")
        if not sep or name not in fields or (section and where.get(name) != section):
            raise TalkfaceError(f"override {item!r}: expected key=value with key one of {', '.join(fields)} "
                                f"(optionally after its section, e.g. optim.lr)")
        setattr(config, name, _coerce(value, getattr(config, name)))
    return config


def config_dict(config) -> dict:
    """The config as the nested YAML shape: {section: {field: value}}."""
    flat = dataclasses.asdict(config)
    where = field_sections(type(config))
    return {section: {k: v for k, v in flat.items() if where[k] == section}
            for section in SECTIONS if any(where[k] == section for k in flat)}
