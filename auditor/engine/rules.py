"""Rule files: find them, validate them (``file:line: message`` errors), compile them.

The built-in pack is the package ``auditor.builtin_rules`` (the top-level ``rules/`` folder,
mapped into the wheel by pyproject); in a source checkout where that package is not installed,
the ``rules/`` folder next to the ``auditor`` package is used instead.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from auditor import yamlsrc
from auditor.config import ConfigError
from auditor.config.params import (
    BUILTIN_PACKAGE,
    ENGINE_PARAMS,
    RULE_SUFFIXES,
    Declared,
    ParamSpec,
    builtin_dir,
    builtin_files,
    declarations_of,
    merge,
)
from auditor.engine.checks import Check, compile_check
from auditor.engine.conditions import Condition, param_types
from auditor.engine.findings import Severity
from auditor.engine.schema import FRAMEWORK_TITLES, ComplianceError, RuleFile
from auditor.engine.templates import Template, suggest

__all__ = ["AUDIT_RULE_ID", "BUILTIN_PACKAGE", "RULE_SUFFIXES", "Rule", "RuleError",
           "RulesError", "builtin_dir", "builtin_rules", "compile_paths", "find_rule",
           "load_rules", "validate_paths"]
AUDIT_RULE_ID = "SOAR-AUDIT-001"


class RuleError(ConfigError):
    """Rule files or rule settings are invalid; ``errors`` lists every ``file:line: message``."""

    def __init__(self, errors: list[str]) -> None:
        more = (f" (and {len(errors) - 1} more; `soar-auditor rules validate` lists them)"
                if len(errors) > 1 else "")
        super().__init__(errors[0] + more)
        self.errors = errors


RulesError = RuleError


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    severity: Severity  # the base severity (a check's severity_when may raise or lower it)
    description: str
    risk: str
    references: tuple[dict[str, str], ...]
    compliance: Mapping[str, tuple[str, ...]]
    # What is evaluated: the file's own resource first, then one check per `also` entry.
    checks: tuple[Check, ...]
    source: str  # "file:line" of the rule's id
    builtin: bool
    # The parameters the file declares (``params:``), by name.
    params: Mapping[str, ParamSpec] = field(default_factory=dict)

    # -- the rule's own (first) check -------------------------------------------------------------
    @property
    def check(self) -> Check:
        return self.checks[0]

    @property
    def resource(self) -> str:
        return self.checks[0].resource

    @property
    def resources(self) -> tuple[str, ...]:
        return tuple(c.resource for c in self.checks)

    @property
    def surfaces(self) -> tuple[str, ...]:
        """The surfaces its checks read ("legacy", "chronicle", "iam"); empty for a rule about
        every tenant."""
        return tuple(dict.fromkeys(c.surface for c in self.checks if c.surface is not None))

    @property
    def when(self) -> Condition:
        return self.checks[0].when

    @property
    def unknown_when(self) -> Condition | None:
        return self.checks[0].unknown_when

    @property
    def message(self) -> Template:
        return self.checks[0].message

    @property
    def unknown_message(self) -> Template | None:
        return self.checks[0].unknown_message

    @property
    def remediation(self) -> Template:
        return self.checks[0].remediation

    @property
    def evidence(self) -> tuple[str, ...]:
        return self.checks[0].evidence_names

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Sources the verdict of any of its checks relies on (auditor.engine.facts.DEPENDENCIES):
        declared in the file, plus those of the facts the conditions read."""
        return tuple(sorted({d for c in self.checks for d in c.depends_on}))

    @property
    def frameworks(self) -> tuple[str, ...]:
        return tuple(self.compliance)

    def applies_to(self, surfaces: Collection[str]) -> bool:
        """Some check of the rule is evaluated on a tenant read over ``surfaces``."""
        return any(c.applies_to(surfaces) for c in self.checks)

    def catalog_entry(self) -> dict[str, Any]:
        """The rule as reports list it (also rules that found nothing)."""
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "resource": self.resource,
            "resources": list(self.resources),
            "surfaces": list(self.surfaces),
            "description": self.description,
            "risk": self.risk,
            "remediation": self.remediation.source,
            "references": [dict(r) for r in self.references],
            "compliance": {k: list(v) for k, v in self.compliance.items()},
            "builtin": self.builtin,
            # Each check: the resource type it is evaluated on and the surface it reads (None:
            # every tenant), so reports can tell how many resources of a tenant it checked.
            "checks": [{"resource": c.resource, "surface": c.surface} for c in self.checks],
        }

    def metadata(self) -> dict[str, Any]:
        """Everything about the rule, JSON-serializable (for `rules show`)."""
        own = self.check.metadata()
        return {
            **self.catalog_entry(),
            "surface": own["surface"],
            "frameworks": {k: FRAMEWORK_TITLES.get(k, k) for k in self.compliance},
            "when": own["when"],
            "unknown_when": own["unknown_when"],
            "severity_when": own["severity_when"],
            "message": own["message"],
            "unknown_message": own["unknown_message"],
            "evidence": own["evidence"],
            "depends_on": list(self.depends_on),
            "also": [c.metadata() for c in self.checks[1:]],
            "params": {k: v.metadata() for k, v in self.params.items()},
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class _Source:
    name: str  # shown in errors
    text: str | None
    builtin: bool
    error: str | None = None
    real_path: Path | None = None


# -- finding the files ---------------------------------------------------------------------------
def _builtin_sources() -> list[_Source]:
    folder = builtin_dir()
    files = builtin_files()
    out = []
    for f in files:
        real = Path(str(f)).resolve() if isinstance(f, Path) else None
        out.append(_Source(str(f), f.read_text(encoding="utf-8"), True, real_path=real))
    if not out:
        out.append(_Source(str(folder), None, True, "no built-in rule files found"))
    return out


def _path_sources(paths: Iterable[str | Path], skip: set[Path]) -> list[_Source]:
    out: list[_Source] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in RULE_SUFFIXES)
            if not files:
                out.append(_Source(str(path), None, False, "no rule files (*.yaml) in this folder"))
        elif path.exists():
            files = [path]
        else:
            out.append(_Source(str(path), None, False, "no such file or folder"))
            continue
        for file in files:
            if file.resolve() in skip:
                continue  # the built-in pack itself, named again
            try:
                text = yamlsrc.read_text(file)
            except OSError as exc:
                out.append(_Source(str(file), None, False,
                                   f"cannot read: {exc.strerror or exc}"))
                continue
            except yamlsrc.YamlError as exc:
                name = f"{file}:{exc.line}" if exc.line else str(file)
                out.append(_Source(name, None, False, exc.text))
                continue
            out.append(_Source(str(file), text, False, real_path=file.resolve()))
    return out


# -- compiling one file --------------------------------------------------------------------------
def _pydantic_errors(exc: ValidationError, data: Any) -> list[tuple[int | None, str]]:
    out: list[tuple[int | None, str]] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, ComplianceError):
            loc = (*loc, cause.framework)
        field = ".".join(str(p) for p in err["loc"])
        line = yamlsrc.line_of(data, loc)
        if err["type"] == "extra_forbidden":
            hint = suggest(loc[-1], RuleFile.model_fields) if loc else ""
            msg = f"unknown key {loc[-1]!r}{hint}" if loc else "unknown key"
        elif err["type"] == "missing":
            msg = f"{field}: is required"
        else:
            msg = f"{field}: {err['msg'].removeprefix('Value error, ')}"
        out.append((line, msg))
    return out


def _parse(source: _Source) -> tuple[Any, list[str]]:
    """The document of a rule file, or None and its problem."""
    assert source.text is not None
    try:
        data = yamlsrc.load(source.text)
    except yamlsrc.YamlError as exc:
        at = f"{source.name}:{exc.line}" if exc.line else source.name
        return None, [f"{at}: {exc.text}"]
    if not isinstance(data, dict):
        return None, [f"{source.name}:1: a rule file holds one rule: a mapping with id, title, "
                      "..."]
    return data, []


def _compile_file(source: _Source, data: Any, own_params: Mapping[str, Declared],
                  pool: Mapping[str, str]) -> tuple[Rule | None, list[str]]:
    """Compile one parsed rule file; ``pool``: the parameters of every loaded file (types)."""
    name = source.name

    def where(line: int | None) -> str:
        return f"{name}:{line}" if line else name

    try:
        model = RuleFile.model_validate(data)
    except ValidationError as exc:
        return None, [f"{where(line)}: {msg}" for line, msg in _pydantic_errors(exc, data)]

    lines: dict[Any, int] = getattr(data, "key_lines", {})
    own, errors = compile_check(data, model, model.resource, model.message, model.remediation,
                                where, params=pool)
    checks = [own] if own is not None else []
    raw_also = data.get("also") or []
    seen = [model.resource]
    for i, entry in enumerate(model.also):
        raw = raw_also[i]
        prefix = f"also.{i}."
        if entry.resource in seen:
            errors.append(f"{where(getattr(raw, 'line', lines.get('also')))}: {prefix}resource: "
                          f"{entry.resource} is already evaluated by this rule (each entry "
                          "names another resource type)")
            continue
        seen.append(entry.resource)
        check, problems = compile_check(
            raw, entry, entry.resource, entry.message or model.message,
            entry.remediation or model.remediation, where, prefix, params=pool,
        )
        errors.extend(problems)
        if check is not None:
            checks.append(check)
    if errors or own is None:
        return None, errors
    rule = Rule(
        id=model.id,
        title=model.title,
        severity=model.severity,
        description=model.description.strip(),
        risk=model.risk.strip(),
        references=tuple({"title": r.title, "url": r.url} for r in model.references),
        compliance={k: tuple(v) for k, v in model.compliance.items()},
        checks=tuple(checks),
        source=where(lines.get("id")),
        builtin=source.builtin,
        params={k: d.spec for k, d in own_params.items()},
    )
    return rule, []


def compile_paths(paths: Sequence[str | Path] = ()) -> tuple[list[Rule], list[str]]:
    """Compile the built-in pack plus ``paths``: the valid rules, and every problem found."""
    builtin = _builtin_sources()
    skip = {s.real_path for s in builtin if s.real_path is not None}
    rules: list[Rule] = []
    seen: dict[str, Rule] = {}
    # First the parameters every file declares (a condition may name any of them), then the
    # rules; the problems are listed by file, in the order of the files.
    parsed: list[tuple[_Source, Any, dict[str, Declared], list[str]]] = []
    pool: dict[str, Declared] = dict(ENGINE_PARAMS)
    for source in [*builtin, *_path_sources(paths, skip)]:
        if source.text is None:
            parsed.append((source, None, {}, [f"{source.name}: {source.error}"]))
            continue
        data, problems = _parse(source)
        declared, bad = declarations_of(data, source.name) if data is not None else ({}, [])
        problems += bad
        merge(pool, declared, problems)
        parsed.append((source, data, declared, problems))
    types = param_types(pool)
    errors: list[str] = []
    for source, data, declared, problems in parsed:
        errors += problems
        if data is None or problems:
            continue
        rule, found = _compile_file(source, data, declared, types)
        errors.extend(found)
        if rule is None:
            continue
        if rule.id in seen:
            errors.append(f"{rule.source}: duplicate rule id {rule.id} "
                          f"(also in {seen[rule.id].source})")
            continue
        seen[rule.id] = rule
        rules.append(rule)
    return rules, errors


# -- public API ----------------------------------------------------------------------------------
def validate_paths(paths: Sequence[str | Path] = ()) -> list[str]:
    """Every problem of the built-in pack plus ``paths`` (files or folders), as
    ``file:line: message``; empty when all rules are valid."""
    return compile_paths(paths)[1]


@functools.lru_cache(maxsize=1)
def _builtin_rules() -> tuple[Rule, ...]:
    rules, errors = compile_paths(())
    if errors:
        raise RuleError(errors)
    return tuple(rules)


def builtin_rules() -> list[Rule]:
    """The built-in pack (compiled once per process)."""
    return list(_builtin_rules())


def load_rules(paths: Sequence[str | Path] = (), disabled: Iterable[str] = ()) -> list[Rule]:
    """The built-in pack plus ``paths``, without the ``disabled`` ids; raise :class:`RuleError`
    (a ConfigError: exit 2) naming every problem. SOAR-AUDIT-001 cannot be disabled: a tenant
    that could not be audited must never look clean."""
    if paths:
        rules, errors = compile_paths(paths)
    else:
        rules, errors = builtin_rules(), []
    known = {r.id for r in rules}
    off = set()
    for rule_id in disabled:
        if rule_id == AUDIT_RULE_ID:
            errors.append(f"rules.disabled: {AUDIT_RULE_ID} cannot be disabled (a tenant that "
                          "could not be audited must never look clean)")
        elif rule_id not in known:
            errors.append(f"rules.disabled: unknown rule id {rule_id!r}{suggest(rule_id, known)}")
        off.add(rule_id)
    if errors:
        raise RuleError(errors)
    return [r for r in rules if r.id not in off]


def find_rule(rules: Iterable[Rule], rule_id: str) -> Rule | None:
    """A rule by id (case-insensitive)."""
    wanted = rule_id.strip().upper()
    return next((r for r in rules if r.id == wanted), None)
