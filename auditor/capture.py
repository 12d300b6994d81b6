"""``soar-auditor capture``: one tenant's raw API answers -> a secret-free simulator scenario.

The raw records (API keys, environments, permission group cards, details and All Environments
states, SOC roles, the system version) are written as a scenario of :mod:`auditor.simulator.spec`,
served verbatim by ``soar-auditor simulator --scenario FILE``: an audit of the replay gives the
findings of the live audit. An optional call that answered an error is replayed as that error.

Removed before anything is written: the ``key`` field of every API key record, every field whose
name looks like a credential (key, secret, token, password, credential, cookie, signature,
authorization), and every text that holds a known secret (the tenant's credential) or looks like
one (JWT, Bearer, Slack and Google tokens, PEM blocks). The file is checked once more for every
raw ``key`` value before it is written.

``anonymize``: names of API keys, environments, permission groups and SOC roles, the tenant's
name, ``description`` texts and e-mail addresses are replaced by pseudonyms: HMAC-SHA256 with a
random salt of this capture, over the name as the rules compare it (trimmed, case-folded), so that
equal names stay equal within the file and nothing links two captures. Group and role names that
the rules name (``keep``: the parameters ``admin_permission_groups`` and ``privileged_soc_roles``)
are kept, so that the rules about them still apply.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from auditor import __version__
from auditor.clock import SYSTEM_CLOCK
from auditor.config import TenantConfig
from auditor.logs import scrub
from auditor.soar.client import RetryPolicy
from auditor.soar.collect import RawResponses, collect_tenant_raw
from auditor.soar.models import is_machine_identity
from auditor.soar.shapes_chronicle import trailing_id

REMOVED = "[removed by capture]"
REPLAY_APP_KEY = "capture-replay-appkey-not-a-secret"
_SECRET_NAME = re.compile(
    r"(^key$|apikey$|appkey$|secret|token|passw|credential|cookie|signature|authorization"
    r"|privatekey|sessionid)"
)
_SECRET_VALUE = re.compile(
    r"(eyJ[\w-]{8,}\.[\w-]{8,}\.|\bBearer\s+\S{8,}|\bxox[abposr]-[\w-]{8,}|\bAIza[\w-]{30,}"
    r"|\bya29\.[\w-]{8,}|-----BEGIN [A-Z ]*PRIVATE KEY-----)"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


class _NoAliases(yaml.SafeDumper):
    """Writes shared objects out in full: a replay's loader refuses aliases that expand far."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class CaptureError(Exception):
    """The tenant could not be captured (one line)."""


@dataclass(slots=True)
class Capture:
    """A capture: the scenario (a plain dict), and what happened to it."""

    scenario: dict[str, Any]
    removed: int = 0  # values removed as secrets
    pseudonyms: int = 0  # names replaced (anonymize)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def fold(name: str) -> str:
    """How the rules compare names (auditor.engine.context.fold): trimmed, case-folded."""
    return name.strip().casefold()


class _Cleaner:
    """Removes secrets from raw JSON, and with a salt, replaces names by pseudonyms."""

    def __init__(self, salt: bytes | None, keep: Iterable[str]) -> None:
        self.salt = salt
        self.keep = {fold(g) for g in keep}
        self.removed = 0
        self.names: set[tuple[str, str]] = set()

    # -- secrets ---------------------------------------------------------------------------------
    def clean(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._field(str(k), v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.clean(v) for v in value]
        if isinstance(value, str):
            if scrub(value) != value or _SECRET_VALUE.search(value):
                self.removed += 1
                return REMOVED
            if self.salt is not None and _EMAIL.search(value):
                return _EMAIL.sub(lambda m: self.pseudonym("user", m.group(0)) + "@example.invalid",
                                  value)
        return value

    def _field(self, name: str, value: Any) -> Any:
        norm = re.sub(r"[^a-z]", "", name.lower())
        if _SECRET_NAME.search(norm) and value is not None and not isinstance(value, bool):
            if norm == "key" or isinstance(value, str | list | dict):
                self.removed += 1
                return REMOVED
        if self.salt is not None and norm == "description" and isinstance(value, str):
            return self.pseudonym("text", value)
        return self.clean(value)

    # -- pseudonyms ------------------------------------------------------------------------------
    def pseudonym(self, kind: str, name: str) -> str:
        if self.salt is None:
            return name
        self.names.add((kind, fold(name)))
        digest = hmac.new(self.salt, f"{kind}\x1f{fold(name)}".encode(), hashlib.sha256)
        return f"{kind}-{digest.hexdigest()[:10]}"

    def env_name(self, name: Any) -> Any:
        return self.pseudonym("env", name) if isinstance(name, str) and name != "*" else name

    def kept_or(self, kind: str, name: Any) -> Any:
        """A group or role name: kept when the rules name it, else a pseudonym."""
        if not isinstance(name, str) or fold(name) in self.keep:
            return name
        return self.pseudonym(kind, name)


def _records(data: Any, endpoint: str) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise CaptureError(f"{endpoint}: the answer is not an array of records; a scenario "
                           "cannot hold it")
    return data


def _items(raw: RawResponses, name: str) -> list[dict[str, Any]]:
    try:
        return _records(raw.items(name), name)
    except ValueError as exc:  # a ShapeError: collection read it, so this does not happen
        raise CaptureError(str(exc)) from None


def _member(cleaner: _Cleaner, member: str) -> str:
    """A pseudonym that keeps what the rules read: the kind prefix and whether it is a
    machine identity."""
    head = member.split(":", 1)[0]
    kind = head if ":" in member and not member.startswith(("principal:", "principalSet:")) \
        and "//" not in member else ""
    if member.startswith(("principal://", "principalSet://")):
        kind = ""
    machine = is_machine_identity(member)
    name = cleaner.pseudonym("member", member)
    if machine:
        return f"{kind or 'serviceAccount'}:{name}@example.iam.gserviceaccount.com"
    return f"{kind}:{name}@example.invalid" if kind else name


def _keys(raw: RawResponses, cleaner: _Cleaner) -> list[dict[str, Any]]:
    keys = []
    for record in _records(raw.body("GetApiKeys"), "GetApiKeys"):
        item = cleaner.clean(record)
        if cleaner.salt is not None:
            if isinstance(item.get("name"), str):
                item["name"] = cleaner.pseudonym("key", item["name"])
            if isinstance(item.get("environments"), list):
                item["environments"] = [cleaner.env_name(e) for e in item["environments"]]
            elif isinstance(item.get("environments"), str):
                item["environments"] = cleaner.env_name(item["environments"])
        keys.append(item)
    return keys


def _environments(raw: RawResponses, cleaner: _Cleaner, capture: Capture
                  ) -> list[dict[str, Any]]:
    legacy = ("GetEnvironments", None) in raw.pages
    records = _items(raw, "GetEnvironments" if legacy else "ListEnvironments")
    environments: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for record in records:
        if not legacy:  # the simulator serves legacy records on both surfaces
            record = {"name": record.get("displayName"),
                      **({"id": i} if (i := trailing_id(str(record.get("name", "")))) else {}),
                      **({"description": record["description"]} if "description" in record
                         else {})}
        if record.get("name") in seen:
            capture.notes.append("the environments listed an environment twice; kept once")
            continue
        seen.add(record.get("name"))
        item = cleaner.clean(record)
        if cleaner.salt is not None:
            item["name"] = cleaner.env_name(item.get("name"))
        environments.append(item)
    return environments


def _groups(raw: RawResponses, cleaner: _Cleaner, capture: Capture) -> list[dict[str, Any]]:
    groups = []
    if ("GetPermissionsGroupCards", None) not in raw.pages:
        for record in _items(raw, "ListSoarPermissionGroups") if (
                "ListSoarPermissionGroups", None) in raw.pages else []:
            gid = trailing_id(str(record.get("name", "")))
            if gid is not None:
                groups.append({"id": gid,
                               "name": cleaner.kept_or("group", record.get("displayName"))})
        return groups
    for card in _records(raw.body("GetPermissionsGroupCards"), "GetPermissionsGroupCards"):
        gid = card["id"]
        name = cleaner.kept_or("group", card.get("name"))
        spec: dict[str, Any] = {"id": gid, "name": name,
                                "card": {k: v for k, v in cleaner.clean(card).items()
                                         if k not in ("id", "name")}}
        if ("GetPermissionGroup", gid) in raw.pages:
            detail = cleaner.clean(raw.body("GetPermissionGroup", gid))
            if isinstance(detail, dict):
                if "name" in detail:
                    detail["name"] = cleaner.kept_or("group", detail["name"])
                if cleaner.salt is not None and isinstance(detail.get("environments"), list):
                    detail["environments"] = [cleaner.env_name(e) for e in detail["environments"]]
                spec["detail"] = detail
            else:
                capture.notes.append(f"group {gid}: its detail is not an object; replayed as {{}}")
        else:
            spec["detail_http_status"] = raw.unavailable.get(("GetPermissionGroup", gid)) or 404
        if ("GetAllEnvironmentStatus", gid) in raw.pages:
            spec["status"] = cleaner.clean(raw.body("GetAllEnvironmentStatus", gid))
        groups.append(spec)
    return groups


def _roles(raw: RawResponses, cleaner: _Cleaner) -> list[dict[str, Any]]:
    legacy = ("GetSocRoles", None) in raw.pages
    roles = []
    for record in _items(raw, "GetSocRoles" if legacy else "ListSocRoles"):
        if not legacy:
            record = {"id": trailing_id(str(record.get("name", ""))),
                      "name": record.get("displayName"),
                      "isDefault": bool(record.get("defaultRole", False))}
        item = cleaner.clean(record)
        if cleaner.salt is not None and "name" in item:
            item["name"] = cleaner.kept_or("role", item["name"])
        roles.append(item)
    return roles


def _chronicle_records(raw: RawResponses, cleaner: _Cleaner) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    anonymous = cleaner.salt is not None
    if ("ListIdpMappingGroups", None) in raw.pages:
        mappings = []
        for record in _items(raw, "ListIdpMappingGroups"):
            item = cleaner.clean(record)
            if anonymous:
                item["displayName"] = cleaner.pseudonym("mapping", str(item.get("displayName")))
                if isinstance(item.get("environments"), list):
                    item["environments"] = [cleaner.env_name(e) for e in item["environments"]]
                members = item.get("groupMembers")
                if isinstance(members, list):
                    item["groupMembers"] = [
                        _member(cleaner, m) if isinstance(m, str)
                        else {k: _member(cleaner, v) if isinstance(v, str) else v
                              for k, v in m.items()} if isinstance(m, dict) else m
                        for m in members]
            mappings.append(item)
        out["idp_mappings"] = mappings
    if ("ListSoarUsers", None) in raw.pages:
        out["users"] = [cleaner.clean(r) for r in _items(raw, "ListSoarUsers")]
    if ("GetIamPolicy", None) in raw.pages:
        policy = raw.body("GetIamPolicy")
        bindings = [cleaner.clean(b) for b in policy.get("bindings") or []] \
            if isinstance(policy, dict) else []
        if anonymous:
            for binding in bindings:
                if isinstance(binding.get("members"), list):
                    binding["members"] = [_member(cleaner, m) if isinstance(m, str) else m
                                          for m in binding["members"]]
        out["iam_bindings"] = bindings
    return out


def build_scenario(tenant: TenantConfig, raw: RawResponses, cleaner: _Cleaner, now: datetime
                   ) -> Capture:
    """The scenario of one tenant's raw answers (see the module docstring)."""
    anonymous = cleaner.salt is not None
    capture = Capture(scenario={})
    legacy = tenant.url is not None
    keys = _keys(raw, cleaner) if legacy else []
    environments = _environments(raw, cleaner, capture)
    groups = _groups(raw, cleaner, capture)
    roles = _roles(raw, cleaner)

    when = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    scenario: dict[str, Any] = {
        "tenant": cleaner.pseudonym("tenant", tenant.name),
        "description": f"Captured by soar-auditor {__version__} at {when}; secrets removed"
                       + ("; names anonymized" if anonymous else ""),
        "app_keys": [REPLAY_APP_KEY],
    }
    faults: list[dict[str, Any]] = []
    version_ep = "GetSystemVersion" if legacy else "LegacyGetSystemVersion"
    if (version_ep, None) in raw.pages:
        body = raw.body(version_ep)
        version = body.get("payload") if not legacy and isinstance(body, dict) else body
        scenario["system_version"] = cleaner.clean(version)
    else:
        faults.append({"endpoint": version_ep,
                       "status": raw.unavailable.get((version_ep, None)) or 404})
    if "GetSocRoles" in raw.dialects:  # replay answers in the dialect that answered
        scenario["socroles"] = raw.dialects["GetSocRoles"]
    if tenant.chronicle is not None:
        chron = tenant.chronicle
        scenario["chronicle"] = {
            "project": cleaner.pseudonym("project", chron.project) if anonymous
            else chron.project,
            "location": chron.location, "instance": chron.instance,
            "iam": chron.iam, "legacy": legacy}
        if ("ListSoarPermissionGroups", None) in raw.unavailable:
            faults.append({"endpoint": "ListSoarPermissionGroups", "status":
                           raw.unavailable[("ListSoarPermissionGroups", None)] or 404})
    if faults:
        scenario["faults"] = faults
    scenario.update(environments=environments, permission_groups=groups, soc_roles=roles,
                    api_keys=keys)
    chronicle = _chronicle_records(raw, cleaner)
    scenario.update(chronicle)
    capture.scenario = scenario
    capture.removed = cleaner.removed
    capture.pseudonyms = len(cleaner.names)
    capture.counts = {"api_keys": len(keys), "environments": len(environments),
                      "permission_groups": len(groups), "soc_roles": len(roles),
                      **{k: len(v) for k, v in chronicle.items()}}
    return capture


def _raw_key_values(raw: RawResponses) -> set[str]:
    body = raw.pages.get(("GetApiKeys", None), [None])[0]
    found: set[str] = set()
    for record in body if isinstance(body, list) else ():
        value = record.get("key") if isinstance(record, dict) else None
        if isinstance(value, str) and len(value) >= 4 and value.strip("*"):
            found.add(value)
    return found


def capture_tenant(
    tenant: TenantConfig,
    *,
    anonymize: bool = False,
    keep: Iterable[str] = (),
    now: datetime | None = None,
    retry: RetryPolicy | None = None,
) -> tuple[Capture, str]:
    """Collect ``tenant`` and turn its raw answers into (the capture, the scenario's YAML text).
    Raises CaptureError when the tenant cannot be collected or a secret would remain."""
    from auditor.simulator.scenario import Scenario, ScenarioError

    now = now or SYSTEM_CLOCK.now()
    collection, raw = collect_tenant_raw(tenant, now, retry=retry)
    if raw is None:
        raise CaptureError(f"tenant {tenant.name} not collected: {collection.error}")
    cleaner = _Cleaner(secrets.token_bytes(32) if anonymize else None, keep)
    capture = build_scenario(tenant, raw, cleaner, now)
    header = (
        "# A SOAR tenant captured by `soar-auditor capture`: raw API answers, secrets removed.\n"
        "# Replay: soar-auditor simulator --scenario THIS_FILE, and audit it with\n"
        f"# api_key: {REPLAY_APP_KEY}\n"
    )
    text = header + yaml.dump(capture.scenario, Dumper=_NoAliases, sort_keys=False,
                              allow_unicode=True, width=100, default_flow_style=False)
    leaked = [v for v in _raw_key_values(raw) if v in text]
    probe = text.replace(REPLAY_APP_KEY, "")  # not a secret, though a replay config holds it
    if leaked or scrub(probe) != probe:
        raise CaptureError("a secret would remain in the capture; nothing was written "
                           "(please report this)")
    try:
        Scenario.from_dict(yaml.safe_load(text), source="<capture>")
    except ScenarioError as exc:
        raise CaptureError(f"the capture is not a valid scenario ({exc}); please report this"
                           ) from None
    return capture, text


def write_capture(text: str, out: Path) -> None:
    """Write atomically (a partial file never replaces an earlier capture)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
