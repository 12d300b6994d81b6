"""Night after night with the real state store deciding the lifecycle: an alert says what
changed, once; a tenant that cannot be audited is in every message, with the time it started."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from auditor.engine.findings import Finding
from auditor.notify import RetryPolicy, notify_run
from auditor.soar.models import Inventory
from auditor.state import open_store

from .builders import STARTED, finding, result
from .fakeslack import FakeSlack
from .helpers import webhook_config


def night(n: int, findings: list[Finding], errors: dict[str, str] | None = None) -> Any:
    started = STARTED + timedelta(days=n)
    for f in findings:
        f.first_seen = None  # the store decides
    inventories = {} if errors else {"acme-prod": Inventory("acme-prod", started, (), (), (), ())}
    return result(findings, errors=errors, started=started, inventories=inventories,
                  run_id=started.strftime("%Y%m%dT%H%M%SZ"))


def test_each_change_is_alerted_once(fake: FakeSlack, tmp_path: Path,
                                     retry: RetryPolicy) -> None:
    slack = webhook_config(fake)
    posted: list[str] = []

    def audit(n: int, findings: list[Finding], errors: dict[str, str] | None = None) -> str:
        run = night(n, findings, errors)
        store.record_run(run)
        outcome = notify_run(run, slack, store, report_path=None, retry=retry)
        assert outcome.failed == 0 and outcome.errors == []
        bodies = [r.body for r in fake.accepted("webhook")]
        new = bodies[len(posted):]
        posted.extend(b.decode() for b in new)
        assert len(new) <= 1
        return json.loads(new[0])["text"] if new else ""

    def admin() -> Finding:
        return finding("SOAR-PG-001", tenant="acme-prod", key="ci-bot")

    def stale() -> Finding:
        return finding("SOAR-AGE-001", tenant="acme-prod", key="old", key_id=9)

    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        assert audit(1, [admin(), stale()]).startswith("SOAR key audit: 2 new, 0 resolved")
        assert audit(2, [admin(), stale()]) == ""  # nothing changed: no message
        assert audit(3, [stale()]).startswith("SOAR key audit: 0 new, 1 resolved")
        assert audit(4, [stale()]) == ""
        assert audit(5, [admin(), stale()]).startswith("SOAR key audit: 0 new, 1 reopened")
        down = {"acme-prod": "cannot connect to https://acme.example: timed out"}
        gone = finding("SOAR-AUDIT-001", tenant="acme-prod")
        assert "1 tenant(s) NOT audited" in audit(6, [gone], down)
        assert "since 2026-12-02 02:00 UTC" in posted[-1]
        # Still failing the next night: alerted again, with the time it started.
        gone = finding("SOAR-AUDIT-001", tenant="acme-prod")
        assert "1 tenant(s) NOT audited" in audit(7, [gone], down)
        assert "since 2026-12-02 02:00 UTC" in posted[-1]
        # Back: the audit-failure finding resolves; the keys' findings are open again.
        text = audit(8, [admin(), stale()])
        assert text.startswith("SOAR key audit: 0 new, 1 resolved"), text
        assert ":white_check_mark: Tenant not audited `SOAR-AUDIT-001` — tenant acme-prod" in \
            json.loads(posted[-1])["blocks"][3]["text"]["text"]
    assert len(posted) == 6
