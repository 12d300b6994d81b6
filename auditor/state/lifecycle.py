"""Finding lifecycle: new, open, reopened, resolved (pure functions over the stored states).

Rules (per tenant, compared with the stored state of each fingerprint):
- ``new``: the fingerprint was never listed before in this tenant (or its resolved state has been
  pruned by retention);
- ``open``: it was listed (fail, unknown or muted) by the previous audit that covered it;
- ``reopened``: it had been resolved, and is listed again;
- ``resolved``: it was listed (fail, unknown or muted) by the previous complete audit of the
  tenant and is absent now: it is listed once more, with status and lifecycle ``resolved``. An
  ``unknown`` that disappears counts too: the rule could decide again, and the key passes.
A tenant that could not be collected resolves nothing; only the findings it has (the
SOAR-AUDIT-001 finding about it) get a lifecycle. ``first_seen`` is when the fingerprint was
first listed; a reopened finding keeps its original ``first_seen``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auditor.engine.findings import Finding
from auditor.result import iso
from auditor.vocab import LEFT_STATUSES

ACTIVE = LEFT_STATUSES


@dataclass(frozen=True, slots=True)
class Stored:
    status: str  # fail | unknown | muted | resolved
    first_seen: datetime
    digest: str = ""  # of the stored findings.json entry


def assign(findings: list[tuple[str, Finding]], stored: dict[str, Stored], now: datetime) -> None:
    """Set ``lifecycle`` and ``first_seen`` of each listed (id, finding), in place."""
    for fid, finding in findings:
        state = stored.get(fid)
        if state is None:
            finding.lifecycle = "new"
            finding.first_seen = now
        elif state.status == "resolved":
            finding.lifecycle = "reopened"
            finding.first_seen = state.first_seen
        else:
            finding.lifecycle = "open"
            finding.first_seen = state.first_seen


def to_resolve(stored: dict[str, Stored], present: set[str]) -> list[str]:
    """Fingerprints listed by the previous complete audit and absent now."""
    return [fp for fp, s in stored.items() if s.status in ACTIVE and fp not in present]


def resolved_finding(
    data: str, previous_status: str, last_seen: datetime, current_key_ids: set[int] | None
) -> Finding:
    """The finding once more, as resolved, from its stored findings.json entry."""
    entry: dict[str, Any] = json.loads(data)
    finding = Finding.from_dict(entry)
    key_gone = (
        current_key_ids is not None
        and finding.resource.type == "api_key"
        and finding.resource.id is not None
        and finding.resource.id not in current_key_ids
    )
    reason = "the key no longer exists" if key_gone else "passes now"
    finding.status = "resolved"
    finding.lifecycle = "resolved"
    finding.exception = None
    finding.message = f"Resolved ({reason}; was {previous_status}): {finding.message}"
    finding.evidence = {
        "previous_status": previous_status,
        "last_seen": iso(last_seen),
        "key_deleted": key_gone,
        "previous_evidence": finding.evidence,
    }
    return finding
