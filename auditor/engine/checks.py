"""One compiled check of a rule: the condition, templates and evidence evaluated on one resource
type over one API surface. A rule file is one check (its ``resource``), plus one per ``also``
entry (the same rule id on another resource type)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.engine import yamlsrc
from auditor.engine.conditions import Condition, builtin_param_types, compile_condition
from auditor.engine.facts import FACTS
from auditor.engine.findings import Severity
from auditor.engine.schema import DEFAULT_SURFACE, evidence_pairs
from auditor.engine.templates import Template, TemplateError, compile_template, suggest


@dataclass(frozen=True, slots=True)
class Check:
    resource: str  # "api_key" | "tenant" | "idp_mapping" | "iam_member"
    surface: str | None  # the surface the tenant must have been read over; None: every tenant
    when: Condition
    unknown_when: Condition | None
    message: Template
    unknown_message: Template | None
    remediation: Template
    evidence: tuple[tuple[str, str], ...]  # (key in the finding's evidence, fact or parameter)
    severity_when: tuple[tuple[Severity, Condition], ...] = ()
    # Sources the verdict relies on (auditor.engine.facts.DEPENDENCIES)
    depends_on: tuple[str, ...] = ()

    def applies_to(self, surfaces: Collection[str]) -> bool:
        return self.surface is None or self.surface in surfaces

    def severity_of(
        self, base: Severity, facts: Mapping[str, Any], params: Mapping[str, Any]
    ) -> Severity:
        """The first ``severity_when`` entry whose condition holds (is true), else ``base``."""
        for severity, condition in self.severity_when:
            if condition.predicate(facts, params) is True:
                return severity
        return base

    @property
    def evidence_names(self) -> tuple[str, ...]:
        """The evidence entries as written: ``name``, or ``key=name`` for a renamed one."""
        return tuple(k if k == n else f"{k}={n}" for k, n in self.evidence)

    def metadata(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "surface": self.surface,
            "when": yamlsrc.plain(self.when.source),
            "unknown_when": yamlsrc.plain(self.unknown_when.source) if self.unknown_when else None,
            "severity_when": [{"severity": s, "when": yamlsrc.plain(c.source)}
                              for s, c in self.severity_when],
            "message": self.message.source,
            "unknown_message": self.unknown_message.source if self.unknown_message else None,
            "remediation": self.remediation.source,
            "evidence": list(self.evidence_names),
            "depends_on": list(self.depends_on),
        }


def compile_check(
    data: Mapping[str, Any],
    model: Any,  # schema.RuleFile or schema.AlsoCheck
    resource: str,
    message: str,
    remediation: str,
    where: Callable[[int | None], str],
    key_prefix: str = "",
    params: Mapping[str, str] | None = None,  # the parameters it may name (their types)
) -> tuple[Check | None, list[str]]:
    """Compile the check fields of ``model`` (``data``: the same part of the file, for lines)
    against the facts of ``resource``; the check, or None and every problem as file:line."""
    errors: list[str] = []
    facts = FACTS[resource]
    lines: dict[Any, int] = getattr(data, "key_lines", {})
    param_types = builtin_param_types() if params is None else params

    def line(key: str) -> int | None:
        return lines.get(key)

    def condition(key: str, node: Any, at: int | None) -> Condition | None:
        cond, problems = compile_condition(node, facts, at, param_types)
        errors.extend(f"{where(p.line)}: {key_prefix}{key}: {p.message}" for p in problems)
        return cond

    def template(key: str, text: str | None) -> Template | None:
        if text is None:
            return None
        try:
            return compile_template(text, facts, param_types)
        except TemplateError as exc:
            errors.append(f"{where(line(key))}: {key_prefix}{key}: {exc}")
            return None

    when = condition("when", data["when"], line("when"))
    unknown_when = (None if data.get("unknown_when") is None
                    else condition("unknown_when", data["unknown_when"], line("unknown_when")))
    severity_when: list[tuple[Severity, Condition]] = []
    raw_levels = data.get("severity_when") or []
    for i, entry in enumerate(model.severity_when):
        raw = raw_levels[i]
        raw_lines: dict[Any, int] = getattr(raw, "key_lines", {})
        cond = condition(f"severity_when.{i}.when", raw["when"], raw_lines.get("when"))
        if cond is not None:
            severity_when.append((entry.severity, cond))
    message_t = template("message", message)
    unknown_t = template("unknown_message", model.unknown_message)
    remediation_t = template("remediation", remediation)
    pairs = evidence_pairs(model.evidence)
    item_lines = getattr(data.get("evidence"), "item_lines", [])
    for i, (_, name) in enumerate(pairs):
        if name not in facts and name not in param_types:
            at = item_lines[i] if i < len(item_lines) else line("evidence")
            errors.append(f"{where(at)}: {key_prefix}evidence: unknown fact {name!r}"
                          f"{suggest(name, [*facts, *param_types])}")
    if errors or when is None or message_t is None or remediation_t is None:
        return None, errors
    depends_on: set[str] = set(model.depends_on)
    read = when.facts | (unknown_when.facts if unknown_when is not None else frozenset())
    for fact_name in read:
        depends_on.update(facts[fact_name].depends_on)
    surface = model.surface if model.surface is not None else DEFAULT_SURFACE[resource]
    return Check(
        resource=resource,
        surface=surface,
        when=when,
        unknown_when=unknown_when,
        message=message_t,
        unknown_message=unknown_t,
        remediation=remediation_t,
        evidence=tuple(pairs),
        severity_when=tuple(severity_when),
        depends_on=tuple(sorted(depends_on)),
    ), []
