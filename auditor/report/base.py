"""What every report format shares: the context a report is drawn from, and the Reporter shape."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any, Protocol

from auditor.result import RunPoint, RunResult


@dataclass(frozen=True, slots=True)
class ReportContext:
    """What a report needs besides the run itself.

    ``trend``: the stored runs, oldest first (this run may or may not be among them: reports
    add it when its id is missing). ``rules``: the rule catalog as dicts with ``id``, ``title``,
    ``severity``, ``description``, ``risk``, ``remediation``, ``references`` ([{title, url}]),
    ``compliance`` ({framework: [controls]}) and ``resource`` (Rule.catalog_entry); it lets
    the rule and control views list rules that found nothing (passing), and every output show
    a rule's risk and references.
    ``legacy_api_shutdown`` / ``legacy_api_warning_days``: the configured rule parameters, when
    the caller has them; without them the migration plan takes the date from the SOAR-MIG-001
    findings and the warning window from their severity (report/migration.py).
    """

    trend: list[RunPoint] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    legacy_api_shutdown: date | None = None
    legacy_api_warning_days: int | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class RuleDoc:
    """A rule's documentation as the outputs show it: why it matters and where to read more."""

    risk: str = ""
    description: str = ""
    references: tuple[Reference, ...] = ()

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.references]


def _doc(entry: dict[str, Any]) -> RuleDoc:
    refs = []
    for ref in entry.get("references") or ():
        # https only (as rule files must be): no javascript: or data: link in any output.
        if isinstance(ref, dict) and str(ref.get("url") or "").startswith("https://"):
            refs.append(Reference(str(ref.get("title") or ref["url"]), str(ref["url"])))
    return RuleDoc(str(entry.get("risk") or ""), str(entry.get("description") or ""),
                   tuple(refs))


def rule_docs(context: ReportContext) -> dict[str, RuleDoc]:
    """Rule id -> its documentation, from the catalog in ``context.rules``."""
    return {str(r.get("id", "")): _doc(r) for r in context.rules}


class Reporter(Protocol):
    """One output format: ``name`` is what ``reports.formats`` says, ``filename`` what it writes."""

    @property
    def name(self) -> str: ...

    @property
    def filename(self) -> str: ...

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None: ...


@contextmanager
def atomic_bytes(path: Path) -> Iterator[IO[bytes]]:
    """Like :func:`atomic_text`, for writers that stream UTF-8 bytes themselves (buffered)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            yield handle
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_text(path: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """Open ``path`` for writing (UTF-8) so that readers never see a half-written file: the
    text goes to a temporary file next to it, renamed over ``path`` only when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # A lone surrogate (possible in hostile JSON input) cannot be UTF-8: write it as a
        # visible \udXXX escape rather than failing the whole report.
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace",
                       newline=newline) as handle:
            yield handle
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
