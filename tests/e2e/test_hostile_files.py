"""Every command, fed hostile files: alias bombs, impossible dates, bytes that are not UTF-8,
duplicate keys, a cron that never fires (and, for `run`, a hostile exceptions file). Each one
exits 2 with one line naming the file, and never shows a traceback at default verbosity.

The commands run as real subprocesses under resource limits (address space and CPU time), so a
bomb that expanded would fail the test instead of passing by luck on a big machine."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.files.test_yamlsrc import ONE_LINE_BOMB

MEMORY_LIMIT = 1536 * 1024 * 1024  # bytes of address space: a bomb expanded needs far more
CPU_SECONDS = 30
BASE = ("tenants:\n  - name: acme\n    url: https://acme.example.com\n    api_key: ${K}\n"
        "state: sqlite:///state.db\n")
RULE = "id: ACME-X-001\ntitle: A rule\nseverity: low\n"
SCENARIO = "tenant: acme\nenvironments: []\n"

# kind -> (configuration, rule file, scenario); None where the kind has no meaning there
KINDS: dict[str, tuple[bytes, bytes | None, bytes | None]] = {
    "bomb": (
        (BASE + ONE_LINE_BOMB + "\n").encode(),
        (RULE + ONE_LINE_BOMB + "\n").encode(),
        (SCENARIO + ONE_LINE_BOMB + "\n").encode(),
    ),
    "bad-date": (
        (BASE + "rules:\n  params:\n    legacy_api_shutdown: 2027-02-30\n").encode(),
        (RULE + "description: 2027-02-30\n").encode(),
        (SCENARIO + "api_keys:\n  - id: 1\n    created: 2027-02-30\n").encode(),
    ),
    "not-utf8": (
        BASE.encode() + b"# caf\xe9\n",
        RULE.encode() + b"description: caf\xe9\n",
        SCENARIO.encode() + b"# caf\xe9\n",
    ),
    "duplicate-key": (
        (BASE + "retention_days: 30\nstate: sqlite:///other.db\n").encode(),
        (RULE + "severity: high\n").encode(),
        (SCENARIO + "tenant: beta\n").encode(),
    ),
    "cron-never-fires": ((BASE + "schedule:\n  cron: '0 2 30 2 *'\n").encode(), None, None),
    "deep-nesting": (
        (BASE + "x: " + "[" * 5000 + "\n").encode(),
        (RULE + "x: " + "[" * 5000 + "\n").encode(),
        (SCENARIO + "x: " + "[" * 5000 + "\n").encode(),
    ),
    "exceptions-bomb": ((BASE + "exceptions: exceptions.yaml\n").encode(), None, None),
}
EXPECTED = {"bomb": "aliases expand this document", "bad-date": "is not a valid date",
            "not-utf8": "not UTF-8 text: byte 0xe9 at byte offset",
            "duplicate-key": "duplicate key", "cron-never-fires": "never fires",
            "deep-nesting": "nested more than 64 levels deep",
            "exceptions-bomb": "aliases expand this document"}
CONFIG_COMMANDS = {
    "run": ["run", "--config", "{config}"],
    "history": ["history", "--config", "{config}"],
    "report": ["report", "--config", "{config}", "--run", "latest", "--out", "{dir}/out"],
    "notify --test": ["notify", "--config", "{config}", "--test"],
    "doctor": ["doctor", "--config", "{config}"],
    "capture": ["capture", "--config", "{config}", "--tenant", "acme", "--out", "{dir}/c.yaml"],
}
FILE_COMMANDS = {
    "rules validate": (["rules", "validate", "{rule}"], 1),
    "simulator --scenario": (["simulator", "--port", "0", "--scenario", "{scenario}"], 2),
}


def _limits() -> None:  # in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


@dataclass
class Outcome:
    kind: str
    code: int
    stdout: str
    stderr: str
    seconds: float


def _run(kind: str, args: list[str], cwd: Path) -> Outcome:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "SLACK_"))}
    env["K"] = "a-secret-value-123"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120, check=False,
                          preexec_fn=_limits)
    return Outcome(kind, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def _cases(tmp_path: Path, command: str) -> list[tuple[str, list[str], Path, str]]:
    cases = []
    for kind, (config, rule, scenario) in KINDS.items():
        folder = tmp_path / kind
        folder.mkdir()
        names = {"config": "auditor.yaml", "rule": "rule.yaml", "scenario": "scenario.yaml"}
        (folder / "auditor.yaml").write_bytes(config)
        if kind == "exceptions-bomb":
            (folder / "exceptions.yaml").write_text("- rule: A\n  " + ONE_LINE_BOMB + "\n")
        if command in CONFIG_COMMANDS:
            if command != "run" and kind == "exceptions-bomb":
                continue  # only an audit reads the exceptions file
            template, named = CONFIG_COMMANDS[command], "auditor.yaml"
        else:
            template, index = FILE_COMMANDS[command]
            content = (rule, scenario)[index - 1]
            if content is None:
                continue
            key = ("rule", "scenario")[index - 1]
            (folder / names[key]).write_bytes(content)
            named = names[key]
        args = [a.format(config=folder / "auditor.yaml", rule=folder / "rule.yaml",
                         scenario=folder / "scenario.yaml", dir=folder) for a in template]
        culprit = "exceptions.yaml" if kind == "exceptions-bomb" else named
        cases.append((kind, args, folder, str(folder / culprit)))
    return cases


@pytest.mark.parametrize("command", [*CONFIG_COMMANDS, *FILE_COMMANDS])
def test_every_command_refuses_hostile_files_with_one_line(tmp_path: Path, command: str) -> None:
    cases = _cases(tmp_path, command)
    assert len(cases) >= 5
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda c: (_run(c[0], c[1], c[2]), c[3]), cases))
    for outcome, culprit in outcomes:
        shown = f"{command} / {outcome.kind}: {outcome.code}\n{outcome.stdout}{outcome.stderr}"
        assert outcome.code == 2, shown
        assert "Traceback" not in outcome.stdout + outcome.stderr, shown
        output = (outcome.stdout + outcome.stderr).splitlines()  # rules validate: stdout
        errors = [line for line in output if culprit in line]
        assert len(errors) == 1, shown
        assert EXPECTED[outcome.kind] in errors[0], shown
        assert "a-secret-value-123" not in outcome.stdout + outcome.stderr
        if outcome.kind == "bomb":
            assert outcome.seconds < 15, shown  # process start included; the check is instant
