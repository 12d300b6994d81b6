"""Findings: what a rule says about one resource, with a stable fingerprint."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
# info=0 .. critical=4
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(reversed(SEVERITIES))}

Status = Literal["fail", "unknown", "muted", "resolved"]
Lifecycle = Literal["new", "open", "reopened", "resolved"]
# api_key: id is the key's id (int); tenant: id None; idp_mapping: the Group Mapping entry's
# resource name; iam_member: the member as the IAM policy writes it (serviceAccount:...).
ResourceType = Literal["api_key", "tenant", "idp_mapping", "iam_member"]
ResourceId = int | str | None


@functools.lru_cache(maxsize=1 << 17)  # a finding's id is asked for by every stage and output
def fingerprint(tenant: str, rule_id: str, resource_type: str, resource_id: ResourceId) -> str:
    """Stable id of a finding: the same tenant, rule and resource (type and id) give the same id
    in every run."""
    rid = "" if resource_id is None else str(resource_id)
    raw = f"{tenant}\x1f{rule_id}\x1f{resource_type}\x1f{rid}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Resource:
    type: ResourceType
    id: ResourceId
    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "name": self.name}


@dataclass(slots=True)
class Finding:
    rule_id: str
    title: str
    severity: Severity
    status: Status
    tenant: str
    resource: Resource
    message: str
    remediation: str
    evidence: dict[str, Any] = field(default_factory=dict)
    compliance: dict[str, list[str]] = field(default_factory=dict)
    lifecycle: Lifecycle = "new"
    first_seen: datetime | None = None
    exception: dict[str, Any] | None = None  # the matching exception entry, when muted

    @property
    def id(self) -> str:
        return fingerprint(self.tenant, self.rule_id, self.resource.type, self.resource.id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "lifecycle": self.lifecycle,
            "tenant": self.tenant,
            "resource": self.resource.to_dict(),
            "message": self.message,
            "evidence": self.evidence,
            "remediation": self.remediation,
            "compliance": self.compliance,
            "first_seen": self.first_seen.isoformat().replace("+00:00", "Z")
            if self.first_seen
            else None,
            "exception": self.exception,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        res = data["resource"]
        first_seen = data.get("first_seen")
        return cls(
            rule_id=data["rule_id"],
            title=data["title"],
            severity=data["severity"],
            status=data["status"],
            tenant=data["tenant"],
            resource=Resource(type=res["type"], id=res["id"], name=res["name"]),
            message=data["message"],
            remediation=data["remediation"],
            evidence=data.get("evidence") or {},
            compliance=data.get("compliance") or {},
            lifecycle=data.get("lifecycle", "new"),
            first_seen=datetime.fromisoformat(first_seen.replace("Z", "+00:00"))
            if first_seen
            else None,
            exception=data.get("exception"),
        )
