"""The trend chart: failing findings by severity, one stacked column per stored run (inline SVG),
and a line of the legacy API keys left (SOAR-MIG-001) where the runs counted them.

Only geometry is computed here; the template draws it (so every label goes through autoescape).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from auditor.engine.findings import SEVERITIES
from auditor.report.migration import legacy_count
from auditor.result import RunPoint, RunResult

WIDTH, HEIGHT = 1200, 250
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 14, 46
MAX_LABELS = 8


@dataclass(frozen=True, slots=True)
class Segment:
    severity: str
    y: float
    height: float
    count: int


@dataclass(frozen=True, slots=True)
class Column:
    run_id: str
    x: float
    width: float
    center: float
    total: int
    status: str
    current: bool
    segments: tuple[Segment, ...]
    tooltip: str
    legacy: int | None = None  # legacy API keys left (None: not counted in that run)
    legacy_y: float | None = None


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    columns: tuple[Column, ...]
    y_ticks: tuple[tuple[float, str], ...]
    x_labels: tuple[tuple[float, str, str], ...]  # (x, date, time or "")
    summary: str
    legacy_path: str = ""  # SVG path through the legacy-key counts ("" when no run has one)

    @property
    def has_legacy(self) -> bool:
        return any(c.legacy is not None for c in self.columns)


def current_point(result: RunResult) -> RunPoint:
    summary = result.summary()
    return RunPoint(run_id=result.run_id, started_at=result.started_at, status=result.status,
                    failing=summary["failing"], by_severity=dict(summary["by_severity"]),
                    new=summary["new"], resolved=summary["resolved"],
                    legacy_keys=legacy_count(result))


def series(trend: list[RunPoint], result: RunResult) -> list[RunPoint]:
    """The stored runs plus this one (its own counts win), oldest first, one per run id."""
    points = {p.run_id: p for p in trend}
    points[result.run_id] = current_point(result)
    return sorted(points.values(), key=lambda p: (p.started_at, p.run_id))


def nice_ticks(top: int, wanted: int = 4) -> list[int]:
    if top <= 0:
        return [0, 1]
    raw = top / wanted
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(int(step), 1)
    return list(range(0, (math.ceil(top / step) + 1) * step, step))


def _label(point: RunPoint, with_time: bool, with_year: bool) -> tuple[str, str]:
    """The date of a run (always), and under it its time when some day has several runs."""
    day = point.started_at.strftime("%b %d %Y" if with_year else "%b %d")
    return day, point.started_at.strftime("%H:%M UTC") if with_time else ""


def _tooltip(p: RunPoint, current: bool) -> str:
    parts = ", ".join(f"{s} {p.by_severity.get(s, 0)}" for s in SEVERITIES)
    flag = " (this run)" if current else ""
    return (f"{p.run_id}{flag} · {p.started_at.strftime('%Y-%m-%d %H:%M UTC')} · {p.status}\n"
            f"failing {p.failing}: {parts}\nnew {p.new}, resolved {p.resolved}"
            + ("" if p.legacy_keys is None else f"\nlegacy API keys left {p.legacy_keys}"))


def _legacy_path(columns: list[Column]) -> str:
    """Line segments through consecutive runs that counted their legacy keys (a run that did
    not count them breaks the line)."""
    parts: list[str] = []
    pen_down = False
    for c in columns:
        if c.legacy_y is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{c.center} {c.legacy_y}")
        pen_down = True
    return " ".join(parts)


def build_chart(trend: list[RunPoint], result: RunResult) -> Chart:
    points = series(trend, result)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    counts = [{s: max(0, int(p.by_severity.get(s, 0) or 0)) for s in SEVERITIES} for p in points]
    totals = [sum(c.values()) for c in counts]
    legacy = [None if p.legacy_keys is None else max(0, int(p.legacy_keys)) for p in points]
    ticks = nice_ticks(max([*totals, *(n for n in legacy if n is not None)], default=0))
    scale = plot_h / ticks[-1]
    base = TOP + plot_h
    slot = plot_w / len(points)
    bar = max(min(slot * 0.72, 44.0), 1.0)
    days = [p.started_at.date() for p in points]
    with_time = len(set(days)) < len(days)  # several runs on one day: tell them apart
    with_year = len({d.year for d in days}) > 1
    columns = []
    for i, (p, total, by_sev, left) in enumerate(zip(points, totals, counts, legacy,
                                                     strict=True)):
        center = LEFT + slot * (i + 0.5)
        y = float(base)
        segments = []
        for sev in SEVERITIES:
            count = by_sev[sev]
            if count > 0:
                h = count * scale
                y -= h
                segments.append(Segment(sev, round(y, 2), round(h, 2), count))
        current = p.run_id == result.run_id
        columns.append(Column(p.run_id, round(center - bar / 2, 2), round(bar, 2),
                              round(center, 2), total, p.status, current, tuple(segments),
                              _tooltip(p, current), left,
                              None if left is None else round(base - left * scale, 2)))
    every = max(1, math.ceil(len(points) / MAX_LABELS))
    labels = [(columns[i].center, *_label(points[i], with_time, with_year))
              for i in range(len(points) - 1, -1, -every)]
    first, last = points[0], points[-1]
    summary = (f"Failing findings by severity over {len(points)} run(s), "
               f"{first.started_at:%Y-%m-%d} to {last.started_at:%Y-%m-%d}: "
               f"{totals[0]} then {totals[-1]}.")
    counted = [n for n in legacy if n is not None]
    if counted:
        summary += f" Legacy API keys left: {counted[0]} then {counted[-1]}."
    return Chart(WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, TOP, float(base), tuple(columns),
                 tuple((round(base - t * scale, 2), f"{t:,}") for t in ticks),
                 tuple(reversed(labels)), summary, _legacy_path(columns))
