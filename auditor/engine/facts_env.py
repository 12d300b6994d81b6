"""Key facts about environments: scope, coverage at creation, missing and stale environments."""

from __future__ import annotations

from typing import Any

from auditor.clock import iso
from auditor.engine.context import TenantContext, fold
from auditor.engine.facts import KeyFacts, fact, hidden
from auditor.soar.models import ApiKey


# -- environments --------------------------------------------------------------------------------
@hidden("_env_set")
def _env_set(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> frozenset[str]:
    names: frozenset[str] = ctx.shared_by(key.environments, _fold_names)
    return names


def _fold_names(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(fold(n) for n in names if n != "*")


@fact("environments", "list[str]", 'The key\'s environments as the API lists them ("*" is the '
      "wildcard).")
def _environments(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    return list(key.environments)


@fact("environment_count", "int", 'How many environments the key names (not counting "*").')
def _environment_count(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> int:
    return len(f["_env_set"])


@fact("scope", "enum", '`wildcard` when the key\'s environments hold "*", else `explicit`.',
      choices=("wildcard", "explicit"))
def _scope(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> str:
    return "wildcard" if key.is_wildcard else "explicit"


@fact("tenant_environments", "list[str]", "The tenant's current environments.")
def _tenant_envs(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    return ctx.env_names  # shared by every key of the tenant: read-only


def _creation_evidence(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> Any:
    return ctx.shared("environment_creation", lambda: {
        e.name: {"created_at": iso(e.created_at), "source": e.source} for e in ctx.envs.values()
    })


@fact("environment_creation", "dict", "Each current environment's creation time and where it "
      "comes from (`api`, `first_seen` by the auditor, or `unknown`).",
      evidence=_creation_evidence)
def _env_creation(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> dict[str, Any]:
    return {e.name: e.created_at for e in ctx.envs.values()}


@fact("environments_at_creation", "list[str]", "The tenant's current environments whose "
      "creation time is unknown or not later than the key's creation time.", nullable=True,
      unknown_reason="the key's creation time is unknown while some environments have a known "
      "creation time")
def _at_creation(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str] | None:
    at = ctx.environments_at(key.created_at)
    return None if at is None else at.names


@fact("environments_at_creation_count", "int", "How many environments existed at the key's "
      "creation (see environments_at_creation).", nullable=True,
      unknown_reason="the key's creation time is unknown while some environments have a known "
      "creation time")
def _at_creation_count(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> int | None:
    at = f["environments_at_creation"]
    return None if at is None else len(at)


@fact("covers_all_environments_at_creation", "bool", "Every environment that existed at the "
      "key's creation is named in the key's list.", nullable=True,
      unknown_reason="the key's creation time is unknown while some environments have a known "
      "creation time")
def _covers(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> bool | None:
    at = ctx.environments_at(key.created_at)
    if at is None:
        return None
    names: frozenset[str] = f["_env_set"]
    return at.folded <= names


@fact("uncovered_environments", "list[str]", "The tenant's current environments that the key's "
      "explicit list does not name (empty for a wildcard key).")
def _uncovered(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    if key.is_wildcard:
        return []
    names: frozenset[str] = f["_env_set"]
    return [e.name for k, e in ctx.envs.items() if k not in names]


@fact("missing_environments", "list[str]", "Uncovered environments created after the key: "
      "what a snapshot of all environments misses.", nullable=True,
      unknown_reason="the key's creation time is unknown while some environments have a known "
      "creation time")
def _missing_envs(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str] | None:
    at = ctx.environments_at(key.created_at)
    if at is None:
        return None
    names: frozenset[str] = f["_env_set"]
    if key.is_wildcard:
        return []
    return [e.name for k, e in ctx.envs.items() if k not in names and k not in at.folded]


@fact("stale_environments", "list[str]", "Environments the key names that the tenant no "
      "longer has.")
def _stale(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    if ctx.envs.keys() >= f["_env_set"]:
        return []
    return [n for n in key.environments if n != "*" and fold(n) not in ctx.envs]
