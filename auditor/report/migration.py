"""The legacy API migration plan: which API keys stop working when, and what replaces each one.

Google retires the legacy SOAR API and AppKey on ``legacy_api_shutdown``; rule SOAR-MIG-001
reports one finding per non-system legacy API key. Its evidence (rules.md) says what to create
instead::

    shutdown     "YYYY-MM-DD"
    days_left    int (negative after the date)
    replacement  {"identity": "serviceAccount:<slug>@<project>.iam.gserviceaccount.com",
                  "mapping": {"display_name", "soc_roles": [...], "environments": [...] or ["*"],
                              "snapshot": bool},
                  "iam_roles": [...], "permission_groups": [...]}

Everything here is read defensively (a missing or odd value shows as unknown, extra keys are
ignored, a marker that the IAM roles are only a suggestion is honoured in its likely spellings),
and no clock is read: days come from the finding, or are counted from the audit's own date.
Every output that speaks about the migration (migration.md/.csv, report.html, the Slack digest,
the trend) draws on :func:`build_plan` / :func:`legacy_left`, so they all count the same keys.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from auditor.engine.findings import SEVERITY_RANK, Finding
from auditor.report.views import as_date
from auditor.result import RunResult

MIGRATION_RULE = "SOAR-MIG-001"
# A key still exists while its finding is failing, undecided or waived: a waiver does not keep
# a key working after the shutdown.
LEFT = ("fail", "unknown", "muted")
GROUP_MAPPING_PATH = ("Settings > Advanced > Group Mapping (Settings > Access Management on the "
                      "unified SecOps platform)")
SNAPSHOT_WHY = ("the key is bound to a snapshot of all current environments: \"*\" also covers "
                "the environments created later")
_SUGGESTED_WORDS = ("suggest", "guess", "default", "inferred", "assumed", "proposed")


@dataclass(frozen=True, slots=True)
class KeyPlan:
    """One legacy API key and the replacement to create for it."""

    finding: Finding
    shutdown: date | None
    days_left: int | None
    identity: str | None
    display_name: str | None
    soc_roles: tuple[str, ...]
    environments: tuple[str, ...]
    snapshot: bool
    iam_roles: tuple[str, ...]
    iam_suggested: bool
    iam_note: str | None
    permission_groups: tuple[str, ...]

    @property
    def tenant(self) -> str:
        return self.finding.tenant

    @property
    def key_id(self) -> object:
        return self.finding.resource.id

    @property
    def key_name(self) -> str:
        return self.finding.resource.name

    @property
    def wildcard(self) -> bool:
        return "*" in self.environments

    @property
    def environments_text(self) -> str:
        """``*`` (all environments, now and later) or the explicit list."""
        if self.wildcard:
            return "*"
        return ", ".join(self.environments) if self.environments else ""

    @property
    def environments_why(self) -> str:
        if self.snapshot and self.wildcard:
            return SNAPSHOT_WHY
        if self.wildcard:
            return "the key covers all environments"
        return ""


@dataclass(frozen=True, slots=True)
class TenantCountdown:
    tenant: str
    keys_left: int | None  # None: the tenant could not be audited (its keys are unknown)
    migrated: int  # SOAR-MIG-001 findings resolved in this run (key deleted or replaced)
    days_left: int | None
    shutdown: date | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    keys: tuple[KeyPlan, ...]
    tenants: tuple[TenantCountdown, ...]
    shutdown: date | None
    days_left: int | None
    as_of: date
    migrated: int
    evaluated: bool  # the rule ran in this audit (or found something)
    in_window: bool  # inside the warning window, or past the shutdown

    @property
    def keys_left(self) -> int:
        return len(self.keys)

    @property
    def passed(self) -> bool:
        return self.days_left is not None and self.days_left < 0

    @property
    def countdown(self) -> str:
        """``126 days left`` / ``1 day left`` / ``0 days left (the shutdown is today)`` /
        ``shut down 5 days ago``; empty when the date is not known."""
        return countdown_text(self.days_left)


def countdown_text(days: int | None) -> str:
    if days is None:
        return ""
    if days < 0:
        return f"shut down {-days} day{'' if days == -1 else 's'} ago"
    if days == 0:
        return "0 days left (the shutdown is today)"
    return f"{days} day{'' if days == 1 else 's'} left"


def when_text(days: int | None) -> str:
    """``in 12 days`` / ``today`` / ``5 days ago`` (for sentences about a date)."""
    if days is None:
        return "date unknown"
    if days == 0:
        return "today"
    if days < 0:
        return f"{-days} day{'' if days == -1 else 's'} ago"
    return f"in {days} day{'' if days == 1 else 's'}"


# -- reading the evidence ---------------------------------------------------------------------
def _date(value: object) -> date | None:
    return as_date(value.strip() if isinstance(value, str) else value)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, (dict, list, tuple)):
        return None
    text = str(value).strip()
    return text or None


def _name(value: object) -> str | None:
    if isinstance(value, dict):
        for field in ("name", "display_name", "displayName", "role", "id"):
            found = _text(value.get(field))
            if found is not None:
                return found
        return None
    return _text(value)


def names(value: object) -> tuple[str, ...]:
    """A list of names (strings, or objects with a name) as a tuple of strings."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(n for n in (_name(v) for v in value) if n is not None)
    single = _name(value)
    return () if single is None else (single,)


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.lower()
        return any(w in low for w in _SUGGESTED_WORDS) or low in ("true", "yes")
    return False


def _iam(replacement: dict[str, Any]) -> tuple[tuple[str, ...], bool, str | None]:
    """The IAM roles, whether they are only a suggestion, and a note that says so or why."""
    raw = replacement.get("iam_roles")
    suggested = False
    note: str | None = None
    if isinstance(raw, dict):  # {"roles": [...], "suggested": true, "note": "..."}
        suggested = any(_flag(raw.get(k)) for k in ("suggested", "suggestion", "source"))
        note = _text(raw.get("note"))
        raw = raw.get("roles", raw.get("names"))
    roles = names(raw)
    if isinstance(raw, (list, tuple)):
        suggested = suggested or any(
            isinstance(r, dict) and any(_flag(r.get(k)) for k in ("suggested", "source"))
            for r in raw)
    for key, value in replacement.items():
        if key.startswith("iam_roles_") or key.startswith("iam_role_"):
            if key.endswith(("note", "reason", "why")):
                note = note or _text(value)
            if _flag(value):
                suggested = True
    return roles, suggested, note


def key_plan(finding: Finding, as_of: date) -> KeyPlan:
    evidence = finding.evidence if isinstance(finding.evidence, dict) else {}
    replacement = evidence.get("replacement")
    replacement = replacement if isinstance(replacement, dict) else {}
    mapping = replacement.get("mapping")
    mapping = mapping if isinstance(mapping, dict) else {}
    shutdown = _date(evidence.get("shutdown"))
    days = _int(evidence.get("days_left"))
    if days is None and shutdown is not None:
        days = (shutdown - as_of).days
    roles, suggested, note = _iam(replacement)
    snapshot = mapping.get("snapshot")
    return KeyPlan(
        finding=finding, shutdown=shutdown, days_left=days,
        identity=_text(replacement.get("identity")),
        display_name=_text(mapping.get("display_name", mapping.get("displayName"))),
        soc_roles=names(mapping.get("soc_roles", mapping.get("socRoles"))),
        environments=names(mapping.get("environments")),
        snapshot=snapshot is True or (isinstance(snapshot, str) and snapshot.lower() == "true"),
        iam_roles=roles, iam_suggested=suggested, iam_note=note,
        permission_groups=names(replacement.get("permission_groups")),
    )


def plan_order(p: KeyPlan) -> tuple[Any, ...]:
    return (p.days_left if p.days_left is not None else 1 << 30, p.tenant.lower(),
            -SEVERITY_RANK.get(p.finding.severity, 0), p.key_name.lower(), str(p.key_id))


def legacy_left(findings: Iterable[Finding]) -> list[Finding]:
    """The SOAR-MIG-001 findings whose key still exists (fail, unknown, muted)."""
    return [f for f in findings if f.rule_id == MIGRATION_RULE and f.status in LEFT]


def legacy_count(result: RunResult) -> int | None:
    """Legacy API keys left in this run; None when the rule did not run at all."""
    left = legacy_left(result.findings)
    if not left and MIGRATION_RULE not in result.checks and not any(
            f.rule_id == MIGRATION_RULE for f in result.findings):
        return None
    return len(left)


def in_window(days_left: int | None, findings: Iterable[Finding],
              warning_days: int | None) -> bool:
    """Inside the warning window (or past the shutdown). With ``legacy_api_warning_days`` known,
    ``days_left <= warning_days``; without it, the rule's own verdict: it raises its findings to
    high exactly inside the window and after the date."""
    if warning_days is not None:
        return days_left is not None and days_left <= warning_days
    if days_left is not None and days_left < 0:
        return True
    return any(f.severity in ("high", "critical") for f in findings)


def _common(values: Iterable[date | None]) -> date | None:
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    top = max(counts.values())
    return min(d for d, n in counts.items() if n == top)


def build_plan(result: RunResult, *, shutdown: date | None = None,
               warning_days: int | None = None) -> Plan:
    """The plan of this run. ``shutdown`` / ``warning_days``: the configured
    ``legacy_api_shutdown`` / ``legacy_api_warning_days`` when the caller knows them (else the
    date comes from the findings, and the window from their severity)."""
    as_of = result.started_at.date()
    left = legacy_left(result.findings)
    keys = tuple(sorted((key_plan(f, as_of) for f in left), key=plan_order))
    when = shutdown or _common(k.shutdown for k in keys) or _common(
        _date(f.evidence.get("shutdown")) for f in result.findings
        if f.rule_id == MIGRATION_RULE and isinstance(f.evidence, dict))
    days: int | None = None
    if when is not None:
        days = next((k.days_left for k in keys if k.shutdown == when and k.days_left is not None),
                    (when - as_of).days)
    migrated = Counter(f.tenant for f in result.findings
                       if f.rule_id == MIGRATION_RULE and f.status == "resolved")
    per: dict[str, list[KeyPlan]] = {}
    for k in keys:
        per.setdefault(k.tenant, []).append(k)
    tenants: list[TenantCountdown] = []
    for name in sorted(set(per) | set(migrated), key=str.lower):
        items = per.get(name, [])
        t_when = _common(k.shutdown for k in items) or when
        t_days = min((k.days_left for k in items if k.days_left is not None), default=days)
        tenants.append(TenantCountdown(name, len(items), migrated.get(name, 0), t_days, t_when))
    for t in result.tenants:
        if t.status == "error" and t.name not in per:
            tenants.append(TenantCountdown(t.name, None, 0, days, when,
                                           t.error or "could not be collected"))
    tenants.sort(key=lambda t: (t.keys_left is not None, -(t.keys_left or 0), t.tenant.lower()))
    evaluated = MIGRATION_RULE in result.checks or bool(keys) or bool(migrated)
    return Plan(keys, tuple(tenants), when, days, as_of, sum(migrated.values()), evaluated,
                bool(keys) and in_window(days, left, warning_days))
