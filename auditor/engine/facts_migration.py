"""Key facts about the end of the legacy SOAR API: days to ``legacy_api_shutdown`` (from the
audit's own date, never the wall clock), and the access to create instead of each key: a machine
identity mapped in Group Mapping to the key's SOC roles and environments, and the IAM roles that
replace its permission groups.

``replacement`` (evidence of SOAR-MIG-001, read by the migration plan)::

    {"identity": "serviceAccount:<slug>@<iam_project or PROJECT_ID>.iam.gserviceaccount.com",
     "mapping": {"display_name": <key name>, "soc_roles": [names], "environments": [names] | ["*"],
                 "snapshot": bool},
     "iam_roles": [{"role": <role>, "permission_group": <group name> | None, "suggested": bool}],
     "permission_groups": [names],
     "notes": [text],                       # what could not be carried over or decided
     "iam_roles_note": text}                # only when a role is a suggestion
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from auditor.engine.access import custom_role_for_group
from auditor.engine.context import TenantContext
from auditor.engine.facts import KeyFacts, fact
from auditor.soar.models import ApiKey

FALLBACK_IAM_ROLE = "roles/chronicle.viewer"
PLACEHOLDER_PROJECT = "PROJECT_ID"
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_MAX_ACCOUNT_ID = 30  # a service account id: 6-30 of [a-z0-9-], starting with a letter


def account_id(name: str) -> str:
    """A valid service account id derived from a key name (``CI Bot`` -> ``ci-bot``)."""
    base = _NOT_SLUG.sub("-", name.casefold()).strip("-") or "soar-key"
    if not base[0].isalpha():
        base = f"soar-{base}"
    if len(base) < 6:
        base = f"{base}-soar"
    return base[:_MAX_ACCOUNT_ID].rstrip("-")


def _account_ids(ctx: TenantContext) -> dict[int, str]:
    """Each key's account id; keys whose names give the same id get ``-<key id>`` appended."""
    by_id: dict[str, list[int]] = {}
    for folded, ids in ctx.keys_by_name.items():
        by_id.setdefault(account_id(folded), []).extend(ids)
    out: dict[int, str] = {}
    for base, ids in by_id.items():
        for key_id in ids:
            if len(ids) == 1:
                out[key_id] = base
            else:
                suffix = f"-{key_id}"
                out[key_id] = base[: _MAX_ACCOUNT_ID - len(suffix)].rstrip("-") + suffix
    return out


@fact("legacy_surface", "bool", "The tenant was read over the legacy SOAR API (AppKey), where API "
      "keys live.")
def _legacy(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> bool:
    return "legacy" in ctx.access.surfaces


@fact("legacy_shutdown_date", "str", "The `legacy_api_shutdown` parameter as `YYYY-MM-DD`: when "
      "Google stops the legacy SOAR API and AppKey.")
def _shutdown(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> str:
    return ctx.params.legacy_api_shutdown.isoformat()


@fact("days_to_legacy_shutdown", "int", "Whole days from the audit's date (UTC) to "
      "`legacy_api_shutdown`; 0 on the day, negative after it.")
def _days(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> int:
    return (ctx.params.legacy_api_shutdown - ctx.now.astimezone(UTC).date()).days


@fact("legacy_shutdown_countdown", "str", "The days to the shutdown in words: `119 days left`, "
      "`1 day left`, `today`, `3 days ago`.")
def _countdown(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> str:
    days: int = f["days_to_legacy_shutdown"]
    if days == 0:
        return "today"
    unit = "day" if abs(days) == 1 else "days"
    return f"{days} {unit} left" if days > 0 else f"{-days} {unit} ago"


@fact("environment_snapshot", "bool", "The key is bound to a snapshot of all current "
      "environments: the SOAR-ENV-001 condition (explicit scope, at least "
      "`snapshot_min_environments` environments at creation, all of them listed, no All "
      "Environments group).", nullable=True,
      unknown_reason="the key's creation time or a group's All Environments state is unknown")
def _snapshot(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> bool | None:
    if key.is_wildcard:
        return False
    parts = (
        _ge(f["environments_at_creation_count"], ctx.params.snapshot_min_environments),
        f["covers_all_environments_at_creation"],
        None if f["has_all_environments"] is None else not f["has_all_environments"],
    )
    if False in parts:
        return False
    return None if None in parts else True


def _ge(value: int | None, limit: int) -> bool | None:
    return None if value is None else value >= limit


@fact("replacement_identity", "str", "The service account suggested to replace the key: "
      "`serviceAccount:<key name as an account id>@<project>.iam.gserviceaccount.com` "
      "(`PROJECT_ID` when the SecOps project is not known).")
def _identity(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> str:
    ids: dict[int, str] = ctx.shared("account_ids", lambda: _account_ids(ctx))
    project = ctx.access.iam_project or PLACEHOLDER_PROJECT
    account = ids.get(key.id) or account_id(key.name)
    return f"serviceAccount:{account}@{project}.iam.gserviceaccount.com"


def _iam_roles(ctx: TenantContext, key: ApiKey, groups: list[str]) -> list[dict[str, Any]]:
    roles: list[dict[str, Any]] = []
    wanted: list[str | None] = list(groups) or [None]
    for group in wanted:
        found = ctx.access.custom_roles.get(custom_role_for_group(group)) if group else None
        if found:
            roles += [{"role": r, "permission_group": group, "suggested": False} for r in found]
        else:
            roles.append({"role": FALLBACK_IAM_ROLE, "permission_group": group,
                          "suggested": True})
    return roles


def _as_is(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> Any:
    return f["replacement"]  # built of JSON values already


@fact("replacement", "dict", "The access to create instead of the key: `identity`, the Group "
      "Mapping entry (`mapping`: display_name, soc_roles, environments - `[\"*\"]` for a "
      "snapshot or a wildcard key - and snapshot), `iam_roles` (the `SOAR_Custom_<group>` role "
      "the IAM policy shows for each permission group, else a suggested "
      "`roles/chronicle.viewer` marked `suggested: true`), `permission_groups` and `notes`.",
      evidence=_as_is)
def _replacement(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> dict[str, Any]:
    snapshot = f["environment_snapshot"]
    notes: list[str] = []
    if snapshot is None:
        notes.append("whether the key is bound to a snapshot of all environments could not be "
                     "decided (" + KeyFacts.registry.specs["environment_snapshot"].unknown_reason
                     + "); the mapping lists the key's own environments")
    if f["missing_role_ids"]:
        notes.append("SOC role ids the tenant does not have are not carried over: "
                     + ", ".join(map(str, f["missing_role_ids"])))
    if f["missing_group_ids"]:
        notes.append("permission group ids the tenant does not have are not carried over: "
                     + ", ".join(map(str, f["missing_group_ids"])))
    groups: list[str] = f["groups"]
    iam_roles = _iam_roles(ctx, key, groups)
    out: dict[str, Any] = {
        "identity": f["replacement_identity"],
        "mapping": {
            "display_name": key.name,
            "soc_roles": list(f["roles"]),
            "environments": ["*"] if key.is_wildcard or snapshot is True
            else list(key.environments),
            "snapshot": snapshot is True,
        },
        "iam_roles": iam_roles,
        "permission_groups": list(groups),
        "notes": notes,
    }
    guessed = [r["permission_group"] or "(no permission group)" for r in iam_roles
               if r["suggested"]]
    if guessed:
        out["iam_roles_note"] = (
            f"{FALLBACK_IAM_ROLE} is a suggested least-privilege starting point: the IAM policy "
            f"shows no SOAR_Custom_<group> role for {', '.join(guessed)}. Grant what the "
            "application needs, or the SOAR_Custom_<group> role that the SOAR permissions "
            "migration creates for the group.")
    return out
