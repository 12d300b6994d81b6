"""What the digest says: new / reopened / resolved / failed tenants, notify modes, heartbeat,
routes, Slack's limits, and escaping of everything that comes from the SOAR API."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.config import SlackConfig
from auditor.notify import (
    Limits,
    build_digest,
    messages_to_json,
    render_terminal,
    save_slack_json,
)

from .builders import finding, result
from .helpers import all_text, assert_valid_blocks, texts

HOOK = "http://127.0.0.1:9/hooks/digest-only"


def slack(**kw: object) -> SlackConfig:
    return SlackConfig.model_validate({"webhook_url": HOOK, **kw})


def mixed_run() -> list:
    return [
        finding("SOAR-PG-001", key="ci-bot", lifecycle="new"),
        finding("SOAR-ROLE-001", key="ops-key", key_id=8, lifecycle="reopened"),
        finding("SOAR-AGE-001", key="old-key", key_id=9, lifecycle="open"),
        finding("SOAR-ENV-001", key="gone-key", key_id=10, lifecycle="resolved",
                status="resolved"),
        finding("SOAR-NAME-001", key="BadName", key_id=11, lifecycle="new"),  # low
        finding("SOAR-AGE-001", key="waived", key_id=12, lifecycle="new", status="muted"),
    ]


def test_new_reopened_and_resolved_findings_are_listed_with_what_to_act_on() -> None:
    [message] = build_digest(result(mixed_run()), slack())
    assert message.destination == "default"
    assert_valid_blocks(message.blocks)
    text = all_text(message.blocks)
    # The headline counts what changed; the counts line every failing finding by severity.
    assert texts(message.blocks)[0] == "SOAR key audit: 1 new, 1 reopened, 1 resolved"
    assert "*Failing now:* 4 — critical 1 · high 1 · medium 1 · low 1 · info 0" in text
    # Rule title, tenant, key name and the one-line reason of each new/reopened finding.
    assert "*Administrative permission group*" in text
    assert "acme-prod · key *ci-bot* (id 7): ci-bot breaks SOAR-PG-001" in text
    assert "*Privileged SOC role* `SOAR-ROLE-001` _(reopened)_" in text
    assert ("Snapshot of all current environments `SOAR-ENV-001` — acme-prod · key *gone-key*"
            in text)
    # Not news: open findings; below min_severity (low); muted.
    for absent in ("old-key", "BadName", "waived"):
        assert absent not in text
    assert message.thread == []  # webhook: no thread
    assert "SOAR key audit: 1 new, 1 reopened, 1 resolved" in message.text


def test_min_severity_filters_and_unknown_findings_are_flagged() -> None:
    findings = [finding("SOAR-NAME-001", key="BadName"),
                finding("SOAR-ENV-001", key="mystery", status="unknown")]
    [message] = build_digest(result(findings), slack(min_severity="low"))
    text = all_text(message.blocks)
    assert "BadName" in text
    assert "info 0 (and 1 check(s) could not decide)" in text
    assert "*Snapshot of all current environments* `SOAR-ENV-001` _(could not decide: data " \
           "missing)_" in text
    [message] = build_digest(result(findings), slack(min_severity="critical", heartbeat=True))
    assert "all quiet" in all_text(message.blocks)


def test_a_tenant_that_could_not_be_audited_is_always_in_the_message() -> None:
    since = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    findings = [finding("SOAR-AUDIT-001", tenant="beta", first_seen=since),
                finding("SOAR-AGE-001", key="old", lifecycle="open")]
    run = result(findings, tenants=("acme-prod", "beta"),
                 errors={"beta": "authentication failed (HTTP 401) on /api/external/v1/apikeys"})
    for mode in ("new", "all", "none"):
        [message] = build_digest(run, slack(notify=mode))
        assert_valid_blocks(message.blocks)
        text = all_text(message.blocks)
        assert ("*beta* could not be audited (since 2026-11-20 02:00 UTC): authentication failed"
                " (HTTP 401) on /api/external/v1/apikeys") in text, mode
        assert "1 tenant(s) NOT audited" in texts(message.blocks)[0]
        assert "status *incomplete* · 1 of 2 tenant(s) audited" in text
        assert "Tenant not audited" not in text  # not repeated as a finding
    assert texts(message.blocks)[0] == "SOAR key audit: 1 tenant(s) NOT audited"  # notify: none
    # `since` from the state store wins over the finding's first_seen.
    earlier = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    [message] = build_digest(run, slack(notify="none"), since={"beta": earlier})
    assert "since 2026-11-01 02:00 UTC" in all_text(message.blocks)


def test_nothing_new_sends_nothing_unless_heartbeat() -> None:
    quiet = result([finding("SOAR-AGE-001", lifecycle="open")])
    assert build_digest(quiet, slack()) == []
    [message] = build_digest(quiet, slack(heartbeat=True))
    assert_valid_blocks(message.blocks)
    assert len(message.blocks) == 1
    assert "*SOAR key audit: all quiet*" in all_text(message.blocks)
    assert "1 failing finding(s) known" in all_text(message.blocks)
    # notify: none means no finding alerts, and no heartbeat either.
    assert build_digest(result(mixed_run()), slack(notify="none", heartbeat=True)) == []


def test_notify_all_lists_every_failing_finding_and_tags_the_new_ones() -> None:
    [message] = build_digest(result(mixed_run()), slack(notify="all"))
    text = all_text(message.blocks)
    assert texts(message.blocks)[0].startswith("SOAR key audit: 3 failing, 1 new, 1 reopened")
    assert "*Failing findings* (3)" in text
    assert "old-key" in text  # open: listed in `all`
    assert "`SOAR-PG-001` _(new)_" in text
    assert "BadName" not in text  # still below min_severity
    # New and reopened come first.
    assert text.index("ci-bot") < text.index("old-key")


def test_routes_get_their_findings_and_the_default_keeps_the_full_digest() -> None:
    findings = [
        finding("SOAR-PG-001", tenant="cust-a", key="ci-a"),
        finding("SOAR-PG-001", tenant="cust-b", key="ci-b"),
        finding("SOAR-ROLE-001", tenant="cust-b", key="deploy-b", key_id=9),
        finding("SOAR-AUDIT-001", tenant="cust-c"),
    ]
    run = result(findings, tenants=("cust-a", "cust-b", "cust-c"), errors={"cust-c": "timeout"})
    config = SlackConfig.model_validate({
        "bot_token": "xox" "b-test-digest-only", "channel": "#soc",
        "routes": [
            {"name": "a", "tenant": "cust-a", "webhook_url": HOOK + "/a",
             "report_url": "https://reports.example/a"},
            {"name": "deploy", "key_name": "DEPLOY-*", "channel": "#deploys"},
            {"name": "c", "tenant": "cust-c", "channel": "#cust-c"},
            {"name": "nobody", "tenant": "cust-z", "channel": "#z"},
        ]})
    messages = {m.destination: m for m in build_digest(run, config)}
    assert list(messages) == ["default", "route:a", "route:deploy", "route:c"]
    full = all_text(messages["default"].blocks)
    for name in ("ci-a", "ci-b", "deploy-b", "*cust-c* could not be audited"):
        assert name in full
    assert messages["default"].attach_report and messages["default"].thread
    route_a = all_text(messages["route:a"].blocks)
    assert "ci-a" in route_a and "ci-b" not in route_a and "cust-c" not in route_a
    assert "<https://reports.example/a|Open the full report>" in route_a
    assert messages["route:a"].thread == [] and not messages["route:a"].attach_report
    deploy = all_text(messages["route:deploy"].blocks)
    assert "deploy-b" in deploy and "ci-b" not in deploy  # key-name glob, case-insensitive
    assert len(messages["route:deploy"].thread) == 1  # bot channel: per-tenant thread
    assert "*cust-c* could not be audited" in all_text(messages["route:c"].blocks)
    for message in messages.values():
        assert_valid_blocks(message.blocks)
        assert not message.attach_report or message.destination == "default"


def test_routes_need_a_bot_token_for_channels_and_unique_names() -> None:
    with pytest.raises(ValueError, match=r"routes\[0\] names a channel, which needs bot_token"):
        slack(routes=[{"channel": "#x"}])
    with pytest.raises(ValueError, match="route name 'x' is used twice"):
        slack(routes=[{"name": "x", "webhook_url": HOOK}, {"name": "x", "webhook_url": HOOK}])


def _many(count: int, **kw: object) -> list:
    rules = ["SOAR-PG-001", "SOAR-ENV-001", "SOAR-ROLE-001", "SOAR-AGE-001"]
    return [finding(rules[i % 4], tenant=f"tenant-{i % 5}", key=f"key-{i:03d}", key_id=i,
                    **kw) for i in range(count)]  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["webhook", "bot"])
def test_500_new_findings_stay_within_slack_limits_and_overflow_is_counted(mode: str) -> None:
    findings = _many(500)
    findings += [finding("SOAR-ENV-001", tenant="tenant-1", key=f"gone-{i}", key_id=1000 + i,
                         lifecycle="resolved", status="resolved") for i in range(40)]
    config = slack() if mode == "webhook" else SlackConfig.model_validate(
        {"bot_token": "xox" "b-test-digest-only", "channel": "#soc"})
    [message] = build_digest(result(findings, tenants=tuple(f"tenant-{i}" for i in range(5))),
                             config)
    assert_valid_blocks(message.blocks)
    text = all_text(message.blocks)
    assert len(text) <= Limits().max_total_chars
    # One entry per rule across the tenants, naming how many keys in how many tenants.
    assert "*New and reopened* (500 in 4 rules)" in text
    assert "*Resolved* (40 in 1 rule)" in text
    for rule in ("SOAR-PG-001", "SOAR-ROLE-001", "SOAR-AGE-001"):
        assert text.count(f"`{rule}`") == 1, rule
    assert text.count("`SOAR-ENV-001`") == 2  # new, and resolved
    assert text.count("125 keys in 5 tenants: tenant-") == 4
    assert "40 keys in 1 tenant: tenant-1: *gone-0* (id 1000)" in text
    # Every tenant is named; a key is either listed whole or not at all, and each entry counts
    # the keys it could not name.
    for tenant in range(5):
        assert text.count(f"tenant-{tenant}: *key-") == 4
    named = [f for f in findings if f"*{f.resource.name}* (id {f.resource.id})" in text]
    untold = sum(int(n) for n in re.findall(r" \+(\d+) more", text))
    assert len(named) + untold == 540
    assert "more new or reopened" not in text  # every rule has its entry
    assert "SOAR key audit: 500 new, 40 resolved" == texts(message.blocks)[0]
    if mode == "bot":
        assert len(message.thread) == 5
        for reply in message.thread:
            assert_valid_blocks(reply.blocks)
        reply = all_text(message.thread[1].blocks)
        assert reply.startswith("*tenant-1*: 100 new or reopened, 40 resolved")
        rest = re.search(r"…and (\d+) more in the report\.$", reply)
        assert rest and reply.count("key *") + int(rest.group(1)) == 140


def test_a_few_tenants_no_longer_fill_the_summary_with_the_same_rules() -> None:
    """10 rules failing on each of 8 tenants: 10 entries, each naming its 8 tenants (one
    entry per finding was 80, cut at the budget of 25 after three rules)."""
    rules = [f"SOAR-T{r:02d}-001" for r in range(10)]
    findings = [finding(rule, tenant=f"acme-{t}", key=f"k{r}-{t}", key_id=r * 10 + t)
                for r, rule in enumerate(rules) for t in range(8)]
    [message] = build_digest(result(findings, tenants=tuple(f"acme-{t}" for t in range(8))),
                             slack())
    assert_valid_blocks(message.blocks)
    text = all_text(message.blocks)
    for r, rule in enumerate(rules):
        assert text.count(f"`{rule}`") == 1
        line = f"8 keys in 8 tenants: acme-0: *k{r}-0* (id {r * 10}); acme-1: *k{r}-1* "
        assert line in text
        assert f"acme-7: *k{r}-7* (id {r * 10 + 7})" in text
    assert "more new or reopened" not in text


def test_more_rules_than_the_budget_are_counted_by_finding_and_rule() -> None:
    findings = [finding(f"SOAR-T{r:02d}-001", tenant=f"t{t}", key=f"k{r}-{t}", key_id=t)
                for r in range(40) for t in range(2)]
    [message] = build_digest(result(findings, tenants=("t0", "t1")), slack())
    assert_valid_blocks(message.blocks)
    text = all_text(message.blocks)
    assert "*New and reopened* (80 in 40 rules)" in text
    entries = len(re.findall(r"`SOAR-T\d\d-001`", text))
    assert entries == Limits().max_entries
    assert f"…and {80 - 2 * entries} more new or reopened ({40 - entries} rules) in the " \
           "report." in text


def test_a_rule_of_mixed_severities_and_verdicts_is_one_entry_saying_so() -> None:
    findings = [finding("SOAR-MIG-001", key="a", key_id=1, severity="high"),
                finding("SOAR-MIG-001", key="b", key_id=2, tenant="beta", lifecycle="reopened"),
                finding("SOAR-MIG-001", key="c", key_id=3, status="unknown")]
    [message] = build_digest(result(findings, tenants=("acme-prod", "beta")), slack())
    text = all_text(message.blocks)
    assert text.count("`SOAR-MIG-001`") == 1
    assert ("high · *SOAR-MIG-001* `SOAR-MIG-001` _(1 reopened; 1 could not decide: data "
            "missing; 1 high, 2 medium)_") in text
    assert "3 keys in 2 tenants: acme-prod: *a* (id 1), *c* (id 3); beta: *b* (id 2)" in text


def test_huge_hostile_texts_are_clipped_per_entry_never_past_3000_chars() -> None:
    findings = [finding("SOAR-PG-001", key="&" * 5000, key_id=i, message="<" * 9000)
                for i in range(60)]
    [message] = build_digest(result(findings), slack())
    assert_valid_blocks(message.blocks)
    for text in texts(message.blocks):
        assert len(text) <= 3000
        assert not re.search(r"&(?!amp;|lt;|gt;)", text)  # no entity cut in half


HOSTILE = [
    "<!channel>",
    "<!here|here>",
    "<https://evil.example/login|Reset your password>",
    "<@U0ADMIN>",
    "<#C0SECRET>",
    "a & b &amp; c",
    "line1\n:red_circle: critical · *forged entry*",
    "\x1b[31mred\x1b[0m\u202eevil",
]


def test_hostile_key_names_and_messages_are_escaped_and_ping_nobody() -> None:
    findings = [finding("SOAR-PG-001", key=name, key_id=i, message=f"{name} is admin")
                for i, name in enumerate(HOSTILE)]
    run = result(findings, tenants=("acme-prod", "beta"), errors={"beta": "<!channel> 500"})
    config = slack(report_url="https://reports.example/latest")
    [message] = build_digest(run, config)
    assert_valid_blocks(message.blocks)
    payload = json.dumps(message.to_dict())
    text = all_text(message.blocks) + message.text
    # The only "<...>" left is our own link to the report.
    assert re.findall(r"<[^>]*>", text) == ["<https://reports.example/latest|Open the full report>"]
    assert "&lt;!channel&gt;" in text and "&lt;@U0ADMIN&gt;" in text
    assert "a &amp; b &amp;amp; c" in text
    assert "&lt;!channel&gt; 500" in text  # the tenant error too
    # A newline in a name cannot forge an entry; control and bidi characters are gone.
    assert "line1 :red_circle: critical · *forged entry*" in text
    assert "\x1b" not in payload and "\\u001b" not in payload and "\\u202e" not in payload
    for block in message.blocks:
        for obj in [block.get("text"), *block.get("elements", [])]:
            if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
                assert obj["verbatim"] is True  # no auto-linking of #channels or @names
    shown = render_terminal([message])
    assert "<!channel>" in shown  # shown as text in the terminal
    assert "\x1b" not in shown and "\u202e" not in shown


def test_demo_defaults_terminal_rendering_and_slack_json(tmp_path: Path) -> None:
    run = result([*mixed_run(), finding("SOAR-AUDIT-001", tenant="beta")],
                 tenants=("acme-prod", "beta"), errors={"beta": "connection refused"})
    messages = build_digest(run, None)  # demo: no Slack configured
    [message] = messages
    assert message.thread == [] and not message.attach_report
    assert "showing *medium* and above" in all_text(message.blocks)
    assert "BadName" not in all_text(message.blocks)
    shown = render_terminal(messages)
    assert shown.splitlines()[0] == "--- Slack message to default ---"
    assert "SOAR key audit: 1 new, 1 reopened, 1 resolved, 1 tenant(s) NOT audited" in shown
    assert "! *beta* could not be audited" in shown
    assert "● critical · *Administrative permission group* `SOAR-PG-001`" in shown
    path = tmp_path / "slack.json"
    save_slack_json(messages, path)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved == messages_to_json(messages)
    assert saved["messages"][0]["blocks"] == message.blocks
    assert render_terminal([]) == "(no Slack message: nothing new to report)\n"
