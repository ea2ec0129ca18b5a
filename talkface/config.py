"""Run configs: dataclasses loaded from YAML, overridable with `key=value` strings from the command line."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, TypeVar

import yaml

from talkface.errors import TalkfaceError

T = TypeVar("T")


def _coerce(value: str, current: Any) -> Any:
    parsed = yaml.safe_load(value)
    if isinstance(current, float) and isinstance(parsed, int):
        return float(parsed)
    return parsed


def load_config(cls: type[T], path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> T:
    """A `cls` instance from YAML at `path` (unknown keys are an error) with `key=value` overrides applied."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise TalkfaceError(f"{path}: config file not found")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise TalkfaceError(f"{path}: a config must be a YAML mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise TalkfaceError(f"{path}: unknown config keys {', '.join(unknown)}")
    config = cls(**values)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise TalkfaceError(f"override {item!r}: expected key=value with key one of {', '.join(fields)}")
        setattr(config, key, _coerce(value, getattr(config, key)))
    return config


def config_dict(config) -> dict:
    return dataclasses.asdict(config)
