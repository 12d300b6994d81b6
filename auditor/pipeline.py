"""One audit, start to end: collect -> evaluate -> exceptions -> remember -> report -> notify.

Each stage hands the next a plain typed value; this module only puts them in order.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor import __version__
from auditor.clock import SYSTEM_CLOCK, Clock
from auditor.config import Config, ConfigError, resolve_path
from auditor.engine.findings import SEVERITY_RANK, Finding
from auditor.result import RunResult, TenantResult
from auditor.schedule.shard import select_shard, shard_scope
from auditor.soar.models import DriftNote, TenantCollection
from auditor.state.errors import OutputsNotWritten

if TYPE_CHECKING:
    from auditor.engine.exceptions import ExceptionEntry
    from auditor.engine.rules import Rule
    from auditor.state import Store

log = logging.getLogger("auditor.pipeline")

Progress = Callable[[str, str], None]  # (tenant, event) — events: "start", "ok", "error"
# What the outputs show of a run: (result, rule catalog) -> (result, catalog) narrowed, e.g. by
# `run --severity`; the store, Slack and the exit code always get the whole result.
ReportView = Callable[[RunResult, list[dict[str, Any]]], tuple[RunResult, list[dict[str, Any]]]]


@dataclass(slots=True)
class Prepared:
    """Everything that can be checked before touching any tenant (a problem here is exit 2)."""

    rules: list[Rule]
    exceptions: list[ExceptionEntry] = field(default_factory=list)


def run_id_for(now: datetime, shard: tuple[int, int] | None = None) -> str:
    """The run id: UTC start time (YYYYMMDDTHHMMSSZ), plus ``-shardIofN`` for a sharded run, so
    that the shards of one night are distinct runs in a shared store."""
    base = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return base if shard is None else f"{base}-{shard_scope(shard)}"


def prepare(config: Config) -> Prepared:
    """Load and validate the rules and the exceptions file (raises ConfigError)."""
    from auditor.engine.exceptions import ExceptionsError, load_exceptions
    from auditor.engine.rules import RuleError, load_rules

    try:
        rules = load_rules(
            [resolve_path(config, p) for p in config.rules.paths], config.rules.disabled
        )
    except RuleError as exc:
        raise ConfigError(str(exc)) from None
    entries: list[ExceptionEntry] = []
    if config.exceptions:
        try:
            entries = load_exceptions(resolve_path(config, config.exceptions))
        except ExceptionsError as exc:
            raise ConfigError(str(exc)) from None
    return Prepared(rules=rules, exceptions=entries)


def rule_catalog(rules: list[Rule]) -> list[dict[str, Any]]:
    return [rule.catalog_entry() for rule in rules]


def evaluate(
    collections: list[TenantCollection],
    prepared: Prepared,
    config: Config,
    store: Store | None,
    now: datetime,
) -> tuple[list[TenantResult], list[Finding], dict[str, int]]:
    from auditor.engine.evaluate import (
        evaluate_tenant,
        not_applicable,
        resources_checked,
        tenant_not_audited,
    )

    tenants: list[TenantResult] = []
    findings: list[Finding] = []
    checks: dict[str, int] = {}
    params = config.rules.params
    for col in collections:
        if col.inventory is not None and col.error is None:
            inv = col.inventory
            history = store.tenant_history(col.tenant) if store is not None else None
            findings.extend(evaluate_tenant(inv, history, prepared.rules, params, now))
            # Rules of a surface the tenant was not read over are not applicable there: they
            # count no check, and the tenant lists them.
            for rule_id, count in resources_checked(inv, prepared.rules, params).items():
                checks[rule_id] = checks.get(rule_id, 0) + count
            tenants.append(TenantResult(col.tenant, "ok", None, inv.counts(), auth=inv.auth,
                                        not_applicable=not_applicable(inv, prepared.rules),
                                        surfaces=list(inv.surfaces)))
        else:
            error = col.error or "collection failed"
            findings.append(tenant_not_audited(col.tenant, error, prepared.rules))
            for rule in prepared.rules:
                if rule.resource == "tenant":
                    checks[rule.id] = checks.get(rule.id, 0) + 1
            tenants.append(TenantResult(col.tenant, "error", error, {}, auth=col.auth,
                                        surfaces=list(col.surfaces)))
    return tenants, findings, checks


@contextmanager
def _store_for(config: Config, store: Store | None,
               clock: Clock = SYSTEM_CLOCK) -> Iterator[Store]:
    if store is not None:
        yield store
        return
    from auditor.state import open_store, state_url

    own = open_store(state_url(config), retention_days=config.retention_days, clock=clock)
    try:
        yield own
    finally:
        own.close()


def output_dir(config: Config, result: RunResult, out_dir: Path | None) -> Path:
    if out_dir is not None:
        return out_dir
    return resolve_path(config, config.reports.dir) / result.run_id


def _point_latest(target: Path) -> None:
    """Keep <reports.dir>/latest pointing at the newest run (a relative symlink)."""
    latest = target.parent / "latest"
    tmp = target.parent / f".latest.{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(target.name, target_is_directory=True)
        os.replace(tmp, latest)
    except OSError as exc:  # e.g. a filesystem without symlinks: the run is still complete
        log.warning("could not update %s: %s", latest, exc.strerror)


def run_audit(
    config: Config,
    *,
    store: Store | None = None,
    now: datetime | None = None,
    out_dir: Path | None = None,
    shard: tuple[int, int] | None = None,
    progress: Progress | None = None,
    notify: bool = True,
    lock_timeout: float | None = None,
    clock: Clock = SYSTEM_CLOCK,
    report_view: ReportView | None = None,
    on_begin: Callable[[str], None] | None = None,
) -> RunResult:
    """One audit of every tenant of ``config`` (or of one shard of them).

    The run is dated ``now`` when given, else by ``clock`` when the audit lock is held; the store
    the audit opens itself (no ``store``) takes its timestamps from ``clock`` too.
    ``report_view`` narrows what the outputs show (not what is stored, alerted or returned);
    ``on_begin`` is told the run id once the run is recorded as running.
    """
    from auditor.report import ReportContext, write_reports
    from auditor.soar.collect import collect_all

    if config.store_only:
        raise ConfigError(f"{config.source}: loaded for reading the state store only; "
                          "an audit needs the whole configuration")
    prepared = prepare(config)
    _check_writable(out_dir if out_dir is not None else resolve_path(config, config.reports.dir))
    started = (now or clock.now()).astimezone(UTC).replace(microsecond=0)
    tenants_cfg = list(config.tenants)
    scope: str | None = None  # unsharded: the whole store; a shard: its own lock, in parallel
    if shard is not None:
        tenants_cfg = select_shard(tenants_cfg, shard)
        scope = shard_scope(shard)

    guard = _RecordGuard()
    with (
        _store_for(config, store, clock) as st,
        st.audit_lock(wait=True, timeout=lock_timeout, scope=scope),
        guard.failed_unless_recorded(st),
    ):
        if now is None:  # the audit starts when it holds the lock, not when it asked for it
            started = clock.now().replace(microsecond=0)
        started = _begin(st, started, shard, fixed=now is not None, clock=clock)
        guard.begun(run_id_for(started, shard), started)
        if on_begin is not None:
            on_begin(run_id_for(started, shard))
        timer = time.monotonic()
        log.info("audit %s: %d tenant(s)", run_id_for(started, shard), len(tenants_cfg))
        collections = collect_all(
            tenants_cfg, started, config.max_concurrent_tenants, progress=progress
        )
        tenants, findings, checks = evaluate(collections, prepared, config, st, started)
        from auditor.engine.exceptions import waive

        findings, waived = waive(findings, prepared.exceptions, started.date())
        audited = RunResult(
            run_id=run_id_for(started, shard),
            started_at=started,
            # The run's time as the document records it (whole seconds): every output, and
            # `report --run` later, shows the same duration.
            finished_at=started + timedelta(seconds=int(time.monotonic() - timer)),
            tool_version=__version__,
            tenants=tenants,
            findings=findings,
            inventories={c.tenant: c.inventory for c in collections if c.inventory is not None},
            exceptions=waived,
            drift=_drift(collections),
            checks=checks,
        )
        # The outputs are written before the run is recorded: a run whose reports could not be
        # written is recorded "failed" and moves no finding state (its findings stay new).
        # plan.result: the one document (lifecycle, resolved findings, order, summary) that is
        # both written and stored.
        plan = st.plan_run(audited)
        assert plan.result is not None
        result = plan.result

        target = output_dir(config, result, out_dir)
        params = config.rules.params
        view = report_view or (lambda r, c: (r, c))
        catalog = rule_catalog(prepared.rules)
        shown, shown_catalog = view(result, catalog)
        context = ReportContext(trend=st.runs(limit=60), rules=shown_catalog,
                                legacy_api_shutdown=params.legacy_api_shutdown,
                                legacy_api_warning_days=params.legacy_api_warning_days)
        formats: list[str] = list(config.reports.formats)
        try:
            write_reports(shown, target, formats, context)
        except OSError as exc:
            where = exc.filename2 or exc.filename or target
            raise OutputsNotWritten(
                f"reports: cannot write {where}: {exc.strerror or exc}; run {result.run_id} is "
                "recorded as failed and no finding state changed (fix the reports folder and "
                "run again)") from None
        st.record_run(result, plan)
        guard.recorded()
        if out_dir is None:
            _point_latest(target)

        if notify and config.slack is not None:
            from auditor.notify import notify_run

            outcome = notify_run(result, config.slack, st, report_path=target / "report.html",
                                 legacy_warning_days=params.legacy_api_warning_days)
            if outcome.errors:
                result = _add_notes(st, result, [f"Slack: {e}" for e in outcome.errors],
                                    lambda noted: write_reports(view(noted, catalog)[0], target,
                                                                formats, context))
    return result


def _add_notes(store: Store, result: RunResult, notes: list[str],
               rewrite: Callable[[RunResult], object]) -> RunResult:
    """Notes found after the run was recorded: into the stored run first, then the outputs are
    written again from what is stored, so that the two never differ. Returns the run with them."""
    from auditor.state import StoreError

    noted = dataclasses.replace(result, notes=[*result.notes, *notes])
    try:
        stored = store.add_run_notes(result.run_id, notes)
    except StoreError as exc:  # the outputs keep agreeing with the store: without the notes
        log.warning("could not add the notes to the stored run: %s", exc)
        return noted
    noted = dataclasses.replace(result, notes=stored.notes)
    try:
        rewrite(noted)
    except OSError as exc:  # the run is recorded with the notes; the outputs lack them
        log.warning("could not add the notes to the outputs: %s", exc.strerror or exc)
    return noted


def _check_writable(folder: Path) -> None:
    """Before auditing: the reports folder can be created and written (else nothing is
    audited)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied", str(folder))
    except OSError as exc:
        raise OutputsNotWritten(f"reports: cannot write into {folder}: "
                                f"{exc.strerror or exc}; nothing was audited") from None


class _RecordGuard:
    """A run that began and then failed before it was recorded (its reports could not be
    written, the store could not be read, ...) is recorded "failed", with no results: no finding
    state moves."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.started: datetime | None = None

    def begun(self, run_id: str, started: datetime) -> None:
        self.run_id, self.started = run_id, started

    def recorded(self) -> None:
        self.run_id = None

    @contextmanager
    def failed_unless_recorded(self, store: Store) -> Iterator[None]:
        from auditor.state import StoreError

        try:
            yield
        except Exception:
            if self.run_id is not None and self.started is not None:
                try:
                    store.fail_run(self.run_id, self.started)
                except StoreError as exc:  # it stays "running": the next audit marks it
                    log.warning("%s", exc)  # interrupted
            raise


def _begin(store: Store, started: datetime, shard: tuple[int, int] | None, *,
           fixed: bool, clock: Clock = SYSTEM_CLOCK) -> datetime:
    """Record the run as "running" (a run that dies, or that a scheduler abandons at shutdown,
    is marked "interrupted" by the next audit). Run ids have one-second resolution: an audit
    that starts in the same second as the previous one waits for the next second."""
    from auditor.state.errors import RunExists

    for _attempt in range(3):
        try:
            store.begin_run(run_id_for(started, shard), started, __version__)
            return started
        except RunExists:
            if fixed:
                raise
            time.sleep(max(0.0, 1.0 - (clock.now().microsecond / 1e6)))
            started = clock.now().replace(microsecond=0)
    store.begin_run(run_id_for(started, shard), started, __version__)
    return started


def _drift(collections: list[TenantCollection]) -> list[DriftNote]:
    """The API drift notes of every tenant, each (endpoint, field) once."""
    seen: dict[tuple[str, str], DriftNote] = {}
    for col in collections:
        for note in col.inventory.drift if col.inventory else ():
            seen.setdefault((note.endpoint, note.field), note)
    return list(seen.values())


def exit_code_for(result: RunResult, fail_on: str | None) -> int:
    """0 clean / below --fail-on, 1 a failing finding at or above --fail-on, 3 incomplete.

    An ``unknown`` verdict counts as failing for --fail-on: a check that could not be decided
    is not a pass (fail closed).
    """
    if result.status != "complete":
        return 3
    if fail_on is not None and fail_on != "none":
        threshold = SEVERITY_RANK[fail_on]
        for f in result.findings:
            if f.status in ("fail", "unknown") and SEVERITY_RANK[f.severity] >= threshold:
                return 1
    return 0
