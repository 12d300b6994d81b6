"""migration.md and migration.csv (``--format migration``): the plan to replace every legacy key.

Per legacy API key (SOAR-MIG-001): tenant, key, days left, shutdown date, severity, and the
replacement to create: the machine identity, its Group Mapping entry (display name, SOC roles,
environments) and the IAM role(s) that replace its permission group. Every value from outside
goes through :func:`markdown.md_escape` / :func:`textsafe.csv_safe`, like summary.md and
findings.csv; the ``gcloud`` commands list only names that match Google's own syntax for them.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from auditor.report.base import ReportContext, atomic_text
from auditor.report.markdown import md_escape
from auditor.report.migration import (
    GROUP_MAPPING_PATH,
    KeyPlan,
    Plan,
    build_plan,
    countdown_text,
    when_text,
)
from auditor.result import RunResult
from auditor.textsafe import csv_safe

CSV_COLUMNS = (
    "tenant",
    "key_id",
    "key_name",
    "days_left",
    "shutdown",
    "severity",
    "status",
    "lifecycle",
    "identity",
    "mapping_display_name",
    "mapping_soc_roles",
    "mapping_environments",
    "environments_why",
    "iam_roles",
    "iam_roles_suggested",
    "iam_roles_note",
    "permission_groups",
    "finding_id",
)
# Names that gcloud takes as they are (no quoting needed, nothing a shell would interpret).
_ACCOUNT = re.compile(
    r"serviceAccount:([a-z][a-z0-9-]{4,28}[a-z0-9])@([a-z][a-z0-9-]{4,28}[a-z0-9])"
    r"\.iam\.gserviceaccount\.com")
_ROLE = re.compile(r"roles/[A-Za-z0-9_.]{1,128}|projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/roles/"
                   r"[A-Za-z0-9_.]{3,64}")
_PLAIN = re.compile(r"[A-Za-z0-9_.-]{1,100}")

STEPS = (
    "**Create the service account** given as *Machine identity*, in the SecOps Google Cloud "
    "project (IAM & Admin > Service Accounts). Where the integration runs on Google Cloud or "
    "another cloud, prefer workload identity federation to a downloaded key.",
    "**Grant the IAM role(s)** of the row to it on that project (IAM & Admin > IAM). They "
    "replace the key's permission group; a role marked *suggested* is a proposal: check it "
    "against what the integration does before granting it.",
    f"**Add the Group Mapping entry** at {GROUP_MAPPING_PATH}: the service account as its member, "
    "with the SOC roles and environments of the row. `*` means every environment, including "
    "the ones created later.",
    "**Switch the integration to OAuth**: it authenticates as the service account (OAuth 2.0, "
    "google-auth) and calls the Chronicle API instead of the legacy `/api/external/v1` "
    "endpoints with an AppKey.",
    "**Delete the API key** at Settings > Advanced > API keys once nothing uses it. The next "
    "audit counts it as replaced.",
)


def _list(values: tuple[str, ...], empty: str = "—") -> str:
    return ", ".join(md_escape(v) for v in values) if values else empty


def _days(days: int | None) -> str:
    return "—" if days is None else str(days)


def _headline(plan: Plan) -> list[str]:
    if plan.shutdown is None:
        return []
    verb = "stopped" if plan.passed else "stop"
    sentence = f"the legacy SOAR API and AppKey {verb} working on **{plan.shutdown.isoformat()}**"
    text = f"**{countdown_text(plan.days_left)}**: {sentence}"
    if plan.in_window:
        return ["> [!WARNING]", f"> {text}."]
    return [f"{text}."]


def _mapping(k: KeyPlan) -> str:
    envs = "\\*" if k.wildcard else _list(k.environments, "none listed")
    if k.snapshot and k.wildcard:
        envs += " (replaces the key's snapshot of all current environments)"
    parts = [f"**{md_escape(k.display_name)}**" if k.display_name else "display name —",
             f"SOC roles: {_list(k.soc_roles)}", f"environments: {envs}"]
    return " · ".join(parts)


def _iam(k: KeyPlan) -> str:
    text = _list(k.iam_roles, "none proposed")
    if k.iam_suggested:
        text += " *(suggested)*"
    if k.iam_note:
        text += f" — {md_escape(k.iam_note)}"
    return text


def _status(k: KeyPlan) -> str:
    status = k.finding.status
    if status == "muted":
        owner = (k.finding.exception or {}).get("owner")
        return "muted" + (f" (exception of {md_escape(owner)})" if owner else "")
    return "could not decide" if status == "unknown" else status


def _commands(keys: tuple[KeyPlan, ...]) -> list[str]:
    lines: list[str] = []
    skipped = 0
    for k in keys:
        account = _ACCOUNT.fullmatch(k.identity or "")
        roles = [r for r in k.iam_roles if _ROLE.fullmatch(r)]
        if account is None or len(roles) != len(k.iam_roles):
            skipped += 1
            continue
        name, project = account.groups()
        email = (k.identity or "").removeprefix("serviceAccount:")
        tenant = k.tenant if _PLAIN.fullmatch(k.tenant) else "tenant"
        key_id = f" key id {k.key_id}" if isinstance(k.key_id, int) else ""
        lines.append(f"# {tenant}{key_id}")
        lines.append(f"gcloud iam service-accounts create {name} --project={project}")
        for role in roles:
            note = "  # suggested: check it first" if k.iam_suggested else ""
            lines.append(f"gcloud projects add-iam-policy-binding {project} "
                         f"--member=serviceAccount:{email} --role={role} --condition=None{note}")
    if not lines:
        return []
    out = ["### Commands", "",
           "The first two steps with `gcloud`, for the keys whose names need no quoting "
           "(the Group Mapping entry is added in the SecOps UI):", "", "```sh", *lines, "```", ""]
    if skipped:
        out += [f"{skipped} key(s) are not in these commands: their identity or a role name "
                "is not in Google's plain syntax; use the table above.", ""]
    return out


def plan_of(result: RunResult, context: ReportContext) -> Plan:
    return build_plan(result, shutdown=context.legacy_api_shutdown,
                      warning_days=context.legacy_api_warning_days)


def render(result: RunResult, context: ReportContext, plan: Plan | None = None) -> str:
    plan = plan or plan_of(result, context)
    lines = [f"## Legacy SOAR API migration plan, audit {md_escape(result.run_id)}", ""]
    headline = _headline(plan)
    if headline:
        lines += [*headline, ""]
    audited = f"As of the audit of {plan.as_of.isoformat()}"
    if result.status == "failed":
        lines += [f"{audited}: **nothing was audited**, so no legacy API key could be counted. "
                  "This is not a clean result.", ""]
    elif not plan.evaluated:
        lines += [f"{audited}: rule SOAR-MIG-001 did not run, so no legacy API key was "
                  "checked (is it disabled, or was no tenant read over the legacy API?).", ""]
    elif not plan.keys:
        lines += [f"{audited}: no legacy API key is left"
                  + (f" ({plan.migrated} replaced since the previous audit)." if plan.migrated
                     else "."), ""]
    else:
        tenants = sum(1 for t in plan.tenants if t.keys_left)
        lines += [f"{audited}: **{plan.keys_left} legacy API key(s)** left in {tenants} "
                  f"tenant(s); {plan.migrated} replaced since the previous audit. Each one "
                  "needs the replacement below before the shutdown.", ""]
    if plan.tenants:
        lines += ["### Keys left per tenant", "",
                  "| Tenant | Legacy keys left | Replaced since the previous audit | Days left "
                  "| Shutdown |", "|---|---:|---:|---:|---|"]
        for t in plan.tenants:
            left = ("not audited: " + md_escape(t.error)) if t.keys_left is None else t.keys_left
            shutdown = t.shutdown.isoformat() if t.shutdown else "—"
            lines.append(f"| {md_escape(t.tenant)} | {left} | {t.migrated} "
                         f"| {_days(t.days_left)} | {shutdown} |")
        lines.append("")
    if plan.keys:
        lines += ["### Step by step, for each key", ""]
        lines += [f"{i}. {step}" for i, step in enumerate(STEPS, 1)]
        lines += ["", f"### The plan, key by key ({plan.keys_left})", "",
                  "| Tenant | Key | Days left | Shutdown | Severity | Status | Machine identity "
                  "| Group Mapping entry | IAM role(s) | Replaces permission group(s) |",
                  "|---|---|---:|---|---|---|---|---|---|---|"]
        for k in plan.keys:
            shutdown = k.shutdown.isoformat() if k.shutdown else "—"
            identity = f"{md_escape(k.identity)}" if k.identity else "— (not proposed)"
            lines.append(
                f"| {md_escape(k.tenant)} | {md_escape(k.key_name)} (id {md_escape(k.key_id)}) "
                f"| {_days(k.days_left)} | {shutdown} | {k.finding.severity.capitalize()} "
                f"| {_status(k)} | {identity} | {_mapping(k)} | {_iam(k)} "
                f"| {_list(k.permission_groups)} |")
        lines.append("")
        if any(k.snapshot and k.wildcard for k in plan.keys):
            lines += ["Environments `*` instead of a list where the key is bound to a snapshot "
                      "of all current environments (SOAR-ENV-001): the snapshot misses every "
                      "environment created after the key, `*` covers them.", ""]
        lines += _commands(plan.keys)
    if plan.shutdown is not None and plan.keys:
        lines.append(f"Legacy keys stop working {when_text(plan.days_left)}. The full list: "
                     "migration.csv; every key's evidence: report.html (Legacy API migration).")
    else:
        lines.append("Full details: report.html, findings.json.")
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    # Integers the auditor computed itself (days left may be negative) stay numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return csv_safe(value)


def rows(plan: Plan) -> list[list[str]]:
    return [[_cell(v) for v in (
        k.tenant, k.key_id, k.key_name, k.days_left,
        k.shutdown.isoformat() if k.shutdown else "", k.finding.severity, k.finding.status,
        k.finding.lifecycle, k.identity, k.display_name, "; ".join(k.soc_roles),
        k.environments_text, k.environments_why, "; ".join(k.iam_roles),
        "yes" if k.iam_suggested else "no", k.iam_note, "; ".join(k.permission_groups),
        k.finding.id)] for k in plan.keys]


class MigrationReporter:
    name = "migration"
    filename = "migration.md"
    filenames = ("migration.md", "migration.csv")

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None:
        plan = plan_of(result, context)
        with atomic_text(path) as handle:
            handle.write(render(result, context, plan))
        with atomic_text(path.with_name("migration.csv"), newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
            writer.writerow(CSV_COLUMNS)
            writer.writerows(rows(plan))
