"""What the evaluate stage needs to know of a tenant's past (provided by the state store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from auditor.soar.models import Inventory


@dataclass(frozen=True, slots=True)
class TenantHistory:
    """The tenant's earlier complete audits, as far as the rules need them.

    ``previous_inventory`` is the inventory of the last complete audit of the tenant (None when
    there was none); ``first_complete_audit_at`` the time of the earliest stored complete audit;
    ``env_first_seen`` maps an environment name to the time of the first complete audit that
    listed it. An environment absent from the map but present now is first seen by this audit.

    ``mapping_first_seen`` maps a Group Mapping entry (its resource name) to the time of the
    first complete audit that listed it (since it was last absent); ``mapping_first_seen_by``
    holds, instead, an upper bound for the entries whose first listing is no longer stored
    (pruned by retention): they were first seen at or before that time, and not before
    ``first_complete_audit_at``. An entry in neither map that the previous inventory lists was
    first seen at or before ``previous_audit_at``; one that it does not list is first seen by
    this audit.
    """

    previous_inventory: Inventory | None = None
    previous_audit_at: datetime | None = None
    first_complete_audit_at: datetime | None = None
    env_first_seen: dict[str, datetime] = field(default_factory=dict)
    mapping_first_seen: dict[str, datetime] = field(default_factory=dict)
    mapping_first_seen_by: dict[str, datetime] = field(default_factory=dict)

    @property
    def has_complete_audit(self) -> bool:
        return self.previous_inventory is not None
