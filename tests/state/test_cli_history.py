"""`soar-auditor history` and `soar-auditor report --run ID`, through the real click command."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from state_helpers import DAY, T0, finding, run

from auditor.cli import main
from auditor.state import Store, open_store


def _two_runs(store: Store) -> tuple[str, str]:
    first = run(T0, {"acme": [finding("SOAR-PG-001", 1), finding("SOAR-AGE-001", 2)]})
    store.record_run(first)
    second = run(
        T0 + DAY,
        {
            "acme": [finding("SOAR-AGE-001", 2), finding("SOAR-ENV-002", 3, severity="medium")],
            "beta\x1b[31m": "HTTP 503\x1b]8;;evil\x07",
        },
    )
    store.record_run(second)
    return first.run_id, second.run_id


def _invoke(args: list[str], state: str) -> tuple[int, str, str]:
    # The URL goes through the environment: a PostgreSQL URL carries the test server's password.
    result = CliRunner().invoke(
        main, args, env={"SOAR_AUDITOR_STATE": state}, catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def test_history_json_and_table(store_url: str, store: Store) -> None:
    first, second = _two_runs(store)
    code, out, _ = _invoke(["history", "--format", "json"], store_url)
    assert code == 0
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [second, first]
    assert rows[0]["status"] == "incomplete"
    acme = next(t for t in rows[0]["tenants"] if t["name"] == "acme")
    assert (acme["failing"], acme["new"], acme["resolved"]) == (2, 1, 1)
    beta = next(t for t in rows[0]["tenants"] if t["name"] != "acme")
    assert beta["status"] == "error" and beta["new"] == 1
    assert rows[1]["new"] == 2

    code, out, _ = _invoke(["history", "--limit", "1"], store_url)
    assert code == 0
    assert second in out and first not in out
    assert "acme" in out and "incomplete" in out and "HTTP 503" in out
    assert "\x1b]8" not in out and "\x1b[31m" not in out  # hostile names are made inert


def test_report_rerenders_a_stored_run(store_url: str, store: Store, tmp_path: Path) -> None:
    first, second = _two_runs(store)
    out_dir = tmp_path / "again"
    code, out, err = _invoke(
        ["report", "--run", first, "--out", str(out_dir), "--format", "csv"], store_url
    )
    assert code == 0, err
    assert (out_dir / "findings.json").is_file() and (out_dir / "findings.csv").is_file()
    assert str(out_dir / "findings.csv") in out.splitlines()
    doc = json.loads((out_dir / "findings.json").read_text())
    assert doc == store.load_run(first).to_dict()
    assert doc["run"]["id"] == first and doc["summary"]["new"] == 2

    code, _, err = _invoke(["report", "--out", str(tmp_path / "latest")], store_url)
    assert code == 0, err
    latest = json.loads((tmp_path / "latest" / "findings.json").read_text())
    assert latest["run"]["id"] == second
    assert {f["lifecycle"] for f in latest["findings"]} == {"open", "new", "resolved"}
    assert (tmp_path / "latest" / "report.html").is_file()


def test_report_unknown_run(store_url: str, store: Store, tmp_path: Path) -> None:
    _two_runs(store)
    code, _, err = _invoke(
        ["report", "--run", "20000101T000000Z", "--out", str(tmp_path)], store_url
    )
    assert code == 2
    assert "no stored run has the id '20000101T000000Z'" in err


def test_history_from_config_resolves_sqlite_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "auditor.yaml").write_text(
        "tenants:\n  - name: acme\n    url: http://127.0.0.1:9\n    api_key: k-123456\n"
        "state: sqlite:///data/state.db\nreports:\n  dir: out\n"
    )
    store = open_store(f"sqlite:///{folder}/data/state.db")
    try:
        first, second = _two_runs(store)
    finally:
        store.close()
    monkeypatch.chdir(tmp_path)  # the path is relative to the configuration's folder, not here
    runner = CliRunner()
    res = runner.invoke(
        main, ["history", "--config", str(folder / "auditor.yaml"), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    assert [r["id"] for r in json.loads(res.stdout)] == [second, first]
    res = runner.invoke(main, ["report", "--config", str(folder / "auditor.yaml"), "--run", first])
    assert res.exit_code == 0, res.output
    assert (folder / "out" / first / "findings.json").is_file()
    assert (folder / "out" / first / "report.html").is_file()  # reports.formats default
    assert not (tmp_path / "data").exists()


def test_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["history"], env={"SOAR_AUDITOR_STATE": None})
    assert res.exit_code == 2 and "--config FILE or --state URL" in res.output
    res = runner.invoke(main, ["history", "--state", "postgresql://u:pa55word@127.0.0.1:1/x"])
    assert res.exit_code == 2
    assert "must not carry a password" in res.output and "pa55word" not in res.output
    res = runner.invoke(main, ["history", "--state", "mysql://u@h/x"])
    assert res.exit_code == 2 and "unsupported database" in res.stderr
    res = runner.invoke(main, ["history", "--config", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "cannot read the configuration" in res.stderr


def test_empty_store(make_store: Callable[..., Store], store_url: str) -> None:
    make_store()
    code, out, _ = _invoke(["history"], store_url)
    assert code == 0 and "No audit is stored yet" in out
    code, _, err = _invoke(["report"], store_url)
    assert code == 2 and "no finished run yet" in err
