"""The configuration file as hostile input: every problem at once, each `file:line: field:
problem`; secrets; paths relative to the file; a cron that never fires; store-only loading."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from auditor.config import ConfigError, load_config
from auditor.pipeline import run_audit

ENV = {"K": "a-secret-value-123"}


def write(folder: Path, text: str, name: str = "auditor.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, env: dict[str, str] | None = None, **kw: bool) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV if env is None else env, **kw)
    return caught.value.errors


def test_every_problem_of_the_file_at_once(tmp_path: Path) -> None:
    cfg = write(tmp_path, (
        "tenants:\n"
        "  - name: acme\n"
        "    url: http://acme.example.com\n"       # 3: not https
        "    api_key: ${K}\n"
        "  - name: beta\n"
        "    url: ${BETA_URL}\n"                    # 6: unset
        "    api_key: ${K}\n"
        "    timeout_seconds: -1\n"                 # 8: out of range
        "retention_days: 0\n"                       # 9
        "schedule:\n"
        "  timezone: Mars/Olympus\n"                # 11
        "bogus: 1\n"                                # 12
    ))
    errors = problems(cfg)
    assert errors == [
        f"{cfg}:3: tenants[0].url: must be https:// (plain http:// is accepted only for "
        "loopback hosts)",
        f"{cfg}:6: tenants[1].url: environment variable BETA_URL is not set",
        f"{cfg}:8: tenants[1].timeout_seconds: Input should be greater than 0",
        f"{cfg}:9: retention_days: Input should be greater than or equal to 1",
        f"{cfg}:11: schedule.timezone: unknown IANA time zone 'Mars/Olympus'",
        f"{cfg}:12: bogus: unknown setting",
    ]
    with pytest.raises(ConfigError) as caught:
        load_config(cfg, env=ENV)
    assert str(caught.value) == "; ".join(errors)  # one line, every problem


def test_an_unset_variable_names_file_and_line(tmp_path: Path) -> None:
    cfg = write(tmp_path, "tenants:\n  - name: acme\n    url: https://a.example.com\n"
                          "    api_key: ${ACME_KEY}\n")
    assert problems(cfg, env={}) == [
        f"{cfg}:4: tenants[0].api_key: environment variable ACME_KEY is not set"]


def test_yaml_problems_name_file_and_line(tmp_path: Path) -> None:
    dup = write(tmp_path, "tenants: []\nstate: sqlite:///a.db\nretention_days: 9\n"
                          "state: sqlite:///b.db\n")
    assert problems(dup) == [f"{dup}:4: duplicate key 'state' (first at line 2)"]
    date = write(tmp_path, "tenants: []\nrules:\n  params:\n    legacy_api_shutdown: 2027-02-30\n",
                 "date.yaml")
    assert problems(date) == [
        f"{date}:4: rules.params.legacy_api_shutdown: '2027-02-30' is not a valid date"]
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"tenants: []\n# caf\xe9\n")
    assert problems(latin) == [f"{latin}:2: not UTF-8 text: byte 0xe9 at byte offset 17 cannot "
                               "be decoded (save the file as UTF-8)"]


def test_a_literal_api_key_is_accepted_with_a_warning(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    cfg = write(tmp_path, "tenants:\n  - name: acme\n    url: https://a.example.com\n"
                          "    api_key: literal-key-0123456789\n")
    with caplog.at_level(logging.WARNING, logger="auditor.config"):
        config = load_config(cfg, env={})
    assert config.tenants[0].api_key is not None
    assert config.tenants[0].api_key.get_secret_value() == "literal-key-0123456789"
    assert config.warnings == [
        f"{cfg}:4: tenants[0].api_key: a secret written into the file (accepted); secrets "
        "belong in ${VAR} or api_key_file"]
    assert [r.getMessage() for r in caplog.records] == config.warnings
    assert "literal-key-0123456789" not in caplog.text
    via_env = write(tmp_path, "tenants:\n  - name: acme\n    url: https://a.example.com\n"
                              "    api_key: ${K}\n", "env.yaml")
    assert load_config(via_env, env=ENV).warnings == []


def test_files_are_relative_to_the_configuration(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "etc"
    (conf / "secrets").mkdir(parents=True)
    (conf / "secrets" / "acme.key").write_text("key-from-a-file-0001\n")
    (conf / "secrets" / "hook").write_text("https://hooks.slack.com/services/T/B/x\n")
    (conf / "ca.pem").write_text("not parsed at load time\n")
    (conf / "sa.json").write_text("{}")
    write(conf, (
        "tenants:\n"
        "  - name: acme\n"
        "    url: https://a.example.com\n"
        "    api_key_file: secrets/acme.key\n"
        "    ca_bundle: ca.pem\n"
        "  - name: gcp\n"
        "    url: https://g.example.com\n"
        "    auth: google\n"
        "    google_credentials_file: sa.json\n"
        "    chronicle: {project: acme-secops, instance: abc, google_credentials_file: sa.json}\n"
        "slack:\n"
        "  webhook_url_file: secrets/hook\n"
        "  ca_bundle: ca.pem\n"
    ))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working folder has no say
    config = load_config(Path("..") / "etc" / "auditor.yaml", env={})  # a relative path too
    acme, gcp = config.tenants
    assert acme.api_key is not None and acme.api_key.get_secret_value() == "key-from-a-file-0001"
    assert Path(acme.api_key_file or "").resolve() == (conf / "secrets" / "acme.key").resolve()
    assert Path(acme.ca_bundle or "").resolve() == (conf / "ca.pem").resolve()
    assert Path(gcp.google_credentials_file or "").resolve() == (conf / "sa.json").resolve()
    assert gcp.chronicle is not None
    assert Path(gcp.chronicle.google_credentials_file or "").resolve() == (conf / "sa.json"
                                                                          ).resolve()
    assert config.slack is not None and config.slack.webhook_url is not None
    assert Path(config.slack.ca_bundle or "").resolve() == (conf / "ca.pem").resolve()
    missing = write(conf, "tenants:\n  - name: a\n    url: https://a.example.com\n"
                          "    api_key_file: nope.key\n", "missing.yaml")
    (error,) = problems(missing, env={})
    assert error.startswith(f"{missing}:2: tenants[0]: api_key_file: cannot read {conf}/nope.key")


@pytest.mark.parametrize(("cron", "ok"), [
    ("0 2 30 2 *", False),              # February has no 30th
    ("0 0 31 4,6,9,11 *", False),       # nor have those months a 31st
    ("0 0 29 2 *", True),               # leap years
    ("0 0 30 2 mon", True),             # crontab: day OR weekday
    ("0 2 * * *", True),
])
def test_a_cron_that_never_fires_is_refused_at_load(tmp_path: Path, cron: str, ok: bool) -> None:
    cfg = write(tmp_path, "tenants:\n  - name: a\n    url: https://a.example.com\n"
                          f"    api_key: ${{K}}\nschedule:\n  cron: '{cron}'\n")
    if ok:
        assert load_config(cfg, env=ENV).schedule.cron == cron
        return
    (error,) = problems(cfg)
    assert error == (f"{cfg}:6: schedule.cron: '{cron}' never fires (that day of the month does "
                     "not occur in the months given); the scheduler would never audit")


def test_store_only_needs_no_tenant_secret(tmp_path: Path) -> None:
    cfg = write(tmp_path, (
        "tenants:\n"
        "  - name: acme\n"
        "    url: ${ACME_URL}\n"
        "    api_key: ${ACME_KEY}\n"
        "  - name: beta\n"
        "    api_key_file: /nonexistent/key\n"
        "slack:\n  webhook_url: ${HOOK}\n"
        "state: sqlite:///state/${STATE_NAME}.db\n"
        "reports: {dir: out}\n"
    ))
    assert len(problems(cfg, env={"STATE_NAME": "s"})) == 4  # a full load needs every secret
    config = load_config(cfg, env={"STATE_NAME": "s"}, store_only=True)
    assert config.store_only and [t.name for t in config.tenants] == ["acme", "beta"]
    assert config.state == "sqlite:///state/s.db" and config.slack is None
    # what the store commands need is still checked
    assert problems(cfg, env={}, store_only=True) == [
        f"{cfg}:9: state: environment variable STATE_NAME is not set"]
    with pytest.raises(ConfigError, match="loaded for reading the state store only"):
        run_audit(config)
