"""What to say: one Block Kit digest per audit, for the default destination and for each route.

* ``notify: new`` (default) lists the new and reopened findings at or above ``min_severity`` and
  the resolved ones; ``all`` lists every failing finding at or above it; ``none`` lists no finding.
* A tenant that could not be audited is always in the message (what failed, since when), whatever
  ``notify`` says, ``none`` included: an audit that silently stops is the worst failure.
* Nothing to say: no message, unless ``heartbeat: true`` asks for a short "all quiet" line
  (not with ``notify: none``).
* The summary has one entry per rule across tenants, naming the tenants and resources it covers
  (:mod:`auditor.notify.groups`); the bot's per-tenant thread replies list every finding.
* Every text that comes from the SOAR API (or a rule file) goes through :func:`blockkit.safe`.
* Inside the legacy API warning window (``days_left <= legacy_api_warning_days``, or past the
  shutdown) the summary says how many legacy API keys (SOAR-MIG-001, whatever their severity)
  stop working and when. The line rides along with a message; it does not send one by itself.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from auditor.config import SlackConfig, SlackRoute
from auditor.engine.findings import Finding
from auditor.notify import blockkit as bk
from auditor.notify.groups import group_by_rule, group_entry, resolved_group_entry
from auditor.notify.message import DEFAULT_DESTINATION, Message, Reply, route_destination
from auditor.report.migration import in_window, key_plan, legacy_left, when_text
from auditor.result import RunResult, finding_order
from auditor.vocab import OPEN_STATUSES, SEVERITIES, SEVERITY_RANK

AUDIT_RULE = "SOAR-AUDIT-001"
EMOJI = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":large_blue_circle:",
    "info": ":white_circle:",
}


@dataclass(frozen=True, slots=True)
class Failure:
    tenant: str
    error: str
    since: datetime


@dataclass(slots=True)
class Scope:
    """What one message speaks about."""

    failures: list[Failure]
    listed: list[Finding]  # new/reopened (notify new) or every failing one (notify all)
    resolved: list[Finding]
    failing: list[Finding]  # every failing finding in scope (for the counts)
    unknown: int  # findings in scope that a rule could not decide (data missing)
    tenants: int
    tenants_ok: int
    legacy: list[Finding] = field(default_factory=list)  # legacy API keys left (SOAR-MIG-001)

    @property
    def has_news(self) -> bool:
        return bool(self.failures or self.listed or self.resolved)


@dataclass(frozen=True, slots=True)
class _Settings:
    min_severity: str = "medium"
    notify: str = "new"
    heartbeat: bool = False
    report_url: str | None = None
    bot: bool = False
    warning_days: int | None = None  # legacy_api_warning_days, when the caller knows it


def _settings(slack: SlackConfig | None) -> _Settings:
    if slack is None:
        return _Settings()
    return _Settings(slack.min_severity, slack.notify, slack.heartbeat, slack.report_url,
                     slack.bot_token is not None)


def _key_name(finding: Finding) -> str | None:
    return finding.resource.name if finding.resource.type == "api_key" else None


# The order of the alert's findings (its one home: auditor.result.finding_order).
_sort_key = finding_order("alert")


def _failures(result: RunResult, since: dict[str, datetime] | None) -> list[Failure]:
    first_seen = {f.tenant: f.first_seen for f in result.findings
                  if f.rule_id == AUDIT_RULE and f.first_seen is not None}
    out = []
    for tenant in result.tenants:
        if tenant.status == "error":
            when = (since or {}).get(tenant.name) or first_seen.get(tenant.name)
            out.append(Failure(tenant.name, tenant.error or "not collected in full",
                               when or result.started_at))
    return out


def _select(result: RunResult, settings: _Settings, failures: list[Failure]) -> Scope:
    floor = SEVERITY_RANK[settings.min_severity]
    # SOAR-AUDIT-001 while failing is the "could not audit" section; once resolved, it is news.
    candidates = [f for f in result.findings if SEVERITY_RANK[f.severity] >= floor
                  and (f.rule_id != AUDIT_RULE or f.status == "resolved")]
    listed: list[Finding] = []
    resolved: list[Finding] = []
    if settings.notify != "none":
        changed = [f for f in candidates if f.lifecycle in ("new", "reopened")
                   and f.status in OPEN_STATUSES]
        if settings.notify == "all":
            changed_ids = {id(f) for f in changed}
            listed = [f for f in candidates if f.status == "fail" or id(f) in changed_ids]
        else:
            listed = changed
        resolved = [f for f in candidates if f.status == "resolved"]
    listed.sort(key=lambda f: (f.lifecycle not in ("new", "reopened"), *_sort_key(f)))
    resolved.sort(key=_sort_key)
    failing = [f for f in result.findings if f.status == "fail" and f.rule_id != AUDIT_RULE]
    unknown = sum(1 for f in result.findings if f.status == "unknown")
    ok = sum(1 for t in result.tenants if t.status == "ok")
    return Scope(failures, listed, resolved, failing, unknown, len(result.tenants), ok,
                 legacy_left(result.findings))


def _route_scope(scope: Scope, route: SlackRoute, result: RunResult) -> Scope:
    def keep(f: Finding) -> bool:
        return route.matches(f.tenant, _key_name(f))

    tenants = [t for t in result.tenants if fnmatch.fnmatchcase(t.name, route.tenant)]
    return Scope(
        failures=[x for x in scope.failures if fnmatch.fnmatchcase(x.tenant, route.tenant)],
        listed=[f for f in scope.listed if keep(f)],
        resolved=[f for f in scope.resolved if keep(f)],
        failing=[f for f in scope.failing if keep(f)],
        unknown=sum(1 for f in result.findings if f.status == "unknown" and keep(f)),
        tenants=len(tenants),
        tenants_ok=sum(1 for t in tenants if t.status == "ok"),
        legacy=[f for f in scope.legacy if keep(f)],
    )


# -- entries -------------------------------------------------------------------------------------
def _where(finding: Finding) -> str:
    tenant = bk.safe(finding.tenant, 100)
    if finding.resource.type == "tenant":
        return f"tenant {tenant}"
    key_id = "" if finding.resource.id is None else f" (id {finding.resource.id})"
    return f"{tenant} · key *{bk.safe(finding.resource.name, 100)}*{key_id}"


def finding_entry(finding: Finding, *, tag_new: bool = False) -> str:
    tags = []
    if finding.lifecycle == "reopened":
        tags.append("reopened")
    elif tag_new and finding.lifecycle == "new":
        tags.append("new")
    if finding.status == "unknown":
        tags.append("could not decide: data missing")
    tag = f" _({', '.join(tags)})_" if tags else ""
    return (f"{EMOJI[finding.severity]} {finding.severity} · *{bk.safe(finding.title, 150)}*"
            f" `{bk.safe(finding.rule_id, 40)}`{tag}\n"
            f"      {_where(finding)}: {bk.safe(finding.message, 300)}")


def resolved_entry(finding: Finding) -> str:
    return (f":white_check_mark: {bk.safe(finding.title, 150)} `{bk.safe(finding.rule_id, 40)}`"
            f" — {_where(finding)}")


def failure_entry(failure: Failure) -> str:
    when = failure.since.astimezone(UTC) if failure.since.tzinfo else failure.since
    since = when.strftime("%Y-%m-%d %H:%M UTC")
    return (f":warning: *{bk.safe(failure.tenant, 100)}* could not be audited (since {since}):"
            f" {bk.safe(failure.error, 300)}")


# -- messages ------------------------------------------------------------------------------------
def _counts_line(scope: Scope) -> str:
    by_sev = Counter(f.severity for f in scope.failing)
    parts = " · ".join(f"{s} {by_sev.get(s, 0)}" for s in SEVERITIES)
    undecided = f" (and {scope.unknown} check(s) could not decide)" if scope.unknown else ""
    return f"*Failing now:* {len(scope.failing)} — {parts}{undecided}"


def legacy_lines(legacy: list[Finding], as_of: date, warning_days: int | None) -> list[str]:
    """One line per shutdown date that is inside its warning window (in practice one line):
    how many legacy API keys stop working, on which date, in how many days."""
    by_date: dict[date | None, list[tuple[Finding, int | None]]] = {}
    for f in legacy:
        plan = key_plan(f, as_of)
        by_date.setdefault(plan.shutdown, []).append((f, plan.days_left))
    lines = []
    for when in sorted(by_date, key=lambda d: (d is None, d or as_of)):
        items = by_date[when]
        known = [d for _, d in items if d is not None]
        days = min(known) if known else None
        if not in_window(days, [f for f, _ in items], warning_days):
            continue
        n = len(items)
        keys = f"{n} legacy API key{'' if n == 1 else 's'}"
        on = f"on {when.isoformat()}" if when else "on the legacy API shutdown date"
        tenants = len({f.tenant for f, _ in items})
        where = f", in {tenants} tenants" if tenants > 1 else ""
        if days is not None and days < 0:
            lead = f":rotating_light: {keys} stopped working {on} ({when_text(days)}){where}"
        else:
            verb = "stops" if n == 1 else "stop"
            lead = f":warning: {keys} {verb} working {on} ({when_text(days)}){where}"
        lines.append(f"{lead}: each needs a Google service account, its IAM role and a Group "
                     "Mapping entry (the migration plan: report.html, migration.md).")
    return lines


def _headline(scope: Scope, settings: _Settings) -> str:
    parts = []
    if settings.notify == "all":
        parts.append(f"{len(scope.listed)} failing")
    if settings.notify != "none":
        new = sum(1 for f in scope.listed if f.lifecycle == "new")
        reopened = sum(1 for f in scope.listed if f.lifecycle == "reopened")
        parts += [f"{new} new"] + ([f"{reopened} reopened"] if reopened else [])
        parts.append(f"{len(scope.resolved)} resolved")
    if scope.failures:
        parts.append(f"{len(scope.failures)} tenant(s) NOT audited")
    return "SOAR key audit: " + ", ".join(parts)


def _footer(report_url: str | None, attach: bool, run_id: str) -> str:
    run = bk.safe(run_id, 40)
    if report_url:
        return f"<{bk.safe(report_url, 1000)}|Open the full report> (run {run})"
    if attach:
        return f"The full report of run {run} is attached in the thread."
    return f"The full report is in the auditor's reports folder, run {run}."


def _summary(result: RunResult, scope: Scope, settings: _Settings, limits: bk.Limits, *,
             report_url: str | None, attach: bool) -> tuple[str, list[dict[str, Any]]]:
    packer = bk.Packer(limits, reserve_blocks=2, reserve_chars=800)
    headline = _headline(scope, settings)
    icon = ":rotating_light: " if scope.failures else ""
    packer.add(bk.header(headline))
    packer.add(bk.context(
        f"Run {bk.safe(result.run_id, 40)} · status *{result.status}* · {scope.tenants_ok} of "
        f"{scope.tenants} tenant(s) audited · showing *{settings.min_severity}* and above"))
    packer.add(bk.section(_counts_line(scope)))
    for line in legacy_lines(scope.legacy, result.started_at.date(), settings.warning_days):
        packer.add(bk.section(line))
    more: list[str] = []
    budget = limits.max_entries
    tag_new = settings.notify == "all"
    # One entry per rule across tenants (its tenants and resources listed), so that the same
    # rule on many tenants takes one entry of the budget; sizes: the findings an entry covers.
    listed = group_by_rule(scope.listed, changed_first=tag_new)
    resolved = group_by_rule(scope.resolved)
    sections = [
        ("*Could not audit*", [failure_entry(x) for x in scope.failures], [1] * len(
            scope.failures), "tenant(s) not audited"),
        ("*Failing findings*" if tag_new else "*New and reopened*",
         [finding_entry(g.findings[0], tag_new=tag_new) if len(g) == 1
          else group_entry(g, EMOJI, tag_new=tag_new) for g in listed],
         [len(g) for g in listed], "failing" if tag_new else "new or reopened"),
        ("*Resolved*", [resolved_entry(g.findings[0]) if len(g) == 1
                        else resolved_group_entry(g) for g in resolved],
         [len(g) for g in resolved], "resolved"),
    ]
    for title, entries, sizes, noun in sections:
        if not entries:
            continue
        total = sum(sizes)
        n = len(entries)
        rules = f" in {n} rule{'' if n == 1 else 's'}" if n != total else ""
        placed = packer.entries(f"{title} ({total}{rules})", entries, budget)
        budget = max(0, budget - placed)
        if placed < len(entries):
            hidden = sum(sizes[placed:])
            left = len(entries) - placed
            of = f" ({left} rule{'' if left == 1 else 's'})" if hidden != left else ""
            more.append(f"{hidden} more {noun}{of}")
    if more:
        where = "in the thread and the report" if settings.bot else "in the report"
        packer.add_reserved(bk.context(f"…and {', '.join(more)} {where}."))
    packer.add_reserved(bk.context(_footer(report_url, attach, result.run_id)))
    text = f"{icon}{bk.safe(headline, 300)} (run {bk.safe(result.run_id, 40)})"
    return text, packer.blocks


def _thread(scope: Scope, settings: _Settings, limits: bk.Limits) -> list[Reply]:
    tenants: dict[str, tuple[list[Finding], list[Finding]]] = {}
    for f in scope.listed:
        tenants.setdefault(f.tenant, ([], []))[0].append(f)
    for f in scope.resolved:
        tenants.setdefault(f.tenant, ([], []))[1].append(f)
    replies = []
    names = list(tenants)
    for name in names[: limits.max_thread_replies]:
        listed, resolved = tenants[name]
        packer = bk.Packer(limits, reserve_blocks=1, reserve_chars=300)
        noun = "failing" if settings.notify == "all" else "new or reopened"
        title = f"*{bk.safe(name, 100)}*: {len(listed)} {noun}, {len(resolved)} resolved"
        entries = [finding_entry(f, tag_new=True) for f in listed]
        entries += [resolved_entry(f) for f in resolved]
        placed = packer.entries(title, entries, limits.max_thread_entries)
        if placed < len(entries):
            packer.add_reserved(bk.context(f"…and {len(entries) - placed} more in the report."))
        replies.append(Reply(text=f"{bk.safe(name, 100)}: details", blocks=packer.blocks))
    if len(names) > limits.max_thread_replies:
        rest = len(names) - limits.max_thread_replies
        replies.append(Reply(text=f"…and {rest} more tenant(s) in the report",
                             blocks=[bk.section(f"…and {rest} more tenant(s) in the report.")]))
    return replies


def _quiet(result: RunResult, scope: Scope,
           settings: _Settings) -> tuple[str, list[dict[str, Any]]]:
    what = ("no failing findings" if settings.notify == "all"
            else "no new, reopened or resolved findings")
    line = (f":white_check_mark: *SOAR key audit: all quiet* — {what} at "
            f"{settings.min_severity} or above (run {bk.safe(result.run_id, 40)}, "
            f"{scope.tenants} tenant(s) audited, {len(scope.failing)} failing finding(s) known).")
    legacy = legacy_lines(scope.legacy, result.started_at.date(), settings.warning_days)
    return (f"SOAR key audit: all quiet (run {bk.safe(result.run_id, 40)})",
            [bk.section(line), *(bk.section(x) for x in legacy)])


def _message(destination: str, result: RunResult, scope: Scope, settings: _Settings,
             limits: bk.Limits, *, report_url: str | None, attach: bool) -> Message | None:
    if scope.has_news:
        text, blocks = _summary(result, scope, settings, limits, report_url=report_url,
                                attach=attach)
        thread = _thread(scope, settings, limits) if settings.bot else []
        return Message(destination, text, blocks, thread, attach_report=attach)
    if settings.heartbeat and settings.notify != "none":
        text, blocks = _quiet(result, scope, settings)
        return Message(destination, text, blocks)
    return None


def build_digest(result: RunResult, slack: SlackConfig | None, *,
                 since: dict[str, datetime] | None = None,
                 limits: bk.Limits | None = None,
                 report_attached: bool = True,
                 legacy_warning_days: int | None = None) -> list[Message]:
    """The messages of one audit: the full digest for the default destination, then one per
    route that has something for it. ``slack`` None (demo): min_severity medium, notify new.
    ``since`` maps a tenant to when its audits started failing (else the first_seen of its
    SOAR-AUDIT-001 finding, else this run's start). ``report_attached``: whether a report.html
    will exist to attach (bot mode). ``legacy_warning_days``: ``legacy_api_warning_days`` of the
    configuration; without it, the SOAR-MIG-001 findings' severity (high exactly inside the
    window) says whether the legacy key countdown is due."""
    settings = dataclasses.replace(_settings(slack), warning_days=legacy_warning_days)
    limits = limits or bk.Limits()
    scope = _select(result, settings, _failures(result, since))
    out: list[Message] = []
    main = _message(DEFAULT_DESTINATION, result, scope, settings, limits,
                    report_url=settings.report_url, attach=settings.bot and report_attached)
    if main is not None:
        out.append(main)
    for index, route in enumerate(slack.routes if slack else []):
        route_settings = _Settings(settings.min_severity, settings.notify, settings.heartbeat,
                                   route.report_url, settings.bot and route.channel is not None,
                                   settings.warning_days)
        message = _message(route_destination(route.name, index), result,
                           _route_scope(scope, route, result), route_settings, limits,
                           report_url=route.report_url, attach=False)
        if message is not None:
            out.append(message)
    return out
