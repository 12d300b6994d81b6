"""Counts and groupings the reports show: by tenant, by rule, by compliance framework and control.

Pass/fail per rule and per control (the auditor's evidence view):
- ``evaluated``: ``RunResult.checks[rule]``, the resources the rule was evaluated on (all tenants);
  for a control, the sum over the rules mapped to it.
- ``failing`` / ``unknown`` / ``muted``: findings with that status. ``resolved`` findings pass now
  and are counted as passed.
- ``passed`` = evaluated - failing - unknown - muted (never below 0).
- A control's verdict: ``fail`` when anything fails; else ``unknown`` when a rule could not decide;
  else ``not evaluated`` when no mapped rule ran; else ``incomplete`` when a tenant was not
  audited (its keys are in no count, so the control cannot be attested); else ``pass``.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from auditor.engine.findings import Finding
from auditor.result import RunResult
from auditor.result import finding_order as result_order
from auditor.vocab import FRAMEWORK_LABELS, OPEN_STATUSES, SEVERITIES, SEVERITY_RANK

# How each tenant was authenticated (TenantResult.auth), as people read it.
AUTH_LABELS = {"appkey": "AppKey", "google": "Google (migrated instance)"}


def auth_label(auth: str) -> str:
    return AUTH_LABELS.get(auth, auth)


def framework_label(key: str) -> str:
    return FRAMEWORK_LABELS.get(key.lower(), key)


def natural_key(text: str) -> tuple[Any, ...]:
    """AC-2 < AC-6 < AC-6(5) < AC-17; 5.2 < 5.10."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text))


# The order of the findings tables (its one home: auditor.result.finding_order).
finding_order = result_order("report")


@dataclass(slots=True)
class Tally:
    failing: int = 0
    unknown: int = 0
    muted: int = 0
    resolved: int = 0
    new: int = 0
    by_severity: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))

    def add(self, f: Finding) -> None:
        if f.status == "fail":
            self.failing += 1
            self.by_severity[f.severity] = self.by_severity.get(f.severity, 0) + 1
        elif f.status == "unknown":
            self.unknown += 1
        elif f.status == "muted":
            self.muted += 1
        elif f.status == "resolved":
            self.resolved += 1
        if f.lifecycle == "new" and f.status != "resolved":
            self.new += 1


@dataclass(slots=True)
class TenantView:
    name: str
    status: str
    error: str | None
    keys: int | None
    tally: Tally
    auth: str = "appkey"

    @property
    def auth_label(self) -> str:
        return auth_label(self.auth)


@dataclass(slots=True)
class RuleView:
    id: str
    title: str
    severity: str
    description: str
    evaluated: int | None
    tally: Tally
    tenants: int

    @property
    def passed(self) -> int | None:
        if self.evaluated is None:
            return None
        t = self.tally
        return max(self.evaluated - t.failing - t.unknown - t.muted, 0)


@dataclass(slots=True)
class ControlView:
    control: str
    rules: list[str]
    evaluated: int
    failing: int
    unknown: int
    muted: int
    passed: int
    verdict: str


@dataclass(slots=True)
class FrameworkView:
    key: str
    label: str
    controls: list[ControlView]


@dataclass(slots=True)
class ExceptionGroup:
    entry: dict[str, Any]
    count: int
    days_left: int | None


def tenant_views(result: RunResult) -> list[TenantView]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    for f in result.findings:
        tallies[f.tenant].add(f)
    views = [TenantView(t.name, t.status, t.error, t.counts.get("api_keys"), tallies[t.name],
                        t.auth) for t in result.tenants]
    listed = {t.name for t in result.tenants}
    views += [TenantView(name, "ok", None, None, tally)
              for name, tally in tallies.items() if name not in listed]
    return sorted(views, key=lambda v: (v.status != "error", -v.tally.failing, v.name))


def rule_views(result: RunResult, rules: list[dict[str, Any]]) -> list[RuleView]:
    views: dict[str, RuleView] = {}
    for rule in rules:
        rid = str(rule.get("id", ""))
        views[rid] = RuleView(rid, str(rule.get("title", "")), str(rule.get("severity", "info")),
                              str(rule.get("description", "")), result.checks.get(rid), Tally(), 0)
    tenants: dict[str, set[str]] = defaultdict(set)
    for f in result.findings:
        view = views.get(f.rule_id)
        if view is None:
            view = views[f.rule_id] = RuleView(f.rule_id, f.title, f.severity, "",
                                               result.checks.get(f.rule_id), Tally(), 0)
        view.tally.add(f)
        if f.status in OPEN_STATUSES:
            tenants[f.rule_id].add(f.tenant)
    for rid, view in views.items():
        view.tenants = len(tenants.get(rid, ()))
    return sorted(views.values(), key=lambda v: (-SEVERITY_RANK.get(v.severity, 0),
                                                 -v.tally.failing, natural_key(v.id)))


def control_views(result: RunResult, rules: list[dict[str, Any]],
                  by_rule: list[RuleView]) -> list[FrameworkView]:
    mapping: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for rule in rules:
        for framework, controls in (rule.get("compliance") or {}).items():
            for control in controls:
                mapping[str(framework)][str(control)].add(str(rule.get("id", "")))
    seen: set[str] = set()
    for f in result.findings:  # a rule's mapping as its findings carry it (catalog or not)
        if f.rule_id in seen:
            continue
        seen.add(f.rule_id)
        for framework, controls in f.compliance.items():
            for control in controls:
                mapping[str(framework)][str(control)].add(f.rule_id)
    rule_index = {r.id: r for r in by_rule}
    complete = result.status == "complete"
    frameworks = []
    for framework in sorted(mapping, key=lambda k: framework_label(k).lower()):
        controls = []
        for control, rule_ids in sorted(mapping[framework].items(),
                                        key=lambda kv: natural_key(kv[0])):
            views = [rule_index[r] for r in sorted(rule_ids, key=natural_key) if r in rule_index]
            ran = [v for v in views if v.evaluated is not None]
            failing = sum(v.tally.failing for v in views)
            unknown = sum(v.tally.unknown for v in views)
            evaluated = sum(v.evaluated or 0 for v in ran)
            verdict = ("fail" if failing else "unknown" if unknown else "not evaluated"
                       if not ran else "pass" if complete else "incomplete")
            controls.append(ControlView(control, [v.id for v in views], evaluated, failing,
                                        unknown, sum(v.tally.muted for v in views),
                                        sum(v.passed or 0 for v in ran), verdict))
        frameworks.append(FrameworkView(framework, framework_label(framework), controls))
    return frameworks


def as_date(value: object) -> date | None:
    """A date from a date, a datetime or an ISO text (its first 10 characters); else None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def days_left(expires: object, today: date) -> int | None:
    when = as_date(expires)
    return None if when is None else (when - today).days


def exception_groups(findings: list[Finding], today: date) -> list[ExceptionGroup]:
    """The exceptions that muted findings in this run, with how many each muted."""
    counts: Counter[str] = Counter()
    entries: dict[str, dict[str, Any]] = {}
    for f in findings:
        if f.status == "muted":
            entry = f.exception or {}
            key = json.dumps(entry, sort_keys=True, default=str)
            counts[key] += 1
            entries.setdefault(key, entry)
    groups = [ExceptionGroup(entries[k], n, days_left(entries[k].get("expires"), today))
              for k, n in counts.items()]
    return sorted(groups, key=lambda g: (g.days_left is None, g.days_left or 0, -g.count))
