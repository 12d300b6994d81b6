"""Every configuration problem: one clear line naming file, line and field, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.helpers import cli

BASE = "tenants:\n  - name: acme\n    url: https://acme.example.com\n    api_key: ${K}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE + "bogus: 1\n", "auditor.yaml:5: bogus: unknown setting"),
        (BASE.replace("https://acme.example.com", "http://acme.example.com"),
         "auditor.yaml:3: tenants[0].url: must be https://"),
        (BASE.replace("${K}", "${MISSING_VAR}"),
         "tenants[0].api_key: environment variable MISSING_VAR is not set"),
        (BASE + "schedule:\n  cron: '0 25 * * *'\n", "auditor.yaml:6: schedule.cron: invalid cron"),
        (BASE + "rules:\n  params:\n    key_name_pattern: '[a-'\n",
         "auditor.yaml:7: rules.params.key_name_pattern: not a valid regular expression"),
        (BASE + "tenants: [", "auditor.yaml:5: not valid YAML"),
        (BASE + "  - name: acme\n    url: https://b.example.com\n    api_key: x\n",
         "tenants: tenant name 'acme' is used twice"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(tmp_path: Path, text: str,
                                                 expected: str) -> None:
    cfg = tmp_path / "auditor.yaml"
    cfg.write_text(text)
    proc = cli("run", "--config", str(cfg), env={"K": "a-secret-value-123"})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
    assert "a-secret-value-123" not in proc.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    proc = cli("run", "--config", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2
    assert "nope.yaml: cannot read the configuration" in proc.stderr


def test_version_and_help_start_fast() -> None:
    proc = cli("--version")
    assert proc.returncode == 0 and "soar-auditor, version 0.1.0" in proc.stdout
    helptext = cli("--help").stdout
    for command in ("run", "demo", "rules", "simulator", "history", "schedule", "doctor"):
        assert command in helptext
