"""JSON out, fast: every document the auditor writes or stores goes through here (orjson, with
the standard library as the fallback for what orjson refuses, e.g. integers beyond 64 bits).

Times are written by :func:`auditor.result.iso` (``...Z``), never orjson's own format; sets are
sorted; anything else JSON has no type for is written as its text.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import orjson

_BASE = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | \
    orjson.OPT_NON_STR_KEYS


def json_default(value: object) -> Any:
    """Values a rule may put in evidence that JSON has no type for."""
    if isinstance(value, datetime):
        from auditor.clock import iso

        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def dumps_bytes(value: object, *, indent: bool = False, sort_keys: bool = False) -> bytes:
    """UTF-8 JSON: compact (``,`` and ``:``), or indented by two spaces."""
    option = _BASE | (orjson.OPT_INDENT_2 if indent else 0) | (
        orjson.OPT_SORT_KEYS if sort_keys else 0)
    try:
        return orjson.dumps(value, default=json_default, option=option)
    except (orjson.JSONEncodeError, TypeError):  # e.g. an integer beyond 64 bits
        separators = (",", ": ") if indent else (",", ":")
        return json.dumps(value, ensure_ascii=False, default=json_default, sort_keys=sort_keys,
                          indent=2 if indent else None,
                          separators=separators).encode("utf-8", "surrogatepass")


def dumps(value: object, *, indent: bool = False, sort_keys: bool = False) -> str:
    return dumps_bytes(value, indent=indent, sort_keys=sort_keys).decode("utf-8", "replace")


def dumps_utf8(value: object, *, indent: bool = False, sort_keys: bool = False) -> bytes:
    """Exactly ``dumps(...).encode("utf-8")`` (valid UTF-8: a lone surrogate is replaced), for
    writers that stream bytes; orjson's own output needs no decoding round trip."""
    option = _BASE | (orjson.OPT_INDENT_2 if indent else 0) | (
        orjson.OPT_SORT_KEYS if sort_keys else 0)
    try:
        return orjson.dumps(value, default=json_default, option=option)
    except (orjson.JSONEncodeError, TypeError):
        return dumps(value, indent=indent, sort_keys=sort_keys).encode("utf-8")
