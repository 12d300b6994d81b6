"""`soar-auditor doctor` and `soar-auditor capture`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from auditor.cli import clock_of
from auditor.cli.errors import EXIT_CONFIG, EXIT_PROBLEM, fail
from auditor.cli.output import say
from auditor.config import Config, ConfigError, load_config
from auditor.textsafe import term_safe

# doctor is interactive: one quick retry, not the audit's patient backoff
DOCTOR_RETRIES = 1


def _load(config_path: str) -> Config:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="The YAML configuration file.")
@click.option("--tenant", "tenants", multiple=True, metavar="NAME",
              help="Check only this tenant (repeatable); Slack and the state store always.")
def doctor(config_path: str, tenants: tuple[str, ...]) -> None:
    """Check each tenant (DNS, connection, TLS, authentication, API shapes), Slack and the state
    store. One line per check; each problem names its fix. Exit 0 when no check failed
    (warnings allowed), 1 when one did, 2 for a bad configuration."""
    from auditor.doctor import Check, run_doctor
    from auditor.soar.client import RetryPolicy

    config = _load(config_path)
    unknown = sorted(set(tenants) - {t.name for t in config.tenants})
    if unknown:
        fail(f"--tenant: no tenant named {', '.join(unknown)} in {config_path}", EXIT_CONFIG)
    counts = {"fail": 0, "warn": 0}

    tenant_names = {t.name for t in config.tenants}

    def emit(check: Check) -> None:
        counts[check.status] = counts.get(check.status, 0) + 1
        say(check.line(), level={"fail": "error", "warn": "warning"}.get(check.status, "info"),
            event="check", tenant=check.scope if check.scope in tenant_names else None,
            scope=check.scope, check=check.name, status=check.status, fix=check.fix)

    retry = RetryPolicy(total=DOCTOR_RETRIES, backoff_factor=0.2, backoff_jitter=0.1)
    ok = run_doctor(config, emit, tenants=list(tenants) or None, retry=retry)
    problems, warnings = counts["fail"], counts["warn"]
    if ok:
        say("doctor: no problem found" + (f" ({warnings} warning(s))" if warnings else ""),
            event="doctor_finished", problems=0, warnings=warnings)
        return
    say(f"doctor: {problems} problem(s), {warnings} warning(s)", level="error",
        event="doctor_finished", problems=problems, warnings=warnings)
    sys.exit(EXIT_PROBLEM)


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="The YAML configuration file.")
@click.option("--tenant", "tenant_name", required=True, metavar="NAME",
              help="The tenant to capture.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The scenario file to write (YAML).")
@click.option("--anonymize", is_flag=True,
              help="Replace names of keys, environments, groups and roles by pseudonyms.")
def capture(config_path: str, tenant_name: str, out: Path, anonymize: bool) -> None:
    """Record one tenant's API answers into a simulator scenario, secrets removed; replay it
    with `soar-auditor simulator --scenario FILE`. Exit 0 written, 1 not captured, 2 usage."""
    from auditor.capture import REPLAY_APP_KEY, CaptureError, capture_tenant, write_capture

    config = _load(config_path)
    tenant = next((t for t in config.tenants if t.name == tenant_name), None)
    if tenant is None:
        names = ", ".join(t.name for t in config.tenants)
        fail(f"--tenant: no tenant named {tenant_name!r} (tenants: {names})", EXIT_CONFIG)
    try:
        result, text = capture_tenant(
            tenant, anonymize=anonymize, now=clock_of().now(),
            keep=[*config.rules.params.admin_permission_groups,
                  *config.rules.params.privileged_soc_roles],
        )
        write_capture(text, out)
    except CaptureError as exc:
        fail(f"capture: {exc}", EXIT_PROBLEM)
    except OSError as exc:
        fail(f"capture: cannot write {out}: {exc.strerror or exc}", EXIT_PROBLEM)
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in result.counts.items())
    name = tenant.name
    say(f"captured {name}: {counts}", event="captured", tenant=name, counts=result.counts)
    say(f"secrets removed: {result.removed} value(s)"
        + (f"; names replaced: {result.pseudonyms}" if anonymize else ""), tenant=name)
    for note in result.notes:
        say(f"note: {note}", level="warning", event="note", tenant=name)
    say(f"written: {out}", event="capture_written", tenant=name, path=str(out))
    say(f"replay:  soar-auditor simulator --scenario {term_safe(str(out))}  "
        f"(AppKey {REPLAY_APP_KEY})", tenant=name, scrubbed=False)  # the replay's key: public
