"""Write a config mapping as TOML (the stdlib reads TOML but does not write it).

Launchers (demo, replay) generate the config they hand to every daemon, so all processes read
one file; only tables, arrays of tables and scalars/arrays of scalars are needed. A None value
(an unset optional field of a dumped config) is left out, as TOML has no null.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, (int, float)):
        return repr(v)
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, dict) for x in v)


def dumps(data: dict) -> str:
    lines: list[str] = []

    def table(prefix: str, d: dict) -> None:
        d = {k: v for k, v in d.items() if v is not None}    # TOML has no null: an unset key is absent
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict) and not _is_table_array(v)}
        if prefix and (scalars or not d):
            lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {_value(v)}" for k, v in scalars.items())
        for k, v in d.items():
            name = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                table(name, v)
            elif _is_table_array(v):
                for item in v:
                    lines.append(f"[[{name}]]")
                    lines.extend(f"{ik} = {_value(iv)}" for ik, iv in item.items() if iv is not None)

    table("", data)
    return "\n".join(lines) + "\n"


def write_toml(path: str | Path, data: dict) -> Path:
    p = Path(path)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(dumps(data))
    tmp.replace(p)
    return p
