"""`soar-auditor schedule`: the audit on a cron schedule, with catch-up, clean stops and health.

- One APScheduler ``BackgroundScheduler``; the main thread waits for SIGTERM/SIGINT.
- The audit job: ``max_instances=1``, coalescing, a misfire grace time, and a lock of its own so
  that a catch-up or ``--run-now`` audit never overlaps a scheduled one.
- Catch-up at start: when no audit in the state store covers the latest scheduled slot (a
  complete audit finished after it, or an incomplete one started after it), one audit runs at
  once (one, however many slots were missed). Success is a complete audit, as in the heartbeat,
  /metrics and /readyz.
- Several replicas on one PostgreSQL store: each claims the slot (``store.claim_slot``) before
  auditing, so each slot is audited once.
- The configuration is re-read before every audit; a broken change is logged, the last good one
  kept. A changed ``schedule`` takes effect after the audit.
- Stop: no new audit starts; one in progress may finish within ``shutdown_grace_seconds``, else it
  is abandoned (recorded as interrupted) and the process exits 0 all the same.

The health record, the heartbeat and the endpoints are the sibling modules of this package
(see :mod:`auditor.schedule`); ``parse_shard`` and ``select_shard`` (``run --shard I/N``) live in
:mod:`auditor.schedule.shard`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from auditor.clock import SYSTEM_CLOCK, Clock, iso
from auditor.config import Config, ConfigError, load_config
from auditor.schedule.crontab import CrontabTrigger, interval_trigger, previous_fire_time
from auditor.schedule.heartbeat import heartbeat_path, write_heartbeat
from auditor.schedule.http import HealthServer
from auditor.schedule.metrics import Metrics
from auditor.schedule.record import Health

if TYPE_CHECKING:
    from auditor.result import RunResult
    from auditor.state import Store

log = logging.getLogger("auditor.schedule")
__all__ = ["Scheduler"]

AuditFn = Callable[["Config", "Store", datetime], "RunResult"]
StoreFn = Callable[["Config"], "Store"]


# ------------------------------------------------------------------------------------------------
def _default_audit(config: Config, store: Store, now: datetime) -> RunResult:
    from auditor.pipeline import run_audit

    # Wait for a manual run holding the audit lock, but not past the misfire grace time. The run
    # is dated ``now`` (its id is known in advance, for the heartbeat of an abandoned audit).
    return run_audit(config, store=store, now=now,
                     lock_timeout=config.schedule.misfire_grace_seconds)


def _default_store(config: Config, clock: Clock = SYSTEM_CLOCK) -> Store:
    from auditor.state import open_store, state_url

    return open_store(state_url(config), retention_days=config.retention_days, clock=clock)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Scheduler:
    """The daemon. ``run()`` blocks until :meth:`stop` (or SIGTERM/SIGINT) and returns.

    ``clock`` dates the audits, the slots, the health record and the default store's writes
    (APScheduler fires the jobs by the wall clock).
    """

    def __init__(
        self,
        config_path: str | Path,
        config: Config,
        *,
        run_now: bool = False,
        interval_seconds: float | None = None,
        heartbeat_interval: float = 30.0,
        heartbeat_file: Path | None = None,
        audit: AuditFn | None = None,
        open_store: StoreFn | None = None,
        owner: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config_path = Path(config_path)
        self.config = config
        self.run_now = run_now
        self.interval_seconds = interval_seconds
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_file = heartbeat_file or heartbeat_path(config)
        self._audit_fn = audit or _default_audit
        self.clock = clock
        self._open_store = open_store or partial(_default_store, clock=clock)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._busy = threading.Lock()
        self._write_lock = threading.Lock()
        self.abandoned = False
        self._run_id: str | None = None
        self._final = False
        self.health: Health = Health(
            schedule=self._schedule_info(config),
            misfire_grace_seconds=config.schedule.misfire_grace_seconds,
            heartbeat_interval_seconds=heartbeat_interval,
            clock=clock,
        )
        self.metrics = Metrics()
        self.server: HealthServer | None = None
        self._scheduler: Any = None

    # -- schedule ------------------------------------------------------------------------------
    def _schedule_info(self, config: Config) -> dict[str, Any]:
        if self.interval_seconds:
            return {"interval_seconds": self.interval_seconds}
        return {"cron": config.schedule.cron, "timezone": config.schedule.timezone}

    def _trigger(self, config: Config) -> Any:
        if self.interval_seconds:
            return interval_trigger(self.interval_seconds)
        return CrontabTrigger(config.schedule.cron, config.schedule.timezone)

    def _describe(self) -> str:
        info = self.health.schedule
        if "interval_seconds" in info:
            return f"every {info['interval_seconds']} s"
        return f"cron {info['cron']!r} in {info['timezone']}"

    def _next_run(self) -> datetime | None:
        job = self._scheduler.get_job("audit") if self._scheduler is not None else None
        return _aware(job.next_run_time) if job is not None else None

    def _log_next_run(self) -> None:
        moment = self._next_run()
        self.health.update(next_run=moment)
        self._beat()
        log.info("next audit at %s (%s)", iso(moment) if moment else "never", self._describe())

    # -- heartbeat -----------------------------------------------------------------------------
    def _beat(self, final: bool = False) -> None:
        snap = self.health.snapshot()
        with self._write_lock:
            if self._final:
                return  # the last word was "stopped"; an abandoned audit must not overwrite it
            self._final = final
            try:
                write_heartbeat(self.heartbeat_file, snap)
            except OSError as exc:
                log.warning("cannot write the heartbeat %s: %s", self.heartbeat_file, exc.strerror)

    # -- configuration -------------------------------------------------------------------------
    def _reload(self) -> Config:
        try:
            fresh = load_config(self.config_path)
        except ConfigError as exc:
            log.error("configuration change rejected, keeping the last good one: %s", exc)
            return self.config
        if fresh.schedule != self.config.schedule and not self.interval_seconds:
            self._pending_schedule = True
        self.config = fresh
        return fresh

    _pending_schedule = False

    def _apply_schedule_change(self) -> None:
        if not self._pending_schedule or self._scheduler is None:
            return
        self._pending_schedule = False
        self.health.update(schedule=self._schedule_info(self.config),
                           misfire_grace_seconds=self.config.schedule.misfire_grace_seconds)
        self._scheduler.reschedule_job("audit", trigger=self._trigger(self.config))
        self._scheduler.modify_job(
            "audit", misfire_grace_time=self.config.schedule.misfire_grace_seconds
        )
        log.info("schedule changed to %s", self._describe())

    # -- catch-up ------------------------------------------------------------------------------
    def _catch_up_slot(self) -> datetime | None:
        """The missed slot to audit at start, or None (also records what the store knows).

        The slot is covered by a complete audit that finished after it, or by an incomplete one
        that started after it (a tenant it could not collect is a finding, and /readyz says so:
        restarting the scheduler does not audit that slot again). The last *successful* audit is
        the last complete one, as everywhere."""
        trigger = self._trigger(self.config)
        try:
            store = self._open_store(self.config)
            try:
                last = _aware(store.last_successful_audit())
                latest = store.runs(limit=1)
            finally:
                store.close()
        except Exception as exc:  # noqa: BLE001  (the daemon must start; the audit retries)
            log.error("cannot read the state store at start: %s", exc)
            return previous_fire_time(trigger, self.clock.now())
        slot = previous_fire_time(trigger, self.clock.now())  # after the (maybe slow) store
        self.health.update(last_success=last)
        newest = latest[0] if latest else None
        if newest is not None:
            self.health.update(last_status=newest.status, last_run_id=newest.run_id)
        if slot is None:
            return None
        what = f"last complete audit {iso(last)}" if last else "no complete audit on record"
        if last is not None and last >= slot:
            self.health.slot_done_elsewhere(slot)
            log.info("%s covers the slot of %s: no catch-up", what, iso(slot))
            return None
        started = _aware(newest.started_at) if newest is not None else None
        if newest is not None and newest.status == "incomplete" and started is not None \
                and started >= slot:
            self.health.slot_done_elsewhere(slot)
            log.info("the audit %s (incomplete) covers the slot of %s: no catch-up (%s)",
                     newest.run_id, iso(slot), what)
            return None
        log.info("%s; catching up now (slot %s)", what if last is None else
                 f"{what} is older than the slot", iso(slot))
        return slot

    # -- the audit -----------------------------------------------------------------------------
    def _job(self, reason: str, slot_iso: str | None = None) -> None:
        """APScheduler calls this. ``reason``: scheduled | catch-up | run-now."""
        if not self._busy.acquire(blocking=False):
            log.warning("%s audit skipped: the previous audit is still running", reason)
            return
        try:
            if self._stop.is_set():
                log.info("%s audit not started: the scheduler is stopping", reason)
                return
            self._audit(reason, slot_iso)
        finally:
            self._busy.release()
        if not self._stop.is_set():
            self._apply_schedule_change()
            self._log_next_run()

    def _audit(self, reason: str, slot_iso: str | None) -> None:
        config = self._reload()
        now = self.clock.now()
        slot: datetime | None = None
        if slot_iso is not None:
            slot = datetime.fromisoformat(slot_iso)
        elif reason == "scheduled":
            slot = _aware(previous_fire_time(self._trigger(config), now))
        try:
            store = self._open_store(config)
        except Exception as exc:  # noqa: BLE001  (log it; the next slot tries again)
            self.health.audit_failed("error", f"state store: {exc}", self.clock.now())
            log.error("%s audit failed: cannot open the state store: %s", reason, exc)
            return
        try:
            if slot is not None and not self._claim(store, reason, slot):
                return
            # Under the audit lock (re-entrant: the pipeline takes it again), so that a catch-up
            # can see an audit another replica finished meanwhile.
            with store.audit_lock(wait=True, timeout=config.schedule.misfire_grace_seconds):
                if reason == "catch-up" and slot is not None and self._caught_up(store, slot):
                    return
                self._run(config, store, reason, slot)
        except Exception as exc:  # noqa: BLE001  (one failed audit must not stop the daemon)
            self.health.audit_failed("error", str(exc), self.clock.now())
            log.error("%s audit failed: %s", reason, exc)
        finally:
            try:
                store.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("closing the state store: %s", exc)
            self._beat()

    def _claim(self, store: Store, reason: str, slot: datetime) -> bool:
        # A catch-up claims the very slot it makes up for, so that it and a scheduled audit of
        # that slot (on this replica or another) never both run.
        key = iso(slot)
        if store.claim_slot(str(key), self.owner):
            return True
        log.info("slot %s is audited by another replica; skipping", key)
        self.health.slot_done_elsewhere(slot)
        return False

    def _caught_up(self, store: Store, slot: datetime) -> bool:
        last = _aware(store.last_successful_audit())
        if last is None or last < slot:
            return False
        log.info("no catch-up needed: another replica's audit finished at %s", iso(last))
        self.health.update(last_success=last)
        self.health.slot_done_elsewhere(slot)
        return True

    def _run(self, config: Config, store: Store, reason: str, slot: datetime | None) -> None:
        started = self.clock.now().replace(microsecond=0)
        self._run_id = started.strftime("%Y%m%dT%H%M%SZ")
        self.health.audit_started(started, self._run_id)
        self._beat()
        log.info("%s audit starting%s", reason, f" (slot {iso(slot)})" if slot else "")
        result = self._audit_fn(config, store, started)
        self.health.audit_finished(result, slot, self.clock.now())
        self._log_result(result)

    def _log_result(self, result: RunResult) -> None:
        summary = result.summary()
        sev = ", ".join(f"{k} {v}" for k, v in summary["by_severity"].items() if v)
        failed = [t.name for t in result.tenants if t.status == "error"]
        log.info(
            "audit %s %s in %.1f s: %d failing (%s), %d unknown, %d new, %d resolved%s",
            result.run_id, result.status, self.health.last_duration_seconds or 0.0,
            summary["failing"], sev or "none", summary["unknown"], summary["new"],
            summary["resolved"],
            f"; not collected: {', '.join(failed)}" if failed else "",
            extra={"event": "audit_finished", "run_id": result.run_id},
        )

    # -- life cycle ----------------------------------------------------------------------------
    def stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        if signum is not None and not self._stop.is_set():
            log.info("received %s: no new audit will start", signal.Signals(signum).name)
        self._stop.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)

    def _start_server(self) -> None:
        cfg = self.config.schedule.health
        if cfg.port is None:
            return
        try:
            self.server = HealthServer(self.health, self.metrics, cfg.host, cfg.port)
        except OSError as exc:
            log.error("cannot serve /healthz and /metrics on %s:%s: %s", cfg.host, cfg.port,
                      exc.strerror)
            return
        self.server.start()
        log.info("health: %s/healthz and %s/metrics", self.server.url, self.server.url)

    def run(self) -> int:
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        self._install_signals()
        self._beat()
        self._start_server()
        catch_up = self._catch_up_slot()
        sched = BackgroundScheduler(timezone=UTC)
        self._scheduler = sched
        grace = self.config.schedule.misfire_grace_seconds
        sched.add_job(self._job, self._trigger(self.config), args=["scheduled"], id="audit",
                      name="audit", max_instances=1, coalesce=True, misfire_grace_time=grace)
        if self.run_now or catch_up is not None:
            reason = "run-now" if self.run_now else "catch-up"
            slot = None if self.run_now or catch_up is None else catch_up.isoformat()
            # "date" without run_date: at once, by APScheduler's (wall) clock
            sched.add_job(self._job, "date", args=[reason, slot], id="audit-now",
                          name=reason, max_instances=1, misfire_grace_time=None)
        sched.add_job(self._beat, IntervalTrigger(seconds=self.heartbeat_interval),
                      id="heartbeat", max_instances=1, coalesce=True)
        sched.start()
        log.info("scheduler started (pid %d, owner %s); heartbeat %s", os.getpid(), self.owner,
                 self.heartbeat_file)
        self._log_next_run()
        try:
            while not self._stop.wait(0.5):
                pass
        finally:
            self._shutdown(sched)
        return 0

    def _shutdown(self, sched: Any) -> None:
        self._stop.set()
        running = self._busy.locked()
        self.health.update(state="stopping" if running else "idle")
        sched.shutdown(wait=False)
        grace = self.config.schedule.shutdown_grace_seconds
        if running:
            log.info("waiting up to %d s for the audit in progress to finish", grace)
            self._beat()
        if self._busy.acquire(timeout=grace if grace > 0 else 0.001):
            self._busy.release()
        else:
            self.abandoned = True
            self.health.audit_failed(
                "interrupted", f"abandoned at shutdown after {grace} s", self.clock.now()
            )
            self._record_interrupted()
        self.health.update(state="stopped", next_run=None)
        self._beat(final=True)
        if self.server is not None:
            self.server.stop()
        log.info("scheduler stopped")

    def _record_interrupted(self) -> None:
        """The abandoned run stays "running" in the store (the pipeline began it under the audit
        lock, which goes with this process); the next audit that takes the lock marks it
        "interrupted". The heartbeat says so at once."""
        log.warning("the audit in progress (run %s) did not finish within %d s: abandoned; the "
                    "state store records it as interrupted", self._run_id,
                    self.config.schedule.shutdown_grace_seconds)
