"""Scenario files of the SOAR simulator: one tenant's data, its phases, and injected faults.

A scenario is a YAML file (see ``scenarios/demo.yaml``). Environments, SOC roles and API keys are
written as RAW API records (the field names the SOAR API uses) and are served verbatim, with two
simulator-only fields resolved first: ``created_days_ago`` / ``modified_days_ago`` become
``creationTimeUnixTimeInMs`` / ``modificationTimeUnixTimeInMs`` relative to a reference time (the
server's start). Permission groups are written as ``{id, name, card, detail, status}``: ``card``
and ``detail`` hold extra raw fields of the card and of the group detail, ``status`` the raw body
of GetAllEnvironmentStatus (leave it out for a 404), ``detail_http_status`` an error status for the
detail. ``phases`` are named sets of changes applied to the base data (not cumulative), and
``faults`` inject errors, bad bodies and delays per endpoint.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from auditor import yamlsrc
from auditor.simulator.spec import (
    BASE_PHASE,
    ENDPOINTS,
    TIME_FIELDS,
    ChangeSet,
    ChronicleSpec,
    Fault,
    GroupSpec,
    Phase,
    ScenarioError,
    ScenarioModel,
    World,
)

__all__ = [
    "BASE_PHASE", "ENDPOINTS", "Fault", "GroupSpec", "Phase", "Scenario", "ScenarioError",
    "ScenarioModel", "World", "builtin_names", "builtin_scenario", "load_scenario",
]

_DAY_MS = 86_400_000


class _Problem(Exception):
    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _key_of(item: Any, ident: str) -> Any:
    return getattr(item, ident) if isinstance(item, GroupSpec) else item.get(ident)


def _apply(
    items: list[Any], changes: ChangeSet[Any] | None, ident: str, path: tuple[str | int, ...]
) -> list[Any]:
    if changes is None:
        return list(items)
    result = list(changes.replace) if changes.replace is not None else list(items)
    for i, gone in enumerate(changes.remove):
        kept = [item for item in result if _key_of(item, ident) != gone]
        if len(kept) == len(result):
            raise _Problem((*path, "remove", i), f"nothing with {ident} {gone!r} to remove")
        result = kept
    for i, update in enumerate(changes.update):
        _update(result, update, ident, (*path, "update", i))
    result.extend(changes.add)
    seen: set[Any] = set()
    for item in result:
        if _key_of(item, ident) in seen:
            raise _Problem(path, f"{ident} {_key_of(item, ident)!r} is used twice")
        seen.add(_key_of(item, ident))
    return result


def _update(
    result: list[Any], update: dict[str, Any], ident: str, where: tuple[str | int, ...]
) -> None:
    """Merges one ``update`` of a phase into the record of ``result`` it names, in place."""
    if ident not in update:
        raise _Problem(where, f"an update needs the {ident} of the record it changes")
    match = [n for n, item in enumerate(result) if _key_of(item, ident) == update[ident]]
    if not match:
        raise _Problem(where, f"nothing with {ident} {update[ident]!r} to update")
    old = result[match[0]]
    if isinstance(old, GroupSpec):
        merged = {**old.model_dump(exclude_unset=True), **update}
        try:
            result[match[0]] = GroupSpec.model_validate(merged)
        except ValidationError as exc:
            raise _Problem(where, exc.errors()[0]["msg"]) from None
    else:
        result[match[0]] = _merge_record(old, update)


def _merge_record(old: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A raw record with ``update`` merged in: a time the update sets in one form (API field or
    simulator-only ``*_days_ago``) drops the record's old value in the other form."""
    merged = {**old, **update}
    if any(f in update for f in TIME_FIELDS.values()):
        for sim_field, api_field in TIME_FIELDS.items():
            if api_field in update:
                merged.pop(sim_field, None)
    if any(f in update for f in TIME_FIELDS):
        for sim_field, api_field in TIME_FIELDS.items():
            if sim_field in update:
                merged.pop(api_field, None)
    return merged


def _resolve(record: dict[str, Any], reference_ms: int) -> dict[str, Any]:
    out = {k: copy.deepcopy(v) for k, v in record.items() if k not in TIME_FIELDS}
    for sim_field, api_field in TIME_FIELDS.items():
        if sim_field in record:
            out[api_field] = reference_ms - round(float(record[sim_field]) * _DAY_MS)
    if (
        "created_days_ago" in record
        and "modified_days_ago" not in record
        and "modificationTimeUnixTimeInMs" not in record
    ):
        out["modificationTimeUnixTimeInMs"] = out["creationTimeUnixTimeInMs"]
    return out


class Scenario:
    """A validated scenario. Build one with :func:`load_scenario`, :func:`builtin_scenario` or
    :meth:`Scenario.from_dict`; :meth:`to_dict` gives a copy to modify and rebuild."""

    def __init__(self, model: ScenarioModel, source: str = "<scenario>") -> None:
        self.model = model
        self.source = source
        try:
            self._check()
        except _Problem as exc:
            raise ScenarioError(_where(source, {}, exc.path, exc.message)) from None

    def _check(self) -> None:
        for root, items, ident in (
            ("environments", self.model.environments, "name"),
            ("soc_roles", self.model.soc_roles, "id"),
            ("api_keys", self.model.api_keys, "id"),
            ("idp_mappings", self.model.idp_mappings, "name"),
            ("users", self.model.users, "name"),
            ("iam_bindings", self.model.iam_bindings, "role"),
        ):
            _apply(items, ChangeSet[Any](), ident, (root,))
        _apply(self.model.permission_groups, ChangeSet[Any](), "id", ("permission_groups",))
        for name in self.phase_names:
            self._build(name)  # every phase must apply cleanly

    @classmethod
    def from_dict(cls, data: Any, source: str = "<scenario>", text: str | None = None) -> Scenario:
        if not isinstance(data, Mapping):
            raise ScenarioError(f"{source}: a scenario must be a YAML mapping (tenant:, ...)")
        lines = _line_numbers(text) if text else {}
        try:
            model = ScenarioModel.model_validate(dict(data))
        except ValidationError as exc:
            err = exc.errors()[0]
            path = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            elif err["type"] == "missing":
                msg = "is required"
            raise ScenarioError(_where(source, lines, path, msg)) from None
        scenario = cls.__new__(cls)
        scenario.model, scenario.source = model, source
        try:
            scenario._check()
        except _Problem as exc:
            raise ScenarioError(_where(source, lines, exc.path, exc.message)) from None
        return scenario

    def to_dict(self) -> dict[str, Any]:
        return self.model.model_dump(mode="python", exclude_unset=True)

    # -- facts other code reads -----------------------------------------------------------------
    @property
    def tenant(self) -> str:
        return self.model.tenant

    @property
    def app_keys(self) -> tuple[str, ...]:
        return tuple(self.model.app_keys)

    @property
    def bearer_tokens(self) -> tuple[str, ...]:
        return tuple(self.model.bearer_tokens)

    @property
    def phase_names(self) -> tuple[str, ...]:
        return tuple(self.model.phases)

    @property
    def faults(self) -> tuple[Fault, ...]:
        return tuple(self.model.faults)

    @property
    def latency_ms(self) -> int:
        return self.model.latency_ms

    @property
    def max_page_size(self) -> int:
        return self.model.max_page_size

    @property
    def chronicle(self) -> ChronicleSpec | None:
        return self.model.chronicle

    def dialects(self) -> dict[str, frozenset[str]]:
        """The dialects each multi-dialect endpoint answers in (others: all of them)."""
        socroles = self.model.socroles
        return {"GetSocRoles": frozenset({"post", "get"}) if socroles == "both"
                else frozenset({socroles})}

    def canary_secrets(self) -> set[str]:
        """Every ``key`` value of every API key record, in every phase (what must never leak)."""
        records = list(self.model.api_keys)
        for phase in self.model.phases.values():
            if phase.api_keys is not None:
                records += [*(phase.api_keys.replace or []), *phase.api_keys.add]
                records += phase.api_keys.update
        return {r["key"] for r in records if isinstance(r.get("key"), str) and r["key"]}

    def world(self, phase: str | None, reference: datetime) -> World:
        """The data served in ``phase`` (None or "base": unchanged), times resolved against
        ``reference``."""
        env, groups, roles, keys, version, chron = self._build(phase)
        ref_ms = round(reference.timestamp() * 1000)
        return World(
            system_version=copy.deepcopy(version),
            environments=tuple(_resolve(e, ref_ms) for e in env),
            permission_groups=tuple(groups),
            soc_roles=tuple(copy.deepcopy(r) for r in roles),
            api_keys=tuple(_resolve(k, ref_ms) for k in keys),
            idp_mappings=tuple(copy.deepcopy(r) for r in chron[0]),
            users=tuple(copy.deepcopy(r) for r in chron[1]),
            iam_bindings=tuple(copy.deepcopy(r) for r in chron[2]),
        )

    def _build(self, phase: str | None) -> tuple[
        list[dict[str, Any]], list[GroupSpec], list[dict[str, Any]], list[dict[str, Any]], Any,
        tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]],
    ]:
        m = self.model
        if phase in (None, BASE_PHASE):
            return (list(m.environments), list(m.permission_groups), list(m.soc_roles),
                    list(m.api_keys), m.system_version,
                    (list(m.idp_mappings), list(m.users), list(m.iam_bindings)))
        if phase not in m.phases:
            known = ", ".join((BASE_PHASE, *m.phases))
            raise KeyError(f"scenario {m.tenant!r} has no phase {phase!r} (phases: {known})")
        p = m.phases[phase]
        root: tuple[str | int, ...] = ("phases", phase)
        version = p.system_version if "system_version" in p.model_fields_set else m.system_version
        return (
            _apply(m.environments, p.environments, "name", (*root, "environments")),
            _apply(m.permission_groups, p.permission_groups, "id", (*root, "permission_groups")),
            _apply(m.soc_roles, p.soc_roles, "id", (*root, "soc_roles")),
            _apply(m.api_keys, p.api_keys, "id", (*root, "api_keys")),
            version,
            (_apply(m.idp_mappings, p.idp_mappings, "name", (*root, "idp_mappings")),
             _apply(m.users, p.users, "name", (*root, "users")),
             _apply(m.iam_bindings, p.iam_bindings, "role", (*root, "iam_bindings"))),
        )

    def __repr__(self) -> str:
        return f"Scenario(tenant={self.tenant!r}, source={self.source!r})"


# -- loading --------------------------------------------------------------------------------------
MAX_SCENARIO_BYTES = 256 * 1024 * 1024  # a capture of a very large tenant fits


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (the safe YAML loader: no duplicate keys, no alias
    bombs, UTF-8 only); a bad file raises ScenarioError naming file:line and field."""
    file = Path(path)
    try:
        text = yamlsrc.read_text(file, MAX_SCENARIO_BYTES)
    except OSError as exc:
        raise ScenarioError(
            f"{file}: cannot read the scenario: {exc.strerror or exc}") from None
    except yamlsrc.YamlError as exc:
        raise ScenarioError(exc.where(str(file))) from None
    return _from_text(text, str(file))


def builtin_scenario(name: str) -> Scenario:
    """A scenario shipped with the package (``auditor/simulator/scenarios/<name>.yaml``)."""
    ref = resources.files("auditor.simulator").joinpath("scenarios", f"{name}.yaml")
    if not ref.is_file():
        raise ScenarioError(f"no built-in scenario named {name!r} (have: {builtin_names()})")
    return _from_text(ref.read_text(encoding="utf-8"), f"<builtin>/{name}.yaml")


def builtin_names() -> list[str]:
    folder = resources.files("auditor.simulator").joinpath("scenarios")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


# The document _from_text just parsed, so that _line_numbers need not parse it again.
_parsed = threading.local()


def _from_text(text: str, source: str) -> Scenario:
    try:
        data = yamlsrc.load(text)
    except yamlsrc.YamlError as exc:
        raise ScenarioError(exc.where(source)) from None
    _parsed.last = (text, data)
    try:
        return Scenario.from_dict(yamlsrc.plain(data), source=source, text=text)
    finally:
        _parsed.last = None


def _line_numbers(text: str) -> dict[tuple[str | int, ...], int]:
    out: dict[tuple[str | int, ...], int] = {}
    last = getattr(_parsed, "last", None)
    if last is not None and last[0] is text:
        root = last[1]
    else:
        try:
            root = yamlsrc.load(text)
        except yamlsrc.YamlError:
            return out

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, yamlsrc.LDict):
            out.setdefault(path, node.line)
            for key, value in node.items():
                out[(*path, str(key))] = node.key_lines[key]
                walk(value, (*path, str(key)))
        elif isinstance(node, yamlsrc.LList):
            out.setdefault(path, node.line)
            for i, item in enumerate(node):
                out.setdefault((*path, i), node.item_lines[i])
                walk(item, (*path, i))

    walk(root, ())
    return out


def _where(source: str, lines: dict[tuple[str | int, ...], int],
           path: tuple[str | int, ...], msg: str) -> str:
    line = None
    for n in range(len(path), -1, -1):
        line = lines.get(tuple(str(p) if isinstance(p, str) else p for p in path[:n]))
        if line is not None:
            break
    dotted = ""
    for part in path:
        dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else str(part))
    where = f"{source}:{line}" if line else source
    return f"{where}: {dotted or '(top level)'}: {msg}"
