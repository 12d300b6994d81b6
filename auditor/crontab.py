"""Standard 5-field crontab -> APScheduler CronTrigger fields.

APScheduler numbers weekdays from Monday=0; crontab from Sunday=0 (7 is Sunday too). Names
(mon, tue, ...) mean the same in both. Numeric weekdays, ranges and steps are translated here.
"""

from __future__ import annotations

_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _dow_value(token: str) -> str:
    if token.isdigit():
        n = int(token)
        if not 0 <= n <= 7:
            raise ValueError(f"day of week {n} is out of range 0-7")
        return _NAMES[n % 7]
    return token.lower()


def _dow(field: str) -> str:
    parts: list[str] = []
    for item in field.split(","):
        step = ""
        if "/" in item:
            item, step_value = item.split("/", 1)
            step = "/" + step_value
        if item in ("*", "?"):
            if step:
                # */2 over Sunday-first numbering: expand explicitly.
                every = int(step[1:])
                parts.extend(_NAMES[i] for i in range(0, 7, every))
            else:
                parts.append("*")
            continue
        if "-" in item:
            lo, hi = item.split("-", 1)
            lo_n = _NAMES.index(_dow_value(lo))
            hi_v = _dow_value(hi)
            hi_n = 7 if hi.strip() == "7" else _NAMES.index(hi_v)
            every = int(step[1:]) if step else 1
            parts.extend(_NAMES[i % 7] for i in range(lo_n, hi_n + 1, every))
            continue
        parts.append(_dow_value(item))
    seen: list[str] = []
    for p in parts:
        if p not in seen:
            seen.append(p)
    return ",".join(seen)


def crontab_fields(expr: str) -> dict[str, str]:
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError("a crontab expression has 5 fields: minute hour day month weekday")
    minute, hour, day, month, dow = fields
    return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": _dow(dow)}
