"""Prowler-style filters: what a run *reports* (outputs and terminal), and which tenants it audits.

``--severity``, ``--status``, ``--rule`` and ``--exclude-rule`` narrow the findings written to the
outputs and shown on the terminal. They change no verdict: the state store records every finding,
``--fail-on`` judges every finding, and Slack alerts follow the ``slack:`` settings. A filtered
output says so in its ``notes``. SOAR-AUDIT-001 (a tenant not audited) is kept whatever
``--severity`` and ``--status`` say: an unaudited tenant never looks clean.

``--tenant NAME`` (repeatable, globs) audits only the matching tenants of the configuration.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from auditor.engine.findings import SEVERITIES, SEVERITY_RANK, Finding
from auditor.result import RunResult

AUDIT_RULE = "SOAR-AUDIT-001"
STATUSES = ("fail", "unknown", "muted", "resolved")

F = TypeVar("F", bound=Callable[..., Any])


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip().lower() for value in values for part in value.split(",") if part.strip()]


def parse_severity(values: Sequence[str]) -> frozenset[str] | None:
    """One level: that level and above (``high``: critical and high); several (comma-separated
    or repeated): exactly those. None: no severity filter."""
    levels = _split(values)
    unknown = [v for v in levels if v not in SEVERITIES]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} is not a severity (choose from "
                                 f"{', '.join(SEVERITIES)})", param_hint="--severity")
    if not levels:
        return None
    if len(levels) == 1:
        floor = SEVERITY_RANK[levels[0]]
        return frozenset(s for s in SEVERITIES if SEVERITY_RANK[s] >= floor)
    return frozenset(levels)


def parse_status(values: Sequence[str]) -> frozenset[str] | None:
    statuses = _split(values)
    unknown = [v for v in statuses if v not in STATUSES]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} is not a finding status (choose from "
                                 f"{', '.join(STATUSES)})", param_hint="--status")
    return frozenset(statuses) or None


def _matches(rule_id: str, globs: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(rule_id.upper(), g.upper()) for g in globs)


@dataclass(frozen=True, slots=True)
class ReportFilter:
    severities: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    rules: tuple[str, ...] = ()
    exclude_rules: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.severities or self.statuses or self.rules or self.exclude_rules)

    def rule_selected(self, rule_id: str) -> bool:
        if self.rules and not _matches(rule_id, self.rules):
            return False
        return not (self.exclude_rules and _matches(rule_id, self.exclude_rules))

    def keeps(self, finding: Finding) -> bool:
        if not self.rule_selected(finding.rule_id):
            return False
        if finding.rule_id == AUDIT_RULE:
            return True
        if self.severities is not None and finding.severity not in self.severities:
            return False
        return self.statuses is None or finding.status in self.statuses

    def describe(self) -> str:
        parts = []
        if self.severities is not None:
            parts.append("severity " + ", ".join(s for s in SEVERITIES if s in self.severities))
        if self.statuses is not None:
            parts.append("status " + ", ".join(s for s in STATUSES if s in self.statuses))
        if self.rules:
            parts.append("rule " + ", ".join(self.rules))
        if self.exclude_rules:
            parts.append("excluding rule " + ", ".join(self.exclude_rules))
        return "; ".join(parts)

    def note(self, hidden: int) -> str:
        return (f"filtered output ({self.describe()}): {hidden} finding(s) not shown; the state "
                "store, --fail-on and Slack alerts consider every finding")

    def view(self, result: RunResult,
             catalog: list[dict[str, Any]]) -> tuple[RunResult, list[dict[str, Any]]]:
        """The run as the outputs show it: its findings narrowed, and the rules (catalog and
        check counts) narrowed to those selected, so that a control view does not count a rule
        whose findings are hidden as passing. ``result`` is not changed."""
        if not self.active:
            return result, catalog
        shown = [f for f in result.findings if self.keeps(f)]
        shown_rules = {f.rule_id for f in shown}

        def rule_kept(rule_id: str, severity: str | None) -> bool:
            if not self.rule_selected(rule_id):
                return False
            if self.severities is None or rule_id in shown_rules:
                return True
            return severity is None or severity in self.severities

        severity_of = {str(r.get("id")): str(r.get("severity")) for r in catalog}
        rules = [r for r in catalog if rule_kept(str(r.get("id")), str(r.get("severity")))]
        checks = {k: v for k, v in result.checks.items() if rule_kept(k, severity_of.get(k))}
        notes = [*result.notes, self.note(len(result.findings) - len(shown))]
        view = dataclasses.replace(result, findings=shown, checks=checks, notes=notes)
        return view, rules


def report_filter_options(f: F) -> F:
    """The reporting filters, for `run` and `report`."""
    options = [
        click.option("--severity", "severities", multiple=True, metavar="LEVEL[,LEVEL...]",
                     help="Report only these severities: one level means it and above "
                          "(high: critical and high), several (comma-separated or repeated) "
                          "exactly those. Verdicts, the state store and --fail-on are "
                          "unchanged."),
        click.option("--status", "statuses", multiple=True, metavar="STATUS[,STATUS...]",
                     help="Report only findings of these statuses: fail, unknown, muted, "
                          "resolved (repeatable or comma-separated)."),
        click.option("--rule", "rule_globs", multiple=True, metavar="GLOB",
                     help="Report only the rules matching this id glob (repeatable), e.g. "
                          "'SOAR-ENV-*'."),
        click.option("--exclude-rule", "exclude_globs", multiple=True, metavar="GLOB",
                     help="Do not report the rules matching this id glob (repeatable)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def build_filter(severities: Sequence[str], statuses: Sequence[str], rule_globs: Sequence[str],
                 exclude_globs: Sequence[str]) -> ReportFilter:
    return ReportFilter(parse_severity(severities), parse_status(statuses),
                        tuple(rule_globs), tuple(exclude_globs))


def select_tenants(names: Sequence[str], globs: Sequence[str]) -> list[str]:
    """The configured tenant names matching any of ``globs`` (in configuration order); a glob
    that matches none is a usage error naming it."""
    if not globs:
        return list(names)
    unmatched = [g for g in globs if not any(fnmatch.fnmatchcase(n, g) for n in names)]
    if unmatched:
        raise click.BadParameter(
            f"no tenant matches {', '.join(repr(g) for g in unmatched)} (tenants: "
            f"{', '.join(names)})", param_hint="--tenant")
    return [n for n in names if any(fnmatch.fnmatchcase(n, g) for g in globs)]


__all__ = ["ReportFilter", "build_filter", "report_filter_options", "select_tenants"]
