"""Every command ends on a problem it recognises the same way (auditor.cli.errors.fail): one line
on stderr naming what is wrong (``soar-auditor: ...``), the documented exit code, no traceback;
in ``--log-format json`` one JSON record carrying that exit code."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.logs import setup_logging

ENV = {"SOAR_KEY": "soar-test-key-0001", "SOAR_AUDITOR_STATE": None,
       "SOAR_AUDITOR_HEARTBEAT_FILE": None}


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """A json-mode invocation leaves the process in json mode: put it back for the next test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    setup_logging(0, "text")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _config(folder: Path) -> Path:
    path = folder / "auditor.yaml"
    path.write_text(yaml.safe_dump({
        "tenants": [{"name": "acme", "url": "http://127.0.0.1:9", "api_key": "${SOAR_KEY}"}],
        "state": "sqlite:///state.db",
    }), encoding="utf-8")
    return path


# (arguments, with {config} the good file and {dir} the test's folder; exit code; what the line
# says after the prefix, word for word, up to where it names a path of the test)
CASES: list[tuple[list[str], int, str]] = [
    (["run", "--config", "{dir}/missing.yaml"], 2, "{dir}/missing.yaml"),
    (["report", "--config", "{dir}/missing.yaml"], 2, "{dir}/missing.yaml"),
    (["history", "--config", "{dir}/missing.yaml"], 2, "{dir}/missing.yaml"),
    (["schedule", "--config", "{dir}/missing.yaml"], 2, "{dir}/missing.yaml"),
    (["doctor", "--config", "{dir}/missing.yaml"], 2, "{dir}/missing.yaml"),
    (["doctor", "--config", "{config}", "--tenant", "nope"], 2,
     "--tenant: no tenant named nope in {config}"),
    (["capture", "--config", "{config}", "--tenant", "nope", "--out", "{dir}/c.yaml"], 2,
     "--tenant: no tenant named 'nope' (tenants: acme)"),
    (["notify", "--config", "{config}"], 2, "notify: give exactly one of --test or --retry"),
    (["notify", "--config", "{config}", "--test"], 2,
     "{config}: there is no slack: section, so there is nothing to notify"),
    (["healthcheck", "--heartbeat-file", "{dir}/hb.json"], 1,
     "unhealthy: no heartbeat at {dir}/hb.json (is `soar-auditor schedule` running?)"),
    (["simulator", "--host", "192.0.2.1"], 2,
     "--host must be a loopback address, not '192.0.2.1'"),
]


def _invoke(args: list[str], folder: Path, *, json_logs: bool = False) -> tuple[Result, str]:
    config = _config(folder)
    argv = [a.format(config=config, dir=folder) for a in args]
    if json_logs:
        argv = ["--log-format", "json", *argv]
    return CliRunner().invoke(main, argv, env=ENV), str(config)


@pytest.mark.parametrize(("args", "code", "says"), CASES, ids=[" ".join(c[0][:2]) + f" {i}"
                                                            for i, c in enumerate(CASES)])
def test_a_recognised_problem_is_one_line_and_the_documented_exit_code(
        tmp_path: Path, args: list[str], code: int, says: str) -> None:
    res, config = _invoke(args, tmp_path)
    assert res.exit_code == code, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("soar-auditor: " + says.format(config=config, dir=tmp_path))
    assert "Traceback" not in res.output
    assert res.stdout == ""


@pytest.mark.parametrize(("args", "code", "says"), CASES, ids=[" ".join(c[0][:2]) + f" {i}"
                                                            for i, c in enumerate(CASES)])
def test_in_json_mode_it_is_one_record_with_the_exit_code(
        tmp_path: Path, args: list[str], code: int, says: str) -> None:
    res, config = _invoke(args, tmp_path, json_logs=True)
    assert res.exit_code == code, res.output
    (line,) = res.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "error"
    assert record["exit_code"] == code
    assert record["message"].startswith(says.format(config=config, dir=tmp_path))


def test_every_activity_of_the_one_line_error_names_a_module_that_exists() -> None:
    """The unexpected-error line says what was being done from the module names of its stack:
    a module that moved (health.py into schedule/) must not leave its name behind."""
    import importlib.util

    from auditor.cli.errors import ACTIVITIES

    missing = [prefix for prefix, _ in ACTIVITIES if importlib.util.find_spec(prefix) is None]
    assert not missing
