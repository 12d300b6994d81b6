"""Crontab lines mean what they mean in crontab(5), whatever APScheduler's own conventions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from auditor.config import ConfigError, parse_config
from auditor.schedule.crontab import (
    CrontabTrigger,
    crontab_fields,
    interval_trigger,
    next_fire_time,
    previous_fire_time,
)

BERLIN = ZoneInfo("Europe/Berlin")


def fires(expr: str, start: datetime, end: datetime, tz: str = "UTC") -> list[datetime]:
    """Every fire time of ``expr`` in [start, end], as APScheduler's scheduler would step."""
    trigger = CrontabTrigger(expr, tz)
    out: list[datetime] = []
    prev = None
    now = start
    while True:
        moment = trigger.get_next_fire_time(prev, now)
        if moment is None or moment > end:
            return out
        out.append(moment)
        prev = now = moment


def weekdays(expr: str) -> list[str]:
    """The weekday names a daily 02:00 job with this day-of-week field runs on, over 2 weeks."""
    start = datetime(2026, 11, 1, tzinfo=UTC)  # a Sunday
    return sorted({m.strftime("%a") for m in fires(f"0 2 * * {expr}", start,
                                                  start + timedelta(days=14))},
                  key=["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].index)


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("0", ["Sun"]),
        ("7", ["Sun"]),
        ("sun", ["Sun"]),
        ("SUN", ["Sun"]),
        ("1", ["Mon"]),
        ("mon", ["Mon"]),
        ("6", ["Sat"]),
        ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("mon-fri", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0,6", ["Sun", "Sat"]),
        ("sat,sun", ["Sun", "Sat"]),
        ("5-7", ["Sun", "Fri", "Sat"]),
        ("fri-sun", ["Sun", "Fri", "Sat"]),
        ("0-7", ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]),
        ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
        ("1-5/2", ["Mon", "Wed", "Fri"]),
        ("1/3", ["Mon", "Thu"]),
        ("7-7", ["Sun"]),
        ("*", ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]),
    ],
)
def test_day_of_week_has_crontab_meaning(field: str, days: list[str]) -> None:
    assert weekdays(field) == days


@pytest.mark.parametrize("field", ["8", "funday", "5-1", "*/0", "mon-xyz"])
def test_bad_day_of_week_is_rejected_with_a_reason(field: str) -> None:
    with pytest.raises(ValueError, match=r"day|step|range"):
        crontab_fields(f"0 2 * * {field}")


def test_bad_expressions_are_configuration_errors() -> None:
    base = {"tenants": [{"name": "t", "url": "http://127.0.0.1:1", "api_key": "k" * 8}]}
    for cron, reason in [("0 2 * *", "5-field"), ("61 2 * * *", "invalid cron"),
                         ("0 2 * * 8", "invalid cron")]:
        with pytest.raises(ConfigError, match=reason):
            parse_config({**base, "schedule": {"cron": cron}}, env={})
    with pytest.raises(ConfigError, match="unknown IANA time zone"):
        parse_config({**base, "schedule": {"timezone": "Mars/Olympus"}}, env={})


def test_minutes_hours_ranges_and_steps() -> None:
    start = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    got = fires("*/15 9-10 * * 1-5", start, start + timedelta(days=1))
    assert [m.strftime("%H:%M") for m in got] == [
        "09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45"]


def test_day_of_month_or_day_of_week_as_in_cron() -> None:
    """`0 0 13 * fri`: cron runs on every 13th AND on every Friday (either field matches)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    got = fires("0 0 13 * fri", start, datetime(2026, 3, 1, tzinfo=UTC))
    assert all(m.day == 13 or m.strftime("%a") == "Fri" for m in got)
    assert datetime(2026, 1, 13, tzinfo=UTC) in got  # a Tuesday, matched by the day of month
    assert datetime(2026, 1, 2, tzinfo=UTC) in got   # a Friday, matched by the weekday
    assert len(got) == 2 + 8  # 13 Jan, 13 Feb, and the 8 Fridays of Jan-Feb 2026 (none a 13th)
    # With either field a wildcard, only the other restricts.
    assert [m.day for m in fires("0 0 13 * *", start, datetime(2026, 3, 1, tzinfo=UTC))] == [13, 13]


def test_timezone_is_honoured() -> None:
    start = datetime(2026, 11, 26, tzinfo=UTC)
    berlin = fires("0 2 * * *", start, start + timedelta(days=1), "Europe/Berlin")
    tokyo = fires("0 2 * * *", start, start + timedelta(days=1), "Asia/Tokyo")
    assert [m.astimezone(UTC).strftime("%d %H:%M") for m in berlin] == ["26 01:00"]
    assert [m.astimezone(UTC).strftime("%d %H:%M") for m in tokyo] == ["26 17:00"]


def test_dst_spring_forward_slot_in_the_gap_runs_once_after_it() -> None:
    """Europe/Berlin, 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist."""
    start = datetime(2026, 3, 28, 12, tzinfo=BERLIN)
    got = fires("30 2 * * *", start, start + timedelta(days=2), "Europe/Berlin")
    utc = [m.astimezone(UTC) for m in got]
    assert utc == [datetime(2026, 3, 29, 1, 30, tzinfo=UTC),   # right after the gap (03:30 CEST)
                   datetime(2026, 3, 30, 0, 30, tzinfo=UTC)]   # 02:30 CEST the next night
    # A slot outside the gap is unaffected.
    got = fires("0 4 * * *", start, start + timedelta(days=2), "Europe/Berlin")
    assert [m.astimezone(UTC).hour for m in got] == [2, 2]


def test_dst_fall_back_fixed_time_runs_once() -> None:
    """Europe/Berlin, 25 October 2026: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice,
    and a daily 02:30 audit runs once (at the first), as cron does."""
    start = datetime(2026, 10, 24, 12, tzinfo=BERLIN)
    got = fires("30 2 * * *", start, start + timedelta(days=2), "Europe/Berlin")
    assert [m.astimezone(UTC) for m in got] == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
                                                datetime(2026, 10, 26, 1, 30, tzinfo=UTC)]


def test_dst_fall_back_hourly_runs_every_real_hour() -> None:
    start = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)
    got = fires("0 * * * *", start, datetime(2026, 10, 25, 3, 30, tzinfo=UTC), "Europe/Berlin")
    assert [m.astimezone(UTC).hour for m in got] == [0, 1, 2, 3]  # 02:00 CEST, 02:00 CET, ...


def test_previous_and_next_fire_time() -> None:
    trigger = CrontabTrigger("0 2 * * *", "UTC")
    now = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    assert previous_fire_time(trigger, now) == datetime(2026, 11, 25, 2, tzinfo=UTC)
    assert previous_fire_time(trigger, datetime(2026, 11, 26, 2, tzinfo=UTC)) == datetime(
        2026, 11, 26, 2, tzinfo=UTC)  # a slot at exactly now counts
    assert next_fire_time(trigger, datetime(2026, 11, 26, 2, tzinfo=UTC)) == datetime(
        2026, 11, 27, 2, tzinfo=UTC)
    yearly = CrontabTrigger("0 0 1 1 *", "UTC")
    assert previous_fire_time(yearly, now) == datetime(2026, 1, 1, tzinfo=UTC)
    weekly = CrontabTrigger("0 2 * * 0", "Europe/Berlin")
    assert previous_fire_time(weekly, now) == datetime(2026, 11, 22, 2, tzinfo=BERLIN)


def test_previous_fire_time_skips_the_repeated_hour() -> None:
    trigger = CrontabTrigger("30 2 * * *", "Europe/Berlin")
    after_second = datetime(2026, 10, 25, 1, 45, tzinfo=UTC)  # after the second 02:30
    assert previous_fire_time(trigger, after_second) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_interval_slots_are_the_same_in_every_process() -> None:
    now = datetime(2026, 11, 26, 10, 0, 7, 500000, tzinfo=UTC)
    assert previous_fire_time(interval_trigger(5), now) == datetime(2026, 11, 26, 10, 0, 5,
                                                                    tzinfo=UTC)
    assert next_fire_time(interval_trigger(5), now) == datetime(2026, 11, 26, 10, 0, 10,
                                                                tzinfo=UTC)
