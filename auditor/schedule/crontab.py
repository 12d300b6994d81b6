"""Standard 5-field crontab -> APScheduler triggers, with crontab's meaning where they differ.

- Weekdays: APScheduler numbers them from Monday=0; crontab from Sunday=0 (7 is Sunday too).
  Names (mon, tue, ...) mean the same in both. Numeric weekdays, ranges and steps are translated.
- Day of month *and* day of week both restricted (``0 0 13 * fri``): crontab runs when EITHER
  matches; APScheduler alone would require both. :class:`CrontabTrigger` combines two triggers.
- Daylight saving time: when clocks go back, a job at a fixed hour (``30 2 * * *``) runs once, at
  the first 02:30, as cron does; APScheduler alone would run it at both. When clocks go forward
  past the slot, it runs once right after the gap (APScheduler's behaviour, kept).

:func:`previous_fire_time` finds the latest slot at or before a moment (for catch-up and health).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_ONE_US = timedelta(microseconds=1)


def _dow_number(token: str, *, keep_seven: bool = False) -> int:
    """0-6 for Sunday-Saturday (7 is Sunday too; kept as 7 at the ends of a range)."""
    token = token.strip().lower()
    if token.isdigit():
        n = int(token)
        if not 0 <= n <= 7:
            raise ValueError(f"day of week {n} is out of range 0-7")
        return n if keep_seven else n % 7
    if token in _NAMES:
        return _NAMES.index(token)
    raise ValueError(f"unknown day of week {token!r} (use 0-7 or sun, mon, ... sat)")


def _step(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"invalid step /{value} in the day-of-week field")
    return int(value)


def _dow(field: str) -> str:
    days: list[int] = []
    for item in field.split(","):
        step, has_step = 1, "/" in item
        if has_step:
            item, step_value = item.split("/", 1)
            step = _step(step_value)
        if item in ("*", "?"):
            if step == 1:
                return "*"
            lo, hi = 0, 6
        elif "-" in item:
            lo_s, hi_s = item.split("-", 1)
            lo, hi = _dow_number(lo_s, keep_seven=True), _dow_number(hi_s, keep_seven=True)
            if hi < lo and hi == 0:  # fri-sun: Sunday closes the week
                hi = 7
            if hi < lo:
                raise ValueError(f"day-of-week range {item!r} runs backwards")
        else:
            lo = _dow_number(item)
            # "N/S" (a start with a step) runs to the end of the week, as in common crons.
            hi = 6 if has_step else lo
        days.extend(d % 7 for d in range(lo, hi + 1, step))
    if not days:
        raise ValueError(f"day-of-week field {field!r} selects no day")
    ordered = sorted(set(days))
    return ",".join(_NAMES[d] for d in ordered)


def crontab_fields(expr: str) -> dict[str, str]:
    """CronTrigger keyword arguments for a 5-field crontab expression (AND semantics)."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError("a crontab expression has 5 fields: minute hour day month weekday")
    minute, hour, day, month, dow = fields
    return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": _dow(dow)}


def _restricted(field: str) -> bool:
    return not field.startswith("*") and field != "?"


def _zone(timezone: str | tzinfo) -> tzinfo:
    return ZoneInfo(timezone) if isinstance(timezone, str) else timezone


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no types
    """An APScheduler trigger with the meaning of a crontab line (see the module docstring)."""

    def __init__(self, expr: str, timezone: str | tzinfo = "UTC") -> None:
        self.expr = " ".join(expr.split())
        self.timezone = _zone(timezone)
        fields = crontab_fields(expr)
        self.fixed_hour = _restricted(fields["hour"])
        if _restricted(fields["day"]) and _restricted(expr.split()[4]):
            by_day = CronTrigger(**{**fields, "day_of_week": "*"}, timezone=self.timezone)
            by_weekday = CronTrigger(**{**fields, "day": "*"}, timezone=self.timezone)
            self.inner: Any = OrTrigger([by_day, by_weekday])
        else:
            self.inner = CronTrigger(**fields, timezone=self.timezone)

    def _repeated(self, moment: datetime) -> bool:
        """The second occurrence of a wall-clock time, when clocks go back."""
        return self.fixed_hour and moment.astimezone(self.timezone).fold == 1

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        moment: datetime | None = self.inner.get_next_fire_time(previous_fire_time, now)
        if moment is None or not self._repeated(moment):
            return moment
        # Skip the repeated wall-clock hour: search again from its end. (APScheduler cannot step
        # from one repeated time to the next: it returns the same moment again.)
        probe = moment.astimezone(UTC)
        for _ in range(24 * 60):
            probe += timedelta(minutes=1)
            if probe.astimezone(self.timezone).fold == 0:
                break
        probe = probe.replace(second=0, microsecond=0)
        while probe.astimezone(self.timezone).fold == 1:
            probe += timedelta(seconds=1)
        nxt: datetime | None = self.inner.get_next_fire_time(None, probe.astimezone(self.timezone))
        return nxt

    def __str__(self) -> str:
        return f"crontab[{self.expr}, {self.timezone}]"

    def __repr__(self) -> str:
        return f"<CrontabTrigger {self.expr!r} timezone={str(self.timezone)!r}>"


# A fixed origin, so that every process computes the same interval slots (replicas, health).
INTERVAL_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


def check_fires(expr: str) -> None:
    """ValueError when a crontab expression is valid but never fires (``0 2 30 2 *``: February
    has no 30th). Looked for from a fixed origin (never today): a 5-field crontab has no year,
    so what fires at all fires within a few years of any date."""
    trigger = CrontabTrigger(expr, "UTC")
    if trigger.get_next_fire_time(None, INTERVAL_ORIGIN) is None:
        raise ValueError(f"{' '.join(expr.split())!r} never fires (that day of the month does "
                         "not occur in the months given); the scheduler would never audit")


def interval_trigger(seconds: float) -> Any:
    """Every ``seconds``, on slots aligned to a fixed origin (for tests and quick trials)."""
    return IntervalTrigger(seconds=seconds, start_date=INTERVAL_ORIGIN, timezone=UTC)


# Look-back windows for previous_fire_time: short first, so frequent schedules stay cheap.
_WINDOWS = [timedelta(seconds=s) for s in (60, 3600, 86400, 8 * 86400, 32 * 86400, 400 * 86400,
                                           5 * 366 * 86400)]


def previous_fire_time(trigger: Any, now: datetime) -> datetime | None:
    """The latest time at or before ``now`` at which ``trigger`` fires (None: none in 5 years).

    In UTC: a local time in a repeated hour never compares equal to another zone's (PEP 495)."""
    for window in _WINDOWS:
        start = now - window
        last: datetime | None = None
        moment: datetime | None = trigger.get_next_fire_time(None, start)
        while moment is not None and moment <= now:
            last = moment
            moment = trigger.get_next_fire_time(moment, moment + _ONE_US)
        if last is not None:
            return last.astimezone(UTC)
    return None


def next_fire_time(trigger: Any, now: datetime) -> datetime | None:
    """The first time strictly after ``now`` at which ``trigger`` fires (in UTC)."""
    moment: datetime | None = trigger.get_next_fire_time(None, now + _ONE_US)
    return None if moment is None else moment.astimezone(UTC)
