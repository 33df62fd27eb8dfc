"""Read a TOML config file into a validated :class:`AppConfig`.

Every failure becomes one :class:`ConfigError` line naming the file, the field (dotted path)
and the offending value, so a daemon refuses to start with a message a user can act on.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError
from .root import AppConfig


def _field_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "<root>"


def _describe(path: str, err: ValidationError) -> str:
    first = err.errors()[0]
    # Drop pydantic's internal "function-after[...]" location parts.
    loc = tuple(p for p in first.get("loc", ()) if not (isinstance(p, str) and "[" in p))
    value = first.get("input")
    shown = repr(value)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    msg = first.get("msg", "invalid")
    if first.get("type") == "extra_forbidden":
        return f"{path}: unknown key {_field_path(loc)} (value {shown})"
    if first.get("type") == "missing":
        return f"{path}: missing required field {_field_path(loc)}"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    if not loc:
        # A check across sections (e.g. an alias disagreeing with [model]): its message names the
        # fields and values; the whole input would only bury them.
        return f"{path}: {msg.removeprefix('Value error, ')}{more}"
    return f"{path}: {_field_path(loc)}: {msg} (got {shown}){more}"


def config_from_dict(data: dict[str, Any], source: str = "<dict>") -> AppConfig:
    try:
        return AppConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(source, e)) from None


def load_config(path: str | Path) -> AppConfig:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config file: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    return config_from_dict(data, str(p))
