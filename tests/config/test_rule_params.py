"""`rules.params` is checked against the parameters the loaded rule files declare: a rule file
that declares a new parameter needs no Python, its default and an overriding value both decide
verdicts, and an unknown name, a wrong type or a value out of bounds is exit 2 naming file:line,
together with the other problems of the file."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from auditor.clock import FixedClock
from auditor.config import Config, ConfigError, RuleParams, load_config, parse_config
from auditor.pipeline import run_audit
from tests.e2e.helpers import cli

# A rule of its own with a parameter of its own, used in the condition, the message and the
# evidence.
ACME_RULE = """\
id: ACME-AGE-001
title: Keys older than the ACME limit
severity: low
description: ACME rotates keys on its own schedule.
remediation: Rotate {name}.
params:
  acme_max_age_days:
    type: int
    default: 90
    min: 1
    max: 3650
    description: Keys older than this many days break the ACME policy.
when:
  - {fact: age_days, gt: {param: acme_max_age_days}}
message: "{name} is older than {acme_max_age_days} days."
evidence: [age_days, acme_max_age_days]
"""
BASE = "tenants:\n  - name: acme\n    url: https://acme.example.com\n    api_key: ${K}\n"
ENV = {"K": "a-secret-value-123"}


def _rules(tmp_path: Path, text: str = ACME_RULE) -> Path:
    folder = tmp_path / "my-rules"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ACME-AGE-001.yaml").write_text(text, encoding="utf-8")
    return folder


def _config_file(tmp_path: Path, params: str) -> Path:
    _rules(tmp_path)
    cfg = tmp_path / "auditor.yaml"
    cfg.write_text(BASE + "rules:\n  paths: [my-rules]\n  params:\n" + params, encoding="utf-8")
    return cfg


def _problems(cfg: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(cfg, env=ENV)
    return caught.value.errors


def _audit_config(srv: Any, tmp_path: Path, folder: Path, **params: Any) -> Config:
    tmp_path = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}"
    tmp_path.mkdir()
    return parse_config({
        "tenants": [{"name": "acme-prod", "url": srv.url, "api_key": srv.app_key}],
        "rules": {"paths": [str(folder)], "params": params},
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        "reports": {"dir": str(tmp_path / "reports"), "formats": ["json"]},
    }, env={})


def _failing(config: Config, out: Path, clock: FixedClock) -> dict[int, str]:
    result = run_audit(config, now=clock.now(), out_dir=out)
    assert result.status == "complete"
    return {f.resource.id: f.message for f in result.findings
            if f.rule_id == "ACME-AGE-001" and f.status == "fail" and f.resource.id is not None}


def test_a_declared_parameter_decides_by_its_default_and_by_the_configuration(
        tmp_path: Path, start_simulator: Any, clock: FixedClock) -> None:
    srv = start_simulator("demo")
    folder = _rules(tmp_path)
    by_default = _failing(_audit_config(srv, tmp_path, folder), tmp_path / "1", clock)
    # The demo's keys older than 90 days (SOAR-AGE-001 finds the same ones with its own 90).
    assert set(by_default) == {105, 107, 117}
    assert all(m.endswith("is older than 90 days.") for m in by_default.values())
    stricter = _failing(_audit_config(srv, tmp_path, folder, acme_max_age_days=1),
                        tmp_path / "2", clock)
    assert set(by_default) < set(stricter)
    assert all(m.endswith("is older than 1 days.") for m in stricter.values())
    laxer = _failing(_audit_config(srv, tmp_path, folder, acme_max_age_days=3650),
                     tmp_path / "3", clock)
    assert laxer == {}
    # A different default in the file is a different verdict, with no configuration change.
    folder2 = _rules(tmp_path / "other", ACME_RULE.replace("default: 90", "default: 3650"))
    assert _failing(_audit_config(srv, tmp_path, folder2), tmp_path / "4", clock) == {}


def test_the_typed_view_holds_the_declared_parameters(tmp_path: Path) -> None:
    config = load_config(_config_file(tmp_path, "    acme_max_age_days: 45\n"), env=ENV)
    params = config.rules.params
    assert isinstance(params, RuleParams)
    assert params.model_dump()["acme_max_age_days"] == 45
    # Parameters of the built-in pack keep their defaults and their types.
    assert params.max_key_age_days == 90
    assert params.legacy_api_shutdown == date(2027, 3, 31)
    overridden = load_config(_config_file(tmp_path, "    legacy_api_shutdown: 2027-09-30\n"
                                                    "    legacy_api_warning_days: 60\n"), env=ENV)
    assert overridden.rules.params.legacy_api_shutdown == date(2027, 9, 30)
    assert overridden.rules.params.legacy_api_warning_days == 60
    assert overridden.rules.params.model_dump()["acme_max_age_days"] == 90


def test_unknown_wrong_type_and_out_of_bounds_are_reported_together(tmp_path: Path) -> None:
    cfg = _config_file(tmp_path, "    acme_max_age_dayz: 45\n"
                                 "    max_key_age_days: ninety\n"
                                 "    acme_max_age_days: 0\n"
                                 "    legacy_api_warning_days: 9999\n")
    with cfg.open("a", encoding="utf-8") as handle:
        handle.write("bogus: 1\n")
    assert _problems(cfg) == [
        f"{cfg}:8: rules.params.acme_max_age_dayz: unknown rule parameter; no loaded rule file "
        "declares it (did you mean 'acme_max_age_days'?)",
        f"{cfg}:9: rules.params.max_key_age_days: must be a whole number, not 'ninety'",
        f"{cfg}:10: rules.params.acme_max_age_days: must be at least 1, not 0",
        f"{cfg}:11: rules.params.legacy_api_warning_days: must be at most 3650, not 9999",
        f"{cfg}:12: bogus: unknown setting",
    ]


def test_a_parameter_of_a_rule_file_not_loaded_is_unknown(tmp_path: Path) -> None:
    cfg = tmp_path / "auditor.yaml"
    cfg.write_text(BASE + "rules:\n  params:\n    acme_max_age_days: 45\n", encoding="utf-8")
    assert _problems(cfg) == [
        f"{cfg}:7: rules.params.acme_max_age_days: unknown rule parameter; no loaded rule file "
        "declares it (did you mean 'max_key_age_days'?)"]


@pytest.mark.parametrize(
    ("params", "line", "problem"),
    [
        ("    acme_max_age_dayz: 45\n", 8,
         "rules.params.acme_max_age_dayz: unknown rule parameter"),
        ("    acme_max_age_days: [1]\n", 8, "rules.params.acme_max_age_days: must be a whole "
                                            "number, not [1]"),
        ("    include_system_keys: 'yes'\n", 8, "rules.params.include_system_keys: must be true "
                                                "or false"),
        ("    admin_permission_groups: Admins\n", 8, "rules.params.admin_permission_groups: must "
                                                     "be a list of text"),
    ],
)
def test_the_command_line_exits_2_naming_file_and_line(tmp_path: Path, params: str, line: int,
                                                       problem: str) -> None:
    cfg = _config_file(tmp_path, params)
    proc = cli("run", "--config", str(cfg), env=ENV)
    assert proc.returncode == 2, proc.stderr
    assert f"auditor.yaml:{line}: {problem}" in proc.stderr
    assert "a-secret-value-123" not in proc.stderr


def test_a_broken_declaration_is_a_configuration_error_too(tmp_path: Path) -> None:
    folder = _rules(tmp_path, ACME_RULE.replace("type: int", "type: float"))
    cfg = tmp_path / "auditor.yaml"
    cfg.write_text(BASE + f"rules:\n  paths: [{folder}]\n", encoding="utf-8")
    problems = _problems(cfg)
    assert len(problems) == 1
    assert problems[0].startswith(f"{folder / 'ACME-AGE-001.yaml'}:8: params.acme_max_age_days"
                                  ".type: ")
