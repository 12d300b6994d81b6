"""The Slack digest counts down to the legacy API shutdown: inside the warning window (or after
the date) the summary says how many legacy API keys stop working and when. Dates are injected
(the audit's own start and the findings' evidence); no test reads today's date."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from auditor.config import SlackConfig
from auditor.engine.findings import Finding, Resource
from auditor.notify import Limits, build_digest
from auditor.notify.digest import legacy_lines

from .builders import STARTED, finding, result
from .helpers import all_text, assert_valid_blocks, texts

HOOK = "http://127.0.0.1:9/hooks/digest-only"
LINE_12 = (":warning: 7 legacy API keys stop working on 2027-03-31 (in 12 days): each needs a "
           "Google service account, its IAM role and a Group Mapping entry (the migration plan: "
           "report.html, migration.md).")


def slack(**kw: object) -> SlackConfig:
    return SlackConfig.model_validate({"webhook_url": HOOK, **kw})


def legacy(key_id: int, *, days_left: int, tenant: str = "acme-prod", status: str = "fail",
           lifecycle: str = "open", shutdown: Any = "2027-03-31", name: str | None = None,
           severity: str | None = None) -> Finding:
    sev = severity or ("high" if days_left <= 30 else "medium")
    return Finding(
        rule_id="SOAR-MIG-001", title="Legacy API key", severity=sev,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        tenant=tenant, resource=Resource("api_key", key_id, name or f"legacy-{key_id}"),
        message=f"stops working in {days_left} days", remediation="replace it",
        evidence={"shutdown": shutdown, "days_left": days_left, "replacement": {
            "identity": f"serviceAccount:k{key_id}@p.iam.gserviceaccount.com"}},
        lifecycle=lifecycle,  # type: ignore[arg-type]
        first_seen=STARTED)


def seven(days_left: int, **kw: Any) -> list[Finding]:
    # 5 failing, 1 undecided, 1 waived: all seven keys stop working. A resolved one is gone.
    keys = [legacy(i, days_left=days_left, **kw) for i in range(1, 6)]
    keys += [legacy(6, days_left=days_left, status="unknown", **kw),
             legacy(7, days_left=days_left, status="muted", **kw),
             legacy(8, days_left=days_left, status="resolved", lifecycle="resolved", **kw)]
    return keys


def news() -> list[Finding]:
    return [finding("SOAR-PG-001", key="ci-bot", lifecycle="new")]


def test_inside_the_window_the_summary_says_how_many_keys_stop_and_when() -> None:
    [message] = build_digest(result([*news(), *seven(12)]), slack(), legacy_warning_days=30)
    assert_valid_blocks(message.blocks)
    assert LINE_12 in texts(message.blocks)
    # Right under the counts line, before the entries.
    index = texts(message.blocks).index(LINE_12)
    assert texts(message.blocks)[index - 1].startswith("*Failing now:*")


def test_outside_the_window_nothing_is_said() -> None:
    [message] = build_digest(result([*news(), *seven(125)]), slack(), legacy_warning_days=30)
    assert "legacy API key" not in all_text(message.blocks)
    # The last day before the window opens, and its first day.
    [message] = build_digest(result([*news(), *seven(31)]), slack(), legacy_warning_days=30)
    assert "legacy API key" not in all_text(message.blocks)
    [message] = build_digest(result([*news(), *seven(30)]), slack(), legacy_warning_days=30)
    assert ":warning: 7 legacy API keys stop working on 2027-03-31 (in 30 days)" in all_text(
        message.blocks)


def test_the_configured_window_decides_when_given_else_the_findings_severity() -> None:
    # A 200-day window: 125 days left is inside, though the findings are still medium.
    [message] = build_digest(result([*news(), *seven(125)]), slack(), legacy_warning_days=200)
    assert "7 legacy API keys stop working on 2027-03-31 (in 125 days)" in all_text(
        message.blocks)
    # Without the setting, the rule's verdict: it turns its findings high inside the window.
    [message] = build_digest(result([*news(), *seven(12)]), slack())
    assert LINE_12 in texts(message.blocks)
    [message] = build_digest(result([*news(), *seven(125)]), slack())
    assert "legacy API key" not in all_text(message.blocks)


def test_on_the_day_and_after_the_shutdown() -> None:
    [message] = build_digest(result([*news(), *seven(0)]), slack(), legacy_warning_days=30)
    assert ":warning: 7 legacy API keys stop working on 2027-03-31 (today)" in all_text(
        message.blocks)
    [message] = build_digest(result([*news(), *seven(-5)]), slack(), legacy_warning_days=30)
    assert ":rotating_light: 7 legacy API keys stopped working on 2027-03-31 (5 days ago)" in \
        all_text(message.blocks)
    [message] = build_digest(result([*news(), legacy(1, days_left=1)]), slack(),
                             legacy_warning_days=30)
    assert ":warning: 1 legacy API key stops working on 2027-03-31 (in 1 day)" in all_text(
        message.blocks)


def test_the_count_ignores_min_severity_and_names_the_tenants_count() -> None:
    keys = [*seven(12), legacy(20, days_left=12, tenant="acme-dev")]
    [message] = build_digest(result([*news(), *keys], tenants=("acme-prod", "acme-dev")),
                             slack(min_severity="critical"), legacy_warning_days=30)
    assert ":warning: 8 legacy API keys stop working on 2027-03-31 (in 12 days), in 2 tenants:" \
        in all_text(message.blocks)


def test_routes_count_their_own_keys() -> None:
    keys = [*seven(12), legacy(20, days_left=12, tenant="acme-dev")]
    cfg = slack(routes=[{"name": "dev", "tenant": "acme-dev", "webhook_url": HOOK}])
    findings = [*news(), finding("SOAR-PG-001", tenant="acme-dev", key="dev-bot"), *keys]
    main, dev = build_digest(result(findings, tenants=("acme-prod", "acme-dev")), cfg,
                             legacy_warning_days=30)
    assert "8 legacy API keys stop working" in all_text(main.blocks)
    assert ":warning: 1 legacy API key stops working on 2027-03-31 (in 12 days):" in all_text(
        dev.blocks)


def test_the_line_does_not_send_a_message_by_itself_but_rides_on_the_heartbeat() -> None:
    quiet = result([f for f in seven(12) if f.status != "resolved"])
    assert build_digest(quiet, slack(), legacy_warning_days=30) == []
    [message] = build_digest(quiet, slack(heartbeat=True), legacy_warning_days=30)
    assert "all quiet" in all_text(message.blocks)
    assert LINE_12 in texts(message.blocks)
    assert_valid_blocks(message.blocks)


@pytest.mark.parametrize("shutdown", ["2027-03-31T00:00:00Z <!channel>", "<!channel> 2027-03-31",
                                      "<https://evil|x>", None, 20270331])
def test_a_hostile_or_missing_date_is_never_echoed(shutdown: Any) -> None:
    keys = [legacy(i, days_left=12, shutdown=shutdown, name="<!here> *bold*") for i in range(3)]
    [message] = build_digest(result([*news(), *keys]), slack(), legacy_warning_days=30)
    text = all_text(message.blocks)
    line = next(t for t in texts(message.blocks) if "legacy API keys" in t)
    assert line.startswith(":warning: 3 legacy API keys stop working on ")
    assert "<" not in line and "evil" not in line and "channel" not in line
    if shutdown == "2027-03-31T00:00:00Z <!channel>":
        assert "on 2027-03-31 (in 12 days)" in line  # the date is read, the rest dropped
    else:
        assert "on the legacy API shutdown date (in 12 days)" in line
    assert "<!here>" not in text and "<!channel>" not in text


def test_the_line_survives_a_full_message_within_the_budget() -> None:
    many = [finding(f"SOAR-T{i:03d}-001", key=f"bot-{i}", key_id=100 + i, lifecycle="new",
                    message="x" * 250) for i in range(200)]  # 200 rules: 200 entries
    limits = Limits(max_total_chars=6000, max_entries=60)
    [message] = build_digest(result([*many, *seven(12)]), slack(), legacy_warning_days=30,
                             limits=limits)
    assert_valid_blocks(message.blocks)
    assert LINE_12 in texts(message.blocks)
    assert sum(len(t) for t in texts(message.blocks)) <= limits.max_total_chars
    assert "more new or reopened" in all_text(message.blocks)  # the entries were cut, not it


def test_legacy_lines_use_the_audit_date_when_the_evidence_has_no_days() -> None:
    f = legacy(1, days_left=0)
    f.evidence = {"shutdown": "2027-03-31"}
    as_of = STARTED.date() + timedelta(days=113)  # 2027-03-19
    assert legacy_lines([f], as_of, 30) == [
        ":warning: 1 legacy API key stops working on 2027-03-31 (in 12 days): each needs a "
        "Google service account, its IAM role and a Group Mapping entry (the migration plan: "
        "report.html, migration.md)."]
    assert legacy_lines([f], STARTED.date(), 30) == []  # 125 days before: outside
