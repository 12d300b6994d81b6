"""Exceptions (waivers): muting, expiry, unused entries, and file:line errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from engine_factory import SA, binding, inventory, key, mapping, only, run

from auditor.config import ConfigError
from auditor.engine.evaluate import tenant_not_audited
from auditor.engine.exceptions import (
    ExceptionsError,
    apply_exceptions,
    load_exceptions,
    parse_exceptions,
)
from auditor.engine.findings import Finding
from auditor.engine.rules import builtin_rules

TODAY = date(2026, 11, 26)


def findings() -> list[Finding]:
    """acme: key 1 "ci-bot" in Admins; key 2 "etl" wildcard with an unknown group state;
    key 3 "Legacy-Sync" in Admins too."""
    inv = inventory([
        key(1, "ci-bot", groups=(1,)),
        key(2, "etl", groups=(3,), envs=("*",)),
        key(3, "Legacy-Sync", groups=(1,)),
    ])
    return run(inv)


def test_an_active_entry_mutes_the_matching_failures_only() -> None:
    fs = findings()
    waivers = parse_exceptions(
        "- rule: SOAR-PG-001\n  key: ci-*\n  reason: break-glass CI, ticket SEC-12\n"
        "  owner: platform-team\n  expires: 2026-12-31\n", "exceptions.yaml")
    status = apply_exceptions(fs, waivers, TODAY)
    pg = only(fs, "SOAR-PG-001")
    assert pg[1].status == "muted"
    assert pg[1].exception == {"rule": "SOAR-PG-001", "tenant": "*", "key": "ci-*",
                               "reason": "break-glass CI, ticket SEC-12",
                               "owner": "platform-team", "expires": "2026-12-31"}
    assert pg[3].status == "fail" and pg[3].exception is None
    assert status.expired == [] and status.unused == []
    assert pg[1].to_dict()["exception"]["owner"] == "platform-team"


def test_globs_on_rule_tenant_and_key_name_and_key_ids() -> None:
    text = """
- {rule: "SOAR-PG-*", tenant: "ac*", key: "LEGACY-*", reason: r, owner: o, expires: 2027-01-01}
- {rule: "*", tenant: "other", reason: r, owner: o, expires: 2027-01-01}
- {rule: "soar-pg-001", key: "id:1", reason: r, owner: o, expires: 2027-01-01}
"""
    fs = findings()
    status = apply_exceptions(fs, parse_exceptions(text), TODAY)
    pg = only(fs, "SOAR-PG-001")
    assert pg[3].status == "muted" and pg[3].exception is not None
    assert pg[3].exception["key"] == "LEGACY-*"  # case-insensitive name glob
    assert pg[1].status == "muted" and pg[1].exception is not None
    assert pg[1].exception["key"] == "id:1"
    assert [u["tenant"] for u in status.unused] == ["other"]
    assert status.unused[0]["source"] == "<exceptions>:3"


def test_unknown_findings_are_never_muted_but_count_as_a_use() -> None:
    fs = findings()
    env2 = only(fs, "SOAR-ENV-002")[2]
    assert env2.status == "unknown"
    status = apply_exceptions(fs, parse_exceptions(
        "- {rule: SOAR-ENV-002, key: etl, reason: r, owner: o, expires: 2027-01-01}\n"), TODAY)
    assert env2.status == "unknown" and env2.exception is None
    assert status.unused == []


def test_an_expired_entry_mutes_nothing_and_is_listed() -> None:
    fs = findings()
    text = ("- {rule: SOAR-PG-001, reason: r, owner: o, expires: 2026-11-25}\n"
            "- {rule: SOAR-ROLE-001, reason: r, owner: o, expires: 2026-11-26}\n")
    status = apply_exceptions(fs, parse_exceptions(text, "ex.yaml"), TODAY)
    assert all(f.status == "fail" for f in only(fs, "SOAR-PG-001").values())
    assert status.expired == [{"rule": "SOAR-PG-001", "tenant": "*", "key": None, "reason": "r",
                               "owner": "o", "expires": "2026-11-25", "source": "ex.yaml:1",
                               "would_match": 2}]
    # valid through its expiry day; it matched nothing: unused
    assert [u["rule"] for u in status.unused] == ["SOAR-ROLE-001"]


def test_the_tenant_not_audited_finding_is_never_muted() -> None:
    audit = tenant_not_audited("acme", "HTTP 503", builtin_rules())
    status = apply_exceptions([audit], parse_exceptions(
        "- {rule: 'SOAR-*', reason: r, owner: o, expires: 2027-01-01}\n"), TODAY)
    assert audit.status == "fail"
    assert len(status.unused) == 1
    with pytest.raises(ExceptionsError, match=r"SOAR-AUDIT-001 .* cannot be muted"):
        parse_exceptions("- {rule: soar-audit-001, reason: r, owner: o, expires: 2027-01-01}\n")


def test_a_key_entry_does_not_match_tenant_findings() -> None:
    text = "- {rule: '*', key: '*', reason: r, owner: o, expires: 2027-01-01}\n"
    (entry,) = parse_exceptions(text)
    tenant_finding = tenant_not_audited("acme", "x", builtin_rules())
    assert entry.matches_resource(tenant_finding) is False


def test_first_matching_entry_wins() -> None:
    fs = findings()
    text = ("- {rule: SOAR-PG-001, key: ci-bot, reason: first, owner: o, expires: 2027-01-01}\n"
            "- {rule: 'SOAR-*', reason: second, owner: o, expires: 2027-01-01}\n")
    status = apply_exceptions(fs, parse_exceptions(text), TODAY)
    pg = only(fs, "SOAR-PG-001")
    assert pg[1].exception is not None and pg[1].exception["reason"] == "first"
    assert pg[3].exception is not None and pg[3].exception["reason"] == "second"
    assert status.unused == []


def test_empty_file_is_no_exceptions(tmp_path: Path) -> None:
    path = tmp_path / "exceptions.yaml"
    path.write_text("# nothing waived\n", encoding="utf-8")
    assert load_exceptions(path) == []


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("- rule: SOAR-PG-001\n  owner: o\n  expires: 2027-01-01\n", 1,
         "entry 1: reason: is required"),
        ("- {rule: X, reason: r, owner: o, expires: 2027-01-01}\n"
         "- rule: Y\n  reason: r\n  owner: o\n  expires: next week\n", 5,
         "entry 2: expires:"),
        ("- rule: Y\n  reason: r\n  owner: o\n  expires: 20270101\n", 4,
         "expires: must be a date, YYYY-MM-DD"),
        ("- rule: Y\n  reason: r\n  owner: o\n  expires: 2027-01-01\n  ticket: 5\n", 5,
         "unknown key 'ticket'"),
        ("- rule: Y\n  reason: '   '\n  owner: o\n  expires: 2027-01-01\n", 2,
         "reason: must not be blank"),
        ("- rule: Y\n  key: 'id:seven'\n  reason: r\n  owner: o\n  expires: 2027-01-01\n", 2,
         "id:<n> needs a whole number"),
        ("rule: Y\nreason: r\n", 1, "must hold a YAML list"),
        ("- just a string\n", 1, "entry 1: must be a mapping"),
        ("- rule: [unclosed\n", 2, "not valid YAML"),
    ],
)
def test_malformed_entries_are_config_errors_with_file_and_line(
    tmp_path: Path, text: str, line: int, needle: str
) -> None:
    path = tmp_path / "exceptions.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ExceptionsError) as caught:
        load_exceptions(path)
    assert isinstance(caught.value, ConfigError)
    assert any(e.startswith(f"{path}:{line}: ") and needle in e for e in caught.value.errors), (
        caught.value.errors)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ExceptionsError, match="cannot read the exceptions file"):
        load_exceptions(tmp_path / "missing.yaml")


def test_resource_entries_waive_one_mapping_or_iam_member() -> None:
    other = "serviceAccount:x@p.iam.gserviceaccount.com"
    inv = inventory([key(1, "ci-bot", groups=(1,))],
                    mappings=[mapping("Automation bots", members=(SA,), roles=(1,)),
                              mapping("Other bots", members=(SA,), roles=(1,))],
                    bindings=[binding("roles/owner", SA, other)])
    found = run(inv)
    text = (
        "- {rule: SOAR-MAP-002, resource: 'automation *', reason: r, owner: o, "
        "expires: 2027-01-01}\n"
        f"- {{rule: SOAR-IAM-001, resource: 'id:{SA}', reason: r, owner: o, expires: 2027-01-01}}\n"
        "- {rule: SOAR-PG-001, resource: 'nothing-*', reason: r, owner: o, expires: 2027-01-01}\n"
    )
    status = apply_exceptions(found, parse_exceptions(text), TODAY)
    muted = {(f.rule_id, f.resource.name) for f in found if f.status == "muted"}
    assert muted == {("SOAR-MAP-002", "Automation bots"), ("SOAR-IAM-001", SA)}
    waived = next(f for f in found if f.status == "muted" and f.rule_id == "SOAR-IAM-001")
    assert waived.exception is not None and waived.exception["resource"] == f"id:{SA}"
    assert [u["resource"] for u in status.unused] == ["nothing-*"]
    with pytest.raises(ExceptionsError, match="id:<resource id> needs the id"):
        parse_exceptions("- {rule: X, resource: 'id:', reason: r, owner: o, expires: 2027-01-01}")
