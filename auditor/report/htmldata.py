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

import json
import re
from dataclasses import dataclass
from typing import Any

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

    def __init__(self) -> None:
        self.shapes = _Interner()
        self.values = _Interner()

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


def encode(result: RunResult,
           docs: dict[str, RuleDoc] | None = None) -> tuple[Markup, FilterOptions]:
    findings: list[Finding] = sorted(result.findings, key=finding_order)
    rules, tenants, strings, exceptions = (_Interner() for _ in range(4))
    evidence, compliance = _Evidence(), _Compliance()
    rule_titles: dict[str, str] = {}
    for t in result.tenants:
        tenants.add(t.name)
    rows = []
    for f in findings:
        rule_titles.setdefault(f.rule_id, f.title)
        name = f.resource.name
        exc = -1
        if f.exception:
            exc = exceptions.add(f.exception, json.dumps(f.exception, sort_keys=True, default=str))
        seen = iso(f.first_seen)
        rows.append([
            f.id, rules.add(f.rule_id), _enum(SEVERITIES, f.severity),
            _enum(STATUSES, f.status), _enum(LIFECYCLES, f.lifecycle), tenants.add(f.tenant),
            0 if f.resource.type == "api_key" else 1, f.resource.id, name,
            _sentence(strings, f.message, name), strings.add(f.title),
            _sentence(strings, f.remediation, name), -1 if seen is None else strings.add(seen),
            exc, compliance.add(f.compliance), evidence.add(f.evidence),
        ])
    data = {
        "v": 1,
        "run": {"id": result.run_id, "started_at": iso(result.started_at)},
        "rules": [[r, rule_titles.get(r, ""), _risk(docs, r), _refs(docs, r)]
                  for r in rules.items],
        "tenants": tenants.items,
        "s": strings.items,
        "x": exceptions.items,
        "controls": compliance.controls.items,
        "c": compliance.mappings.items,
        "ek": evidence.shapes.items,
        "ev": evidence.values.items,
        "f": rows,
    }
    by_framework: dict[str, list[tuple[int, str]]] = {}
    for i, (_fw, label, control) in enumerate(compliance.controls.items):
        by_framework.setdefault(label, []).append((i, control))
    options = FilterOptions(
        rules=sorted(((i, r, rule_titles.get(r, "")) for i, r in enumerate(rules.items)),
                     key=lambda t: natural_key(t[1])),
        tenants=sorted(enumerate(tenants.items), key=lambda t: t[1].lower()),
        controls=[(label, sorted(cs, key=lambda t: natural_key(t[1])))
                  for label, cs in sorted(by_framework.items())],
    )
    return script_json(data), options
