"""The legacy API migration plan (SOAR-MIG-001) in every output: migration.md, migration.csv,
the report's migration view and the trend's legacy keys left. Built from synthetic findings with
the rule's evidence contract; no clock is read (the audit's own date counts)."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from report_factory import (
    HOSTILE,
    MIG_RULE,
    NOW,
    RULES,
    build_result,
    mig_finding,
    trend,
    with_legacy_keys,
)
from test_report_csv import FORMULA_START
from test_report_html import _page

from auditor.engine.findings import Finding
from auditor.report import ReportContext
from auditor.report.migration import build_plan, key_plan
from auditor.report.migration_out import CSV_COLUMNS
from auditor.report.trend import build_chart, current_point
from auditor.result import RunResult

GFM = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
CATALOG = [*RULES, MIG_RULE]


def legacy_run(*, days_left: int = 125, hostile: bool = True) -> RunResult:
    """Three tenants with legacy keys (hostile names among them), a waived key, a key replaced
    since the previous audit, and a tenant that could not be audited."""
    res = build_result(20, hostile=False)
    names = list(HOSTILE) if hostile else [f"key-{i}" for i in range(len(HOSTILE))]
    keys = [mig_finding(2000 + i, name, tenant=f"acme-00{i % 3}", snapshot=i % 2 == 0,
                        days_left=days_left) for i, name in enumerate(names)]
    keys.append(mig_finding(77, "waived-key", tenant="acme-000", status="muted",
                            days_left=days_left))
    keys.append(mig_finding(78, "replaced-key", tenant="acme-001", status="resolved",
                            lifecycle="resolved", days_left=days_left))
    return with_legacy_keys(res, keys)


def _md(write: Callable[..., Path], res: RunResult, **ctx: Any) -> str:
    path = write(res, "migration", ReportContext(rules=CATALOG, **ctx))
    assert path.name == "migration.csv"  # the last file of the format; migration.md next to it
    return (path.parent / "migration.md").read_text("utf-8")


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _table(md: str, heading: str) -> list[str]:
    block = md[md.index(heading):].split("\n\n")[1]
    return block.splitlines()


# -- migration.md -----------------------------------------------------------------------------
def test_migration_md_starts_with_the_countdown_and_the_keys_left_per_tenant(
        write: Callable[..., Path]) -> None:
    md = _md(write, legacy_run())
    lines = md.splitlines()
    assert lines[0] == "## Legacy SOAR API migration plan, audit 20261126T020000Z"
    assert lines[2] == ("**125 days left**: the legacy SOAR API and AppKey stop working on "
                        "**2027-03-31**.")
    assert ("As of the audit of 2026-11-26: **9 legacy API key(s)** left in 3 tenant(s); 1 "
            "replaced since the previous audit.") in md
    tenants = _table(md, "### Keys left per tenant")
    assert tenants[0].startswith("| Tenant | Legacy keys left |")
    rows = {r.split(" | ")[0].lstrip("| "): r for r in tenants[2:]}
    assert rows["acme-000"] == "| acme-000 | 4 | 0 | 125 | 2027-03-31 |"  # 3 + the waived key
    assert rows["acme-001"] == "| acme-001 | 3 | 1 | 125 | 2027-03-31 |"
    assert rows["acme-002"] == "| acme-002 | 2 | 0 | 125 | 2027-03-31 |"
    assert rows["globex-eu"].startswith("| globex-eu | not audited: GET /api/external/v1/")


def test_migration_md_steps_and_one_row_per_key_with_its_replacement(
        write: Callable[..., Path]) -> None:
    md = _md(write, legacy_run(hostile=False))
    steps = md[md.index("### Step by step"):md.index("### The plan")]
    order = ["Create the service account", "Grant the IAM role(s)",
             "Add the Group Mapping entry** at Settings > Advanced > Group Mapping (Settings > "
             "Access Management", "Switch the integration to OAuth", "Delete the API key"]
    positions = [steps.index(s) for s in order]
    assert positions == sorted(positions)
    plan = _table(md, "### The plan, key by key (9)")
    assert plan[0] == ("| Tenant | Key | Days left | Shutdown | Severity | Status | Machine "
                       "identity | Group Mapping entry | IAM role(s) | Replaces permission "
                       "group(s) |")
    rows = plan[2:]
    assert len(rows) == 9 and not any("replaced-key" in r for r in rows)  # resolved: gone
    key0 = next(r for r in rows if "key-0 (id 2000)" in r)  # a snapshot key
    assert ("| acme-000 | key-0 (id 2000) | 125 | 2027-03-31 | Medium | fail | "
            "serviceAccount:soar-key-2000\\@acme-secops.iam.gserviceaccount.com | "
            "**key-0 (replaces API key 2000)** · SOC roles: Tier 1 · environments: \\* (replaces "
            "the key's snapshot of all current environments) | "
            "projects/acme-secops/roles/SOAR\\_Custom\\_Automation | Automation |") == key0
    key1 = next(r for r in rows if "key-1 (id 2001)" in r)
    assert "environments: EMEA |" in key1
    waived = next(r for r in rows if "waived-key" in r)
    assert "| muted (exception of dana\\@example.com) |" in waived
    assert "Environments `*` instead of a list where the key is bound to a snapshot" in md
    commands = md[md.index("```sh"):md.index("```\n", md.index("```sh") + 5)]
    assert ("gcloud iam service-accounts create soar-key-2000 --project=acme-secops"
            in commands)
    assert ("gcloud projects add-iam-policy-binding acme-secops --member=serviceAccount:"
            "soar-key-2000@acme-secops.iam.gserviceaccount.com --role=projects/acme-secops/roles/"
            "SOAR_Custom_Automation --condition=None") in commands


def test_hostile_names_stay_text_in_migration_md(write: Callable[..., Path]) -> None:
    md = _md(write, legacy_run())
    html = GFM.render(md)
    for tag in ("<img", "<script", "<b>", "<!--", "<a "):
        assert tag not in html
    rows = html[html.index("The plan, key by key"):].split("<tbody>")[1].split("</tbody>")[0]
    assert rows.count("<tr>") == 9
    assert all(r.count("<td") == 10 for r in rows.split("<tr>")[1:])  # no | split a cell
    cells = [unescape(c) for c in re.findall(r"<td>(.*?)</td>", rows)]
    assert "<img src=x onerror=alert(1)> (id 2000)" in cells
    assert "</script><script>alert(1)</script> (id 2001)" in cells
    assert any(c.startswith("<!channel> @here `rm -rf` | pipe") for c in cells)
    assert "\x1b" not in md and "\u202e" not in md  # shown as escapes
    # Hostile names never reach the shell commands (only their numeric ids and our slugs).
    commands = md[md.index("```sh"):]
    assert "onerror" not in commands and "HYPERLINK" not in commands and "calc" not in commands


def test_inside_the_window_and_after_the_shutdown(write: Callable[..., Path]) -> None:
    md = _md(write, legacy_run(days_left=12, hostile=False))
    assert md.splitlines()[2:4] == [
        "> [!WARNING]",
        "> **12 days left**: the legacy SOAR API and AppKey stop working on **2027-03-31**."]
    md = _md(write, legacy_run(days_left=-5, hostile=False))
    assert ("**shut down 5 days ago**: the legacy SOAR API and AppKey stopped working on "
            "**2027-03-31**.") in md
    # The configured window decides when it is given: 125 days is inside a 200-day window.
    md = _md(write, legacy_run(days_left=125, hostile=False), legacy_api_warning_days=200)
    assert "> [!WARNING]" in md


def test_no_legacy_key_rule_not_run_and_nothing_audited(write: Callable[..., Path]) -> None:
    md = _md(write, build_result(10, failed_tenant=False))
    assert "rule SOAR-MIG-001 did not run, so no legacy API key was checked" in md
    done = build_result(10, failed_tenant=False)
    with_legacy_keys(done, [mig_finding(78, "replaced-key", status="resolved",
                                        lifecycle="resolved")])
    md = _md(write, done)
    assert "no legacy API key is left (1 replaced since the previous audit)." in md
    assert "| acme-000 | 0 | 1 | 125 | 2027-03-31 |" in md
    nothing = RunResult("20261126T020000Z", NOW, None, "0.1.0", tenants=[], findings=[])
    md = _md(write, nothing)
    assert "**nothing was audited**, so no legacy API key could be counted" in md


# -- migration.csv ----------------------------------------------------------------------------
def test_migration_csv_one_row_per_key_and_formula_safe(write: Callable[..., Path]) -> None:
    res = legacy_run(days_left=-3)
    rows = _csv(write(res, "migration", ReportContext(rules=CATALOG)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 9
    for r in rows:
        for name, cell in r.items():
            if name == "days_left":
                assert cell == "-3"  # our own integer: a number, not a formula
            else:
                assert not cell.startswith(FORMULA_START), (name, cell)
    by_id = {r["key_id"]: r for r in rows}
    assert by_id["2002"]["key_name"] == "'" + HOSTILE[2]  # =HYPERLINK(...) kept as text
    assert by_id["2005"]["key_name"] == "'" + HOSTILE[5]
    assert by_id["2004"]["key_name"] == "line\nbreak\\x0d\\x1b[31mred\\x00nul\u2028ls\\u202eevil"
    snap = by_id["2000"]
    assert snap["identity"] == "serviceAccount:soar-key-2000@acme-secops.iam.gserviceaccount.com"
    assert snap["mapping_environments"] == "*"
    assert "snapshot of all current environments" in snap["environments_why"]
    assert snap["mapping_soc_roles"] == "Tier 1" and snap["permission_groups"] == "Automation"
    assert snap["iam_roles"] == "projects/acme-secops/roles/SOAR_Custom_Automation"
    assert snap["iam_roles_suggested"] == "no"
    assert snap["shutdown"] == "2027-03-31" and snap["severity"] == "high"
    assert by_id["2001"]["mapping_environments"] == "EMEA" and by_id["2001"]["environments_why"] \
        == ""
    assert by_id["77"]["status"] == "muted"


# -- reading the evidence ---------------------------------------------------------------------
@pytest.mark.parametrize("iam", [
    {"iam_roles": ["roles/chronicle.editor"], "iam_roles_suggested": True},
    {"iam_roles": ["roles/chronicle.editor"], "iam_roles_source": "suggested"},
    {"iam_roles": ["roles/chronicle.editor"],
     "iam_roles_note": "suggested: the policy has no SOAR_Custom role for this group"},
    {"iam_roles": {"roles": ["roles/chronicle.editor"], "suggested": True}},
    {"iam_roles": [{"role": "roles/chronicle.editor", "suggested": True}]},
])
def test_the_suggestion_marker_of_iam_roles_is_honoured(iam: dict[str, Any]) -> None:
    f = mig_finding(5, "k", iam_roles=iam.pop("iam_roles"), extra=iam)
    plan = key_plan(f, NOW.date())
    assert plan.iam_roles == ("roles/chronicle.editor",)
    assert plan.iam_suggested


def test_unknown_or_missing_evidence_never_breaks_the_plan(write: Callable[..., Path]) -> None:
    odd = [
        mig_finding(1, "extra-keys",
                    extra={"future_field": {"x": 1}, "iam_roles_source": "policy"}),
        replace(mig_finding(2, "no-evidence"), evidence={}),
        replace(mig_finding(3, "wrong-types"), evidence={
            "shutdown": 20270331, "days_left": "soon", "replacement": ["not", "a", "dict"]}),
        replace(mig_finding(4, "bad-mapping"), evidence={
            "shutdown": "2027-03-31", "replacement": {"mapping": "x", "iam_roles": "roles/x",
                                                      "permission_groups": [{"name": "G"}]}}),
    ]
    plans = {p.key_name: p for p in (key_plan(f, NOW.date()) for f in odd)}
    assert not plans["extra-keys"].iam_suggested  # "policy": the roles come from the policy
    assert plans["no-evidence"].shutdown is None and plans["no-evidence"].identity is None
    assert plans["wrong-types"].days_left is None
    assert plans["bad-mapping"].days_left == (date(2027, 3, 31) - NOW.date()).days
    assert plans["bad-mapping"].iam_roles == ("roles/x",)
    assert plans["bad-mapping"].permission_groups == ("G",)
    res = with_legacy_keys(build_result(5, failed_tenant=False), odd)
    md = _md(write, res)
    assert "### The plan, key by key (4)" in md
    assert "— (not proposed)" in md


def test_the_days_come_from_the_audit_never_from_the_clock() -> None:
    f = replace(mig_finding(1, "k"), evidence={"shutdown": "2027-03-31"})
    later = build_result(0, failed_tenant=False, started_at=NOW + timedelta(days=100))
    with_legacy_keys(later, [f])
    plan = build_plan(later)
    assert plan.days_left == (date(2027, 3, 31) - (NOW + timedelta(days=100)).date()).days == 25
    assert plan.as_of == (NOW + timedelta(days=100)).date()


# -- report.html and the trend ----------------------------------------------------------------
def test_html_has_the_migration_view_with_countdown_and_rows(
        write: Callable[..., Path]) -> None:
    res = legacy_run(days_left=12)
    text, page = _page(write(res, "html", ReportContext(trend=trend(3), rules=CATALOG)))
    attrs = {a.get("id"): a for _, a in page.tags if a.get("id")}
    assert attrs["migration-countdown"]["data-days-left"] == "12"
    assert attrs["migration-countdown"]["data-keys-left"] == "9"
    assert "migration-urgent" in (attrs["migration"]["class"] or "")
    assert "migration-banner" in attrs and "migration-tenants" in attrs
    body = text[text.index('id="migration-keys"'):]
    body = body[:body.index("</table>")]
    assert body.count("<tr data-status=") == 9
    assert [t for t, _ in page.tags].count("img") == 0
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "Settings &gt; Advanced &gt; Group Mapping" in text
    assert 'data-rule="SOAR-MIG-001"' in text  # the link to the findings table


def test_html_without_the_rule_says_so_and_has_no_banner(write: Callable[..., Path]) -> None:
    text = write(build_result(10), "html", ReportContext(rules=RULES)).read_text("utf-8")
    assert 'id="migration"' in text and "Rule SOAR-MIG-001 did not run" in text
    assert 'id="migration-banner"' not in text and 'id="legend-legacy"' not in text


def test_trend_points_count_the_legacy_keys_left(write: Callable[..., Path]) -> None:
    res = legacy_run()
    assert current_point(res).legacy_keys == 9  # 8 failing + 1 muted; the resolved one is gone
    assert current_point(build_result(5)).legacy_keys is None  # the rule did not run
    stored = [replace(p, legacy_keys=n) for p, n in zip(trend(4), [14, None, 12, 10],
                                                        strict=True)]
    chart = build_chart(stored, res)
    assert [c.legacy for c in chart.columns] == [14, None, 12, 10, 9]
    assert chart.legacy_path.count("M") == 2 and chart.legacy_path.count("L") == 2  # a gap
    assert "legacy API keys left 9" in chart.columns[-1].tooltip
    assert chart.summary.endswith("Legacy API keys left: 14 then 9.")
    text = write(res, "html", ReportContext(trend=stored, rules=CATALOG)).read_text("utf-8")
    assert text.count('class="legacy-point"') == 4 and 'id="legend-legacy"' in text


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_state_store_counts_the_legacy_keys_of_each_stored_run(
        tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    from auditor.state import open_store

    url = (f"sqlite:///{tmp_path / 'state.db'}" if backend == "sqlite"
           else request.getfixturevalue("pg_url"))
    with open_store(url) as store:
        before = build_result(12, failed_tenant=False, run_id="20261125T020000Z",
                              started_at=NOW - timedelta(days=1))
        store.record_run(before)  # the rule did not run yet
        first = legacy_run(hostile=True)
        first.run_id, first.started_at = "20261126T020000Z", NOW
        store.record_run(first)
        second = build_result(12, failed_tenant=False, run_id="20261127T020000Z",
                              started_at=NOW + timedelta(days=1))
        # A message that quotes the rule id's JSON is no finding of the rule.
        second.findings[0].message = '","rule_id":"SOAR-MIG-001","status":"fail"'
        with_legacy_keys(second, [mig_finding(2000, HOSTILE[0], tenant="acme-000"),
                                  mig_finding(2001, "x", tenant="acme-001", status="unknown")])
        store.record_run(second)
        points = {p.run_id: p.legacy_keys for p in store.runs(limit=10)}
    assert points == {"20261125T020000Z": None, "20261126T020000Z": 9, "20261127T020000Z": 2}


def test_a_large_stored_run_is_counted_in_one_streamed_pass(tmp_path: Path) -> None:
    from auditor.state import open_store

    res = build_result(6000, failed_tenant=False, tenants=20)
    many: list[Finding] = [mig_finding(10_000 + i, f"legacy-{i}", tenant=f"acme-{i % 20:03d}")
                           for i in range(1500)]
    with_legacy_keys(res, many)
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        store.record_run(res)
        [point] = store.runs(limit=1)
    assert point.legacy_keys == 1500


def test_summary_md_says_how_many_legacy_keys_stop_working(write: Callable[..., Path]) -> None:
    md = write(legacy_run(days_left=12), "markdown",
               ReportContext(rules=CATALOG)).read_text("utf-8")
    assert ("> [!WARNING]\n> **Legacy API**: 9 legacy API keys in 3 tenant(s) stop working on "
            "2027-03-31 (in 12 days); the replacement of each is in migration.md "
            "(`--format migration`) and report.html.") in md
    md = write(legacy_run(days_left=125), "markdown",
               ReportContext(rules=CATALOG)).read_text("utf-8")
    assert "\n**Legacy API**: 9 legacy API keys in 3 tenant(s) stop working on 2027-03-31 " \
           "(in 125 days)" in md and "> **Legacy API**" not in md
    md = write(build_result(10), "markdown", ReportContext(rules=RULES)).read_text("utf-8")
    assert "Legacy API" not in md
