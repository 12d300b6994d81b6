"""A finding's evidence as plain, readable lines (``key: value``), for the text outputs.

Lists become ``a, b`` (``none`` when empty), a record with a name ``Admins (id: 3, all
environments: no)``, other records are indented under their key, booleans ``yes`` / ``no`` and a
missing value ``unknown``. No Python repr ever shows. Escaping for the medium (XML, Markdown,
CSV) is the caller's: these are plain strings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from auditor.result import iso

MAX_DEPTH = 6


def label(key: object) -> str:
    return str(key).replace("_", " ")


def plain(value: Any, depth: int = 0) -> str:
    """One value on one line."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return iso(value) or ""
    if isinstance(value, date):
        return value.isoformat()
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return ", ".join(plain(v, depth + 1) for v in items) if items else "none"
    if isinstance(value, dict):
        rest = [f"{label(k)}: {plain(v, depth + 1)}" for k, v in value.items() if k != "name"]
        if "name" in value:
            return plain(value["name"], depth + 1) + (f" ({', '.join(rest)})" if rest else "")
        return "; ".join(rest) if rest else "none"
    return str(value)


def lines(evidence: dict[str, Any], indent: str = "", depth: int = 0) -> list[str]:
    """``key: value`` lines; a nested record without a name goes under its key, indented."""
    out: list[str] = []
    for key, value in evidence.items():
        if isinstance(value, dict) and "name" not in value and value and depth < MAX_DEPTH:
            out.append(f"{indent}{label(key)}:")
            out += lines(value, indent + "  ", depth + 1)
        else:
            out.append(f"{indent}{label(key)}: {plain(value, depth)}")
    return out
