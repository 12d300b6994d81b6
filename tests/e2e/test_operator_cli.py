"""The command line as a security lead runs it, through the real `soar-auditor` in a subprocess:
every line JSON in --log-format json, an 80-column terminal, and one line for an unexpected
exception with exit codes that keep their meaning."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from auditor.clock import SYSTEM_CLOCK, Clock
from tests.e2e.helpers import cli, tenant_entry, write_config

WEST, EAST = "acme-production-emea-west", "acme-production-emea-east"


@pytest.fixture
def simulator_clock() -> Clock:
    """The CLI audits in a subprocess, on the system clock: so do the simulators it audits."""
    return SYSTEM_CLOCK


def _config(tmp_path: Path, tenants: list[dict[str, Any]]) -> Path:
    return write_config(tmp_path / "auditor.yaml", {
        "tenants": tenants,
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        "reports": {"dir": str(tmp_path / "reports"), "formats": ["json"]},
    })


def _two_tenants(tmp_path: Path, start_simulator: Any) -> tuple[Path, dict[str, str]]:
    good, bad = start_simulator("demo"), start_simulator("demo")
    bad.set_faults([{"endpoint": "GetApiKeys", "status": 503}])
    cfg = _config(tmp_path, [tenant_entry(good, WEST, "K1"), tenant_entry(bad, EAST, "K2")])
    return cfg, {"K1": good.app_key, "K2": bad.app_key}


def _records(proc: Any) -> list[dict[str, Any]]:
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert lines, "no output"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not JSON: {line!r}\n--- stdout\n{proc.stdout}\n--- stderr\n"
                        f"{proc.stderr}")
    return records


def test_every_line_of_a_json_run_is_json_and_names_its_tenant(tmp_path: Path,
                                                              start_simulator: Any) -> None:
    cfg, env = _two_tenants(tmp_path, start_simulator)
    # Incomplete (one tenant down), at -v: retries and HTTP exchanges are records too.
    proc = cli("--log-format", "json", "run", "--config", str(cfg), "-v", env=env)
    assert proc.returncode == 3, proc.stderr
    records = _records(proc)
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    (not_audited,) = [r for r in records if r.get("event") == "tenant_not_audited"]
    assert not_audited["tenant"] == EAST and "HTTP 503" in not_audited["message"]
    assert not not_audited["message"].startswith("soar-auditor:")
    results = {r["tenant"]: r for r in records if r.get("event") == "tenant_result"}
    assert results[WEST]["status"] == "ok" and results[WEST]["api_keys"] == 19
    assert results[EAST]["status"] == "error" and results[EAST]["level"] == "error"
    assert [r["status"] for r in records if r.get("event") == "audit_finished"] == ["incomplete"]
    collected = [r for r in records if "collected" in r["message"] and "tenant" in r]
    assert {r["tenant"] for r in collected} >= {WEST}
    drift = [r for r in records if r.get("event") == "drift"]
    assert drift and all(r["tenant"] == WEST for r in drift)

    # Complete: one tenant. `run --log-format json` (after the command) works the same.
    ok = cli("run", "--config", str(cfg), "--tenant", WEST, "--log-format", "json", env=env)
    assert ok.returncode == 0, ok.stderr
    assert [r["event"] for r in _records(ok) if r.get("event") == "audit_finished"]

    # A configuration error, a usage error and a bad --tenant: one JSON record each, exit 2.
    bad = tmp_path / "bad.yaml"
    bad.write_text("tenants:\n  - name: x\n    url: http://x.example.com\n    api_key: k\n")
    for args in (["run", "--config", str(bad)],
                 ["run", "--config", str(cfg), "--severity", "urgent"],
                 ["run", "--config", str(cfg), "--tenant", "nope-*"],
                 ["run", "--config", str(cfg), "--no-such-option"]):
        proc = cli("--log-format", "json", *args, env=env)
        assert proc.returncode == 2, (args, proc.stderr)
        (record,) = _records(proc)
        assert record["level"] == "error" and record["exit_code"] == 2, record
    assert "nope-*" in record["message"] or "no-such-option" in record["message"]


def test_at_80_columns_tenants_stay_apart_errors_stay_short_and_drift_names_its_tenant(
    tmp_path: Path, start_simulator: Any
) -> None:
    cfg, env = _two_tenants(tmp_path, start_simulator)
    proc = cli("run", "--config", str(cfg), env={**env, "COLUMNS": "80"})
    assert proc.returncode == 3, proc.stderr
    out = proc.stdout.splitlines()
    table = [line for line in out if line[:1] in "┏┃┡│└"]
    assert table and all(len(line) <= 80 for line in table), "\n".join(table)
    rows = [line for line in table if line.startswith("│")]
    assert len(rows) == 2  # one line per tenant: the error cell does not wrap
    assert any(f"│{WEST}" in r or f"│ {WEST}" in r for r in rows)
    (east,) = [r for r in rows if EAST in r]  # whole names: the two tenants stay apart
    assert "ERROR" in east and "…" in east
    end = max(i for i, line in enumerate(out) if line.startswith("└"))
    after = out[end + 1:]
    assert f"error: {EAST}: GetApiKeys: HTTP 503 Service Unavailable (gave up after" in after[0]
    drift = [line for line in after if line.startswith("drift: ")]
    assert drift and all(line.startswith(f"drift: {WEST}: ") for line in drift)
    # No HTTP-library chatter at the default verbosity; the reason is one line at the end.
    assert "urllib3" not in proc.stderr and "Retrying" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(f"soar-auditor: tenant {EAST} not audited:")


BOOM = """
import sys
import auditor.report.html as html
def page_context(result, context):
    raise KeyError("severity")
html.page_context = page_context
from auditor.cli import main
sys.argv = ["soar-auditor", *sys.argv[1:]]
main()
"""


def _boom(tmp_path: Path, *args: str, env: dict[str, str]) -> Any:
    """`soar-auditor ARGS` with a fault injected into the HTML report (a bug, as it would be)."""
    return cli(*args, env=env, python=[sys.executable, "-c", BOOM])


def test_an_unexpected_exception_is_one_line_naming_what_was_done(tmp_path: Path,
                                                                 start_simulator: Any) -> None:
    srv = start_simulator("demo")
    cfg = _config(tmp_path, [tenant_entry(srv, "acme-prod", "K")])
    env = {"K": srv.app_key}
    proc = _boom(tmp_path, "run", "--config", str(cfg), "--format", "html", env=env)
    assert proc.returncode == 3  # the audit could not finish: not 1 (failing findings)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("soar-auditor:")]
    assert errors == [
        "soar-auditor: run: unexpected KeyError while writing reports: 'severity'; rerun with -v "
        "for the traceback"], proc.stderr
    assert proc.stderr.splitlines()[-1] == errors[0]
    assert "Traceback" not in proc.stdout + proc.stderr

    verbose = _boom(tmp_path, "run", "--config", str(cfg), "--format", "html", "-v", env=env)
    assert verbose.returncode == 3
    assert "Traceback (most recent call last)" in verbose.stderr
    assert "in page_context\nKeyError: 'severity'" in verbose.stderr
    assert verbose.stderr.rstrip().splitlines()[-1] == (
        "soar-auditor: run: unexpected KeyError while writing reports: 'severity'")

    as_json = _boom(tmp_path, "--log-format", "json", "run", "--config", str(cfg), "--format",
                    "html", env=env)
    assert as_json.returncode == 3
    (record,) = [r for r in _records(as_json) if r.get("event") == "unexpected_error"]
    assert record["doing"] == "writing reports" and record["exception_type"] == "KeyError"
    assert record["command"] == "run" and record["exit_code"] == 3

    history = cli("history", "--state", f"sqlite:///{tmp_path / 'state.db'}", "--format", "json")
    assert {r["status"] for r in json.loads(history.stdout)} == {"failed"}


def test_where_an_unexpected_exception_happened_decides_its_words_and_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outermost frame in a stage of the audit names the activity; one while reading the
    configuration is exit 2 (nothing was audited), any other exit 3."""
    from auditor.cli.errors import INVOCATION, report_unexpected

    monkeypatch.setitem(INVOCATION, "command", None)  # no command line parsed here

    def raised_in(module: str) -> BaseException:
        scope: dict[str, Any] = {"__name__": module}
        exec("def load():\n    raise TypeError('boom')\n", scope)  # noqa: S102
        try:
            scope["load"]()
        except TypeError as exc:
            return exc
        raise AssertionError("unreachable")

    assert report_unexpected(raised_in("auditor.config.loader")) == 2
    assert report_unexpected(raised_in("auditor.notify.slack")) == 3
    assert report_unexpected(raised_in("somewhere.else")) == 3
    assert capsys.readouterr().err.splitlines() == [
        "soar-auditor: unexpected TypeError while reading the configuration: boom; rerun with -v "
        "for the traceback",
        "soar-auditor: unexpected TypeError while sending Slack alerts: boom; rerun with -v for "
        "the traceback",
        "soar-auditor: unexpected TypeError: boom; rerun with -v for the traceback"]
