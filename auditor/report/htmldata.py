"""The findings as the HTML report embeds them: compact JSON, safe inside a <script> element.

Layout (``v`` 1), read by templates/report.js. Every repeated value is stored once and referenced
by index, so 100,000 findings stay around ten megabytes:

- ``rules``: [[id, title, risk, [[reference title, https url]...]]]; ``tenants``: [name];
  ``s``: shared strings (titles, messages and remediation with the key's name replaced by NUL,
  first-seen times); ``x``: exception entries;
  ``controls``: [[framework key, framework label, control]]; ``c``: compliance mappings as lists
  of ``controls`` indices; ``ek``: evidence key lists; ``ev``: evidence values;
- ``f``: one array per finding, in the report's default order (severity, rule, tenant, key):
  [id, rule, severity, status, lifecycle, tenant, resource type (0 key, 1 tenant), resource id,
  resource name, message (s, or the text itself), title (s), remediation (s, or the text
  itself), first seen (s or -1),
  exception (x or -1), compliance (c), evidence ([ek, ev, ev...] or 0)].
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import IO, Any

import orjson
from markupsafe import Markup

from auditor import jsonio
from auditor.engine.findings import SEVERITIES, Finding
from auditor.report.base import RuleDoc
from auditor.report.views import finding_order, framework_label, natural_key
from auditor.result import RunResult, iso

STATUSES = ("fail", "unknown", "muted", "resolved")
LIFECYCLES = ("new", "open", "reopened", "resolved")

# Inside <script>, "</script", "<!--" and "<script" are the only ways out: all need "<".
# ">" and "&" are escaped too (defence in depth), and U+2028/2029 for old JS parsers.
_SCRIPT_UNSAFE = re.compile("[<>&\u2028\u2029\ud800-\udfff]")
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | \
    orjson.OPT_NON_STR_KEYS  # as jsonio.dumps


def script_json(data: object) -> Markup:
    """JSON for a ``<script type="application/json">`` block: no character in it can end the
    element, start a comment or an entity; strings keep their exact value for JSON.parse."""
    text = jsonio.dumps(data)
    return Markup(_SCRIPT_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text))  # noqa: S704


class _Interner:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self._index: dict[str, int] = {}

    def get(self, key: str) -> int | None:
        return self._index.get(key)

    def add(self, value: Any, key: str | None = None) -> int:
        k = key if key is not None else value
        found = self._index.get(k)
        if found is None:
            found = self._index[k] = len(self.items)
            self.items.append(value)
        return found


class _Spilled(_Interner):
    """An interner that keeps only its index: each new item is encoded (escaped JSON) into a
    temporary file as it is added, for :class:`DataStream`. A long key is kept as its 128-bit
    BLAKE2 digest, so that memory holds no second copy of the long texts and evidence values."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[str | bytes, int] = {}
        self._count = 0
        self._pending: list[bytes] = []
        self.file: IO[bytes] = tempfile.TemporaryFile()

    def get(self, key: str) -> int | None:  # pragma: no cover - not used on spilled tables
        return self._keys.get(_short(key))

    def add(self, value: Any, key: str | None = None) -> int:
        k = _short(key if key is not None else value)
        found = self._keys.get(k)
        if found is None:
            found = self._keys[k] = self._count
            self._count += 1
            self._pending.append(orjson.dumps(value, default=jsonio.json_default,
                                              option=_OPTIONS))
            if len(self._pending) >= _ROWS_AT_ONCE:
                self.flush()
        return found

    def flush(self) -> None:
        if self._pending:
            self.file.write((b"," if self._count > len(self._pending) else b"")
                            + _escape_utf8(b",".join(self._pending)))
            self._pending = []


def _short(key: str) -> str | bytes:
    if len(key) <= 64:
        return key
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class FilterOptions:
    rules: list[tuple[int, str, str]]  # (index, id, title), sorted by id
    tenants: list[tuple[int, str]]  # (index, name), sorted by name
    controls: list[tuple[str, list[tuple[int, str]]]]  # (framework label, [(index, control)])


def _enum(values: tuple[str, ...], value: str) -> int:
    try:
        return values.index(value)
    except ValueError:
        return -1


def _sentence(strings: _Interner, text: str, name: str) -> int | str:
    """The index of ``text`` in the shared strings with the key's name replaced by NUL, so the
    same sentence about many keys is stored once; the page puts the name back (split/join, exact
    when neither holds a NUL). A text that cannot be templated is kept verbatim, as a string."""
    if "\x00" in text or "\x00" in name:
        return text
    return strings.add(text.replace(name, "\x00") if name else text)


class _Evidence:
    """Evidence dicts as [shape, value, value...]: key lists and values are stored once."""

    def __init__(self, values: _Interner | None = None) -> None:
        self.shapes = _Interner()
        self.values = values if values is not None else _Interner()

    def add(self, evidence: dict[str, Any]) -> list[int] | int:
        if not evidence:
            return 0
        shape = self.shapes.add(list(evidence), "\x1f".join(evidence))
        return [shape, *(self.values.add(v, _value_key(v)) for v in evidence.values())]


def _value_key(value: object) -> str:
    """A key equal for equal values (the ``repr`` of JSON-like values is their content, and is
    fast; values of other types keep their own entry)."""
    if isinstance(value, str):
        return "s" + value
    if isinstance(value, (int, float, list, dict, tuple)) or value is None:
        return "r" + repr(value)
    return "o" + str(id(value))


class _Compliance:
    def __init__(self) -> None:
        self.controls = _Interner()  # [framework key, framework label, control]
        self.mappings = _Interner()  # sorted lists of control indices
        self._by_identity: dict[int, int] = {}  # a rule's findings share its mapping dict

    def add(self, compliance: dict[str, list[str]]) -> int:
        found = self._by_identity.get(id(compliance))
        if found is None:
            key = json.dumps(compliance, sort_keys=True, default=str)
            found = self.mappings.get(key)
            if found is None:
                ids = sorted({self.controls.add([fw, framework_label(fw), str(c)], f"{fw}\x1f{c}")
                              for fw, cs in compliance.items() for c in cs})
                found = self.mappings.add(ids, key)
            self._by_identity[id(compliance)] = found
        return found


def _risk(docs: dict[str, RuleDoc] | None, rule_id: str) -> str:
    doc = (docs or {}).get(rule_id)
    return doc.risk if doc else ""


def _refs(docs: dict[str, RuleDoc] | None, rule_id: str) -> list[list[str]]:
    doc = (docs or {}).get(rule_id)
    return [[r.title, r.url] for r in doc.references] if doc else []


class _Tables:
    """Everything but the rows: the interned tables a row refers to, filled as rows are made."""

    def __init__(self, result: RunResult, strings: _Interner | None = None,
                 values: _Interner | None = None) -> None:
        self.rules, self.tenants, self.exceptions = _Interner(), _Interner(), _Interner()
        self.strings = strings if strings is not None else _Interner()
        self.evidence, self.compliance = _Evidence(values), _Compliance()
        self.rule_titles: dict[str, str] = {}
        for t in result.tenants:
            self.tenants.add(t.name)

    def row(self, f: Finding) -> list[Any]:
        strings = self.strings
        self.rule_titles.setdefault(f.rule_id, f.title)
        name = f.resource.name
        exc = -1
        if f.exception:
            exc = self.exceptions.add(f.exception,
                                      json.dumps(f.exception, sort_keys=True, default=str))
        seen = iso(f.first_seen)
        return [
            f.id, self.rules.add(f.rule_id), _enum(SEVERITIES, f.severity),
            _enum(STATUSES, f.status), _enum(LIFECYCLES, f.lifecycle), self.tenants.add(f.tenant),
            0 if f.resource.type == "api_key" else 1, f.resource.id, name,
            _sentence(strings, f.message, name), strings.add(f.title),
            _sentence(strings, f.remediation, name), -1 if seen is None else strings.add(seen),
            exc, self.compliance.add(f.compliance), self.evidence.add(f.evidence),
        ]

    def head(self, result: RunResult, docs: dict[str, RuleDoc] | None) -> dict[str, Any]:
        """The page data without ``f`` (the rows), in the layout's key order."""
        rule_titles = self.rule_titles
        return {
            "v": 1,
            "run": {"id": result.run_id, "started_at": iso(result.started_at)},
            "rules": [[r, rule_titles.get(r, ""), _risk(docs, r), _refs(docs, r)]
                      for r in self.rules.items],
            "tenants": self.tenants.items,
            "s": self.strings.items,
            "x": self.exceptions.items,
            "controls": self.compliance.controls.items,
            "c": self.compliance.mappings.items,
            "ek": self.evidence.shapes.items,
            "ev": self.evidence.values.items,
        }

    def options(self) -> FilterOptions:
        rule_titles = self.rule_titles
        by_framework: dict[str, list[tuple[int, str]]] = {}
        for i, (_fw, label, control) in enumerate(self.compliance.controls.items):
            by_framework.setdefault(label, []).append((i, control))
        return FilterOptions(
            rules=sorted(((i, r, rule_titles.get(r, "")) for i, r in enumerate(self.rules.items)),
                         key=lambda t: natural_key(t[1])),
            tenants=sorted(enumerate(self.tenants.items), key=lambda t: t[1].lower()),
            controls=[(label, sorted(cs, key=lambda t: natural_key(t[1])))
                      for label, cs in sorted(by_framework.items())],
        )


def encode(result: RunResult,
           docs: dict[str, RuleDoc] | None = None) -> tuple[Markup, FilterOptions]:
    """The page data as one escaped JSON text, and the filter options (see :class:`DataStream`
    for the same bytes written as they are made)."""
    tables = _Tables(result)
    rows = [tables.row(f) for f in sorted(result.findings, key=finding_order)]
    data = tables.head(result, docs)
    data["f"] = rows
    return script_json(data), tables.options()


_ROWS_AT_ONCE = 2000


def _escape_utf8(data: bytes) -> bytes:
    """script_json's escapes, on UTF-8 JSON (U+2028 and U+2029 are E2 80 A8 / A9; lone
    surrogates cannot be in the encoder's UTF-8 output)."""
    if b"<" in data:
        data = data.replace(b"<", b"\\u003c")
    if b">" in data:
        data = data.replace(b">", b"\\u003e")
    if b"&" in data:
        data = data.replace(b"&", b"\\u0026")
    if b"\xe2\x80" in data:
        data = data.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return data


def _json(value: object) -> bytes:
    return _escape_utf8(orjson.dumps(value, default=jsonio.json_default, option=_OPTIONS))


class DataStream:
    """The page data of :func:`encode`, byte for byte (UTF-8), without the document in memory:
    rows, shared strings and evidence values are encoded as they are made into temporary files
    (the tables the rows refer to come first in the document, and are complete only after the
    last row), then copied out in the layout's order. Should any value need the encoder's
    fallback (e.g. an integer beyond 64 bits, whose whole document the fallback encodes
    differently), it is :func:`encode` after all."""

    def __init__(self, result: RunResult, docs: dict[str, RuleDoc] | None = None) -> None:
        self._parts: list[bytes | IO[bytes]] = []
        self._files: list[IO[bytes]] = []
        self._text: Markup | None = None
        try:
            self._stream(result, docs)
        except (orjson.JSONEncodeError, TypeError):
            self._close()
            self._parts = []
            self._text, self.options = encode(result, docs)

    def _stream(self, result: RunResult, docs: dict[str, RuleDoc] | None) -> None:
        strings, values = _Spilled(), _Spilled()
        rows: IO[bytes] = tempfile.TemporaryFile()
        self._files += [strings.file, values.file, rows]
        tables = _Tables(result, strings, values)
        findings = sorted(result.findings, key=finding_order)
        row = tables.row
        for start in range(0, len(findings), _ROWS_AT_ONCE):
            chunk = b",".join(orjson.dumps(row(f), default=jsonio.json_default,
                                           option=_OPTIONS)
                              for f in findings[start:start + _ROWS_AT_ONCE])
            rows.write((b"," if start else b"") + _escape_utf8(chunk))
        strings.flush()
        values.flush()
        self.options = tables.options()
        # The layout of encode(): tables.head(), "s" and "ev" from their files, then "f".
        parts: list[bytes | IO[bytes]] = []
        spilled: dict[str, IO[bytes]] = {"s": strings.file, "ev": values.file}
        for i, (key, value) in enumerate(tables.head(result, docs).items()):
            prefix = (b"," if i else b"{") + _json(key) + b":"
            if key in spilled:
                parts += [prefix + b"[", spilled[key], b"]"]
            else:
                parts.append(prefix + _json(value))
        parts += [b',"f":[', rows, b"]}"]
        self._parts = parts

    def _close(self) -> None:
        for file in self._files:
            file.close()
        self._files = []

    def write(self, handle: IO[bytes]) -> None:
        """Write the escaped JSON (and drop the temporary files)."""
        try:
            if self._text is not None:
                handle.write(self._text.encode("utf-8", "backslashreplace"))
                return
            if not self._parts:
                raise RuntimeError("the page data was written already")
            for part in self._parts:
                if isinstance(part, bytes):
                    handle.write(part)
                else:
                    part.seek(0)
                    shutil.copyfileobj(part, handle, 1 << 20)
            self._parts = []
        finally:
            self._close()
