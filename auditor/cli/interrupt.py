"""SIGTERM and SIGINT during `soar-auditor run`: stop, say so in one line, record the run
"interrupted" in the state store at once (not at the next audit), exit 143 (SIGTERM) or 130
(SIGINT).

The signal handler raises :class:`Interrupted` in the main thread, which unwinds the audit (its
locks released, an unfinished store transaction rolled back); :meth:`RunGuard.finish` then
records the run. Collection threads that are still waiting for a slow tenant must not hold the
process up: a watchdog finishes the same way after ``grace`` seconds if the main thread has not,
and a second signal finishes at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from auditor.cli.errors import activity_of, stack_frames
from auditor.cli.output import say

if TYPE_CHECKING:
    from auditor.clock import Clock
    from auditor.config import Config

CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}


class Interrupted(BaseException):
    """Raised in the main thread by the signal handler (a BaseException: no ``except Exception``
    on the way may swallow it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class RunGuard:
    def __init__(self, config: Config, clock: Clock, *, grace: float = 1.5) -> None:
        self.config = config
        self.clock = clock
        self.grace = grace
        self.run_id: str | None = None
        self.signum: int | None = None
        self.doing: str | None = None
        self._once = threading.Lock()
        self._previous: dict[int, Any] = {}

    def began(self, run_id: str) -> None:
        self.run_id = run_id

    def __enter__(self) -> RunGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in CODES:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # a second signal: no more waiting
            self.finish()
        self.signum = signum
        self.doing = activity_of(stack_frames(frame))
        watchdog = threading.Thread(target=self._watchdog, name="interrupt-watchdog",
                                    daemon=True)
        watchdog.start()
        raise Interrupted(signum)

    def _watchdog(self) -> None:
        threading.Event().wait(self.grace)
        self.finish()

    def _record(self) -> str:
        if self.run_id is None:
            return "before the audit started"
        from auditor.state import open_store, state_url

        try:
            store = open_store(state_url(self.config), retention_days=self.config.retention_days,
                               clock=self.clock)
            try:
                marked = store.interrupt_run(self.run_id)
            finally:
                store.close()
        except Exception as exc:  # noqa: BLE001  (the next audit marks it instead)
            return (f"run {self.run_id} could not be marked interrupted ({exc}); the next "
                    "audit marks it")
        if marked:
            return f"run {self.run_id} recorded as interrupted"
        return f"run {self.run_id} had been recorded; its outputs may be incomplete"

    def finish(self) -> NoReturn:
        """Record the run, say so, and end the process (collection threads included)."""
        with self._once:
            signum = self.signum or signal.SIGTERM
            code = CODES.get(signal.Signals(signum), 128 + signum)
            name = signal.Signals(signum).name
            what = self._record()
            where = f" while {self.doing}" if self.doing else ""
            say(f"soar-auditor: run: interrupted by {name}{where}; {what}",
                err=True, level="error", event="interrupted", run_id=self.run_id,
                signal=name, exit_code=code)
            logging.shutdown()
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(code)


__all__ = ["Interrupted", "RunGuard"]
