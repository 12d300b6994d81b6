"""Exceptions (waivers): a YAML list of entries that mute matching failing findings until a date.

Each entry: ``rule`` (glob on the rule id), optional ``tenant`` (glob, case-sensitive), optional
``key`` (a glob on the key name, case-insensitive, or ``id:<n>``), optional ``resource`` (the same
for any resource: a Group Mapping entry's display name, an IAM member, ``id:<resource id>``), and
the required ``reason``, ``owner`` and ``expires`` (a date; the entry is valid through that day,
UTC).

What an entry does:

- only ``fail`` findings are muted. An ``unknown`` finding is never muted: it says the auditor
  lacked data, which a waiver cannot vouch for (it still counts as a use of the entry);
- SOAR-AUDIT-001 (tenant not audited) is never muted; an entry naming it exactly is an error;
- the first unexpired matching entry (in file order) is attached to the finding;
- an expired entry mutes nothing and is reported as expired (with how many findings it would
  have matched); an unexpired entry that matched nothing is reported as unused;
- an entry that mutes everything (any rule, tenant, key and resource: ``rule: '*'`` with
  nothing narrowing it) is accepted with a warning at load, flagged ``broad: true`` wherever it
  is shown, and listed first (``ExceptionStatus.broad``, findings.json ``exceptions.broad``).

The file is read with the one safe YAML loader (:mod:`auditor.yamlsrc`): duplicate keys,
impossible dates and alias bombs are errors with their line, like every other problem.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from auditor import yamlsrc
from auditor.config import ConfigError
from auditor.engine.findings import Finding
from auditor.engine.rules import AUDIT_RULE_ID


@dataclass(slots=True)
class ExceptionStatus:
    """How each configured exception fared in this run (for the reports)."""

    expired: list[dict[str, Any]] = field(default_factory=list)
    unused: list[dict[str, Any]] = field(default_factory=list)
    # Entries that mute everything (any rule, tenant and key), whatever their state: each with
    # "broad": true, "state" (active | expired | unused) and "muted" (findings it muted).
    broad: list[dict[str, Any]] = field(default_factory=list)


log = logging.getLogger("auditor.exceptions")

NonEmpty = Annotated[str, Field(min_length=1)]
_KEY_ID = re.compile(r"^id:\s*(\d+)$")


class ExceptionsError(ConfigError):
    """The exceptions file is invalid; ``errors`` lists every ``file:line: message`` (all of
    them are in the message too)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(errors)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: NonEmpty
    tenant: NonEmpty = "*"
    key: NonEmpty | None = None
    resource: NonEmpty | None = None
    reason: NonEmpty
    owner: NonEmpty
    expires: date

    @field_validator("rule")
    @classmethod
    def _rule(cls, value: str) -> str:
        if value.strip().upper() == AUDIT_RULE_ID:
            raise ValueError(f"{AUDIT_RULE_ID} (tenant not audited) cannot be muted")
        return value.strip()

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and value.lower().startswith("id:") and not _KEY_ID.match(value):
            raise ValueError("id:<n> needs a whole number, e.g. id:42")
        return value

    @field_validator("resource")
    @classmethod
    def _resource(cls, value: str | None) -> str | None:
        if value is not None and value.lower().startswith("id:") and not value[3:].strip():
            raise ValueError("id:<resource id> needs the id, e.g. id:serviceAccount:x@p.iam."
                             "gserviceaccount.com")
        return value

    @field_validator("reason", "owner")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("expires", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        if isinstance(value, date | str):
            return value
        raise ValueError("must be a date, YYYY-MM-DD")


@dataclass(frozen=True, slots=True)
class ExceptionEntry:
    rule: str
    tenant: str
    key: str | None
    reason: str
    owner: str
    expires: date
    source: str  # file:line
    resource: str | None = None
    _rule_rx: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _tenant_rx: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _key_id: int | None = field(init=False, repr=False, compare=False)
    _key_rx: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _resource_id: str | None = field(init=False, repr=False, compare=False)
    _resource_rx: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rule_rx", re.compile(fnmatch.translate(self.rule.upper())))
        object.__setattr__(self, "_tenant_rx", re.compile(fnmatch.translate(self.tenant)))
        match = _KEY_ID.match(self.key) if self.key else None
        object.__setattr__(self, "_key_id", int(match.group(1)) if match else None)
        key_rx = None
        if self.key is not None and match is None:
            key_rx = re.compile(fnmatch.translate(self.key.strip().casefold()))
        object.__setattr__(self, "_key_rx", key_rx)
        res = self.resource.strip() if self.resource is not None else None
        res_id = res[3:].strip() if res is not None and res.lower().startswith("id:") else None
        object.__setattr__(self, "_resource_id", res_id)
        object.__setattr__(self, "_resource_rx", None if res is None or res_id is not None
                           else re.compile(fnmatch.translate(res.casefold())))

    def expired(self, today: date) -> bool:
        return today > self.expires

    @property
    def broad(self) -> bool:
        """The entry mutes every failing finding it can: any rule, any tenant, any key and
        resource (``rule: '*'`` with nothing narrowing it, or only ``'*'`` globs)."""
        return (_everything(self.rule) and _everything(self.tenant)
                and (self.key is None or _everything(self.key))
                and (self.resource is None or _everything(self.resource)))

    def matches_rule(self, rule_id: str) -> bool:
        return self._rule_rx.match(rule_id.upper()) is not None

    def matches_tenant(self, tenant: str) -> bool:
        return self._tenant_rx.match(tenant) is not None

    def matches_resource(self, finding: Finding) -> bool:
        if self.resource is not None and not self._matches_any_resource(finding):
            return False
        if self.key is None:
            return True
        if finding.resource.type != "api_key":
            return False
        if self._key_id is not None:
            return finding.resource.id == self._key_id
        assert self._key_rx is not None
        return self._key_rx.match(finding.resource.name.strip().casefold()) is not None

    def _matches_any_resource(self, finding: Finding) -> bool:
        res = finding.resource
        if res.type == "tenant":
            return False
        if self._resource_id is not None:
            return res.id is not None and str(res.id) == self._resource_id
        assert self._resource_rx is not None
        return self._resource_rx.match(res.name.strip().casefold()) is not None

    def to_dict(self) -> dict[str, Any]:
        """The entry as attached to a muted finding (``resource`` only when the entry has it)."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "tenant": self.tenant,
            "key": self.key,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
        }
        if self.resource is not None:
            out["resource"] = self.resource
        if self.broad:
            out["broad"] = True
        return out


def _everything(glob: str) -> bool:
    """A glob that matches every name: only ``*`` (and blanks)."""
    stripped = glob.strip()
    return bool(stripped) and set(stripped) == {"*"}


def parse_exceptions(text: str, source: str = "<exceptions>") -> list[ExceptionEntry]:
    def where(line: int | None) -> str:
        return f"{source}:{line}" if line else source

    try:
        data = yamlsrc.load(text)
    except yamlsrc.YamlError as exc:
        path = exc.path
        if path and isinstance(path[0], int):  # an entry: name it as the other errors do
            field = yamlsrc.dotted(path[1:])
            what = f"entry {path[0] + 1}: " + (f"{field}: " if field else "")
            raise ExceptionsError([f"{where(exc.line)}: {what}{exc.message}"]) from None
        raise ExceptionsError([f"{where(exc.line)}: {exc.text}"]) from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise ExceptionsError([
            f"{where(getattr(data, 'line', 1))}: the exceptions file must hold a YAML list of "
            "entries (- rule: ..., reason: ..., owner: ..., expires: YYYY-MM-DD)"
        ])
    entries: list[ExceptionEntry] = []
    errors: list[str] = []
    item_lines: list[int] = getattr(data, "item_lines", [])
    for i, item in enumerate(data):
        line = item_lines[i] if i < len(item_lines) else None
        if not isinstance(item, dict):
            errors.append(f"{where(line)}: entry {i + 1}: must be a mapping (rule:, reason:, "
                          "owner:, expires:)")
            continue
        try:
            model = _Entry.model_validate(item)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                name = str(loc[0]) if loc else "entry"
                err_line = yamlsrc.line_of(item, loc[:1]) or line
                if err["type"] == "extra_forbidden":
                    msg = (f"unknown key {name!r} (allowed: rule, tenant, key, resource, "
                           "reason, owner, expires)")
                elif err["type"] == "missing":
                    msg = f"{name}: is required"
                else:
                    msg = f"{name}: {err['msg'].removeprefix('Value error, ')}"
                errors.append(f"{where(err_line)}: entry {i + 1}: {msg}")
            continue
        entries.append(ExceptionEntry(model.rule, model.tenant, model.key, model.reason,
                                      model.owner, model.expires, where(line), model.resource))
    if errors:
        raise ExceptionsError(errors)
    for entry in entries:
        if entry.broad:
            log.warning("%s: this exception mutes every failing finding of every rule, tenant "
                        "and key until %s (rule: %r with nothing narrowing it); name the rule, "
                        "tenant or key it is for", entry.source, entry.expires.isoformat(),
                        entry.rule)
    return entries


def load_exceptions(path: str | Path) -> list[ExceptionEntry]:
    """Read and validate an exceptions file; raise :class:`ExceptionsError` (exit 2)."""
    file = Path(path)
    try:
        text = yamlsrc.read_text(file)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ExceptionsError([f"{file}: cannot read the exceptions file: {reason}"]) from None
    except yamlsrc.YamlError as exc:
        raise ExceptionsError([exc.where(str(file))]) from None
    return parse_exceptions(text, str(file))


def waive(
    findings: Iterable[Finding], entries: Sequence[ExceptionEntry], today: date
) -> tuple[list[Finding], ExceptionStatus]:
    """The findings with the ``fail`` ones an unexpired entry covers muted (new Finding values:
    the findings given are not changed), and how each entry fared (expired, unused, broad)."""
    used = [False] * len(entries)
    would_match = [0] * len(entries)
    muted_by = [0] * len(entries)
    by_rule: dict[str, list[int]] = {}
    by_tenant: dict[tuple[int, str], bool] = {}
    out: list[Finding] = []
    for finding in findings:
        out.append(finding)
        if finding.rule_id == AUDIT_RULE_ID:
            continue
        candidates = by_rule.get(finding.rule_id)
        if candidates is None:
            candidates = [i for i, e in enumerate(entries) if e.matches_rule(finding.rule_id)]
            by_rule[finding.rule_id] = candidates
        for i in candidates:
            entry = entries[i]
            tenant_ok = by_tenant.get((i, finding.tenant))
            if tenant_ok is None:
                tenant_ok = by_tenant[(i, finding.tenant)] = entry.matches_tenant(finding.tenant)
            if not tenant_ok or not entry.matches_resource(finding):
                continue
            if entry.expired(today):
                would_match[i] += 1
                continue
            used[i] = True
            current = out[-1]
            if current.status == "fail" and current.exception is None:
                out[-1] = dataclasses.replace(current, status="muted",
                                              exception=entry.to_dict())
                muted_by[i] += 1
    status = ExceptionStatus()
    # Broad entries first: a waiver that mutes everything must not hide among the others.
    for i in sorted(range(len(entries)), key=lambda i: not entries[i].broad):
        entry = entries[i]
        if entry.expired(today):
            status.expired.append({**entry.to_dict(), "source": entry.source,
                                   "would_match": would_match[i]})
        elif not used[i]:
            status.unused.append({**entry.to_dict(), "source": entry.source})
        if entry.broad:
            state = ("expired" if entry.expired(today) else "active" if used[i] else "unused")
            status.broad.append({**entry.to_dict(), "source": entry.source, "state": state,
                                 "muted": muted_by[i]})
    return out, status


def apply_exceptions(
    findings: Iterable[Finding], entries: Sequence[ExceptionEntry], today: date
) -> ExceptionStatus:
    """:func:`waive`, written back into the findings given (for callers that hold them; the
    audit itself uses :func:`waive`)."""
    given = list(findings)
    waived, status = waive(given, entries, today)
    for before, after in zip(given, waived, strict=True):
        if after is not before:
            before.status, before.exception = after.status, after.exception
    return status
