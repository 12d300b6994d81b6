"""Rule files: find them, validate them (``file:line: message`` errors), compile them.

The built-in pack is the package ``auditor.builtin_rules`` (the top-level ``rules/`` folder,
mapped into the wheel by pyproject); in a source checkout where that package is not installed,
the ``rules/`` folder next to the ``auditor`` package is used instead.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from auditor.config import ConfigError
from auditor.engine import yamlsrc
from auditor.engine.conditions import PARAM_TYPES, Condition, compile_condition
from auditor.engine.facts import FACTS
from auditor.engine.findings import Severity
from auditor.engine.schema import FRAMEWORK_TITLES, ComplianceError, RuleFile
from auditor.engine.templates import Template, TemplateError, compile_template, suggest

BUILTIN_PACKAGE = "auditor.builtin_rules"
RULE_SUFFIXES = (".yaml", ".yml")
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
    severity: Severity
    resource: str  # "api_key" | "tenant"
    description: str
    risk: str
    remediation: Template
    message: Template
    unknown_message: Template | None
    evidence: tuple[str, ...]
    references: tuple[dict[str, str], ...]
    compliance: Mapping[str, tuple[str, ...]]
    when: Condition
    unknown_when: Condition | None
    source: str  # "file:line" of the rule's id
    builtin: bool
    # Sources the verdict relies on (auditor.engine.facts.DEPENDENCIES): declared in the file,
    # plus those of the facts the conditions read, e.g. ("permission_groups",).
    depends_on: tuple[str, ...] = ()

    @property
    def frameworks(self) -> tuple[str, ...]:
        return tuple(self.compliance)

    def catalog_entry(self) -> dict[str, Any]:
        """The rule as reports list it (also rules that found nothing)."""
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "resource": self.resource,
            "description": self.description,
            "risk": self.risk,
            "remediation": self.remediation.source,
            "references": [dict(r) for r in self.references],
            "compliance": {k: list(v) for k, v in self.compliance.items()},
            "builtin": self.builtin,
        }

    def metadata(self) -> dict[str, Any]:
        """Everything about the rule, JSON-serializable (for `rules show`)."""
        return {
            **self.catalog_entry(),
            "frameworks": {k: FRAMEWORK_TITLES.get(k, k) for k in self.compliance},
            "when": yamlsrc.plain(self.when.source),
            "unknown_when": yamlsrc.plain(self.unknown_when.source) if self.unknown_when else None,
            "message": self.message.source,
            "unknown_message": self.unknown_message.source if self.unknown_message else None,
            "evidence": list(self.evidence),
            "depends_on": list(self.depends_on),
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
def builtin_dir() -> Traversable:
    """Where the built-in rule files are."""
    try:
        return importlib.resources.files(BUILTIN_PACKAGE)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "rules"


def _builtin_sources() -> list[_Source]:
    folder = builtin_dir()
    files = sorted(
        (f for f in folder.iterdir() if f.is_file() and f.name.endswith(RULE_SUFFIXES)),
        key=lambda f: f.name,
    )
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
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                out.append(_Source(str(file), None, False, f"cannot read: {exc}"))
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


def _compile_file(source: _Source) -> tuple[Rule | None, list[str]]:
    assert source.text is not None
    name = source.name

    def where(line: int | None) -> str:
        return f"{name}:{line}" if line else name

    try:
        data = yamlsrc.load(source.text)
    except yamlsrc.YamlError as exc:
        return None, [f"{where(exc.line)}: {exc.message}"]
    if not isinstance(data, dict):
        return None, [f"{where(1)}: a rule file holds one rule: a mapping with id, title, ..."]
    try:
        model = RuleFile.model_validate(data)
    except ValidationError as exc:
        return None, [f"{where(line)}: {msg}" for line, msg in _pydantic_errors(exc, data)]

    errors: list[str] = []
    facts = FACTS[model.resource]
    lines: dict[Any, int] = getattr(data, "key_lines", {})

    def condition(key: str) -> Condition | None:
        if data.get(key) is None:
            return None
        cond, problems = compile_condition(data[key], facts, lines.get(key))
        errors.extend(f"{where(p.line)}: {key}: {p.message}" for p in problems)
        return cond

    def template(key: str, text: str | None) -> Template | None:
        if text is None:
            return None
        try:
            return compile_template(text, facts, PARAM_TYPES)
        except TemplateError as exc:
            errors.append(f"{where(lines.get(key))}: {key}: {exc}")
            return None

    when = condition("when")
    unknown_when = condition("unknown_when")
    message = template("message", model.message)
    unknown_message = template("unknown_message", model.unknown_message)
    remediation = template("remediation", model.remediation)
    item_lines = getattr(data.get("evidence"), "item_lines", [])
    for i, item in enumerate(model.evidence):
        if item not in facts and item not in PARAM_TYPES:
            line = item_lines[i] if i < len(item_lines) else lines.get("evidence")
            errors.append(f"{where(line)}: evidence: unknown fact {item!r}"
                          f"{suggest(item, [*facts, *PARAM_TYPES])}")
    if errors or when is None or message is None or remediation is None:
        return None, errors
    read = when.facts | (unknown_when.facts if unknown_when is not None else frozenset())
    depends_on: set[str] = set(model.depends_on)
    for fact_name in read:
        depends_on.update(facts[fact_name].depends_on)
    rule = Rule(
        id=model.id,
        title=model.title,
        severity=model.severity,
        resource=model.resource,
        description=model.description.strip(),
        risk=model.risk.strip(),
        remediation=remediation,
        message=message,
        unknown_message=unknown_message,
        evidence=tuple(model.evidence),
        references=tuple({"title": r.title, "url": r.url} for r in model.references),
        compliance={k: tuple(v) for k, v in model.compliance.items()},
        when=when,
        unknown_when=unknown_when,
        source=where(lines.get("id")),
        builtin=source.builtin,
        depends_on=tuple(sorted(depends_on)),
    )
    return rule, []


def compile_paths(paths: Sequence[str | Path] = ()) -> tuple[list[Rule], list[str]]:
    """Compile the built-in pack plus ``paths``: the valid rules, and every problem found."""
    builtin = _builtin_sources()
    skip = {s.real_path for s in builtin if s.real_path is not None}
    rules: list[Rule] = []
    errors: list[str] = []
    seen: dict[str, Rule] = {}
    for source in [*builtin, *_path_sources(paths, skip)]:
        if source.text is None:
            errors.append(f"{source.name}: {source.error}")
            continue
        rule, problems = _compile_file(source)
        errors.extend(problems)
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
