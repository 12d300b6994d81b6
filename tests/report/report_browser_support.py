"""What a browser test gets back from opening a report: the page and what went wrong on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class OpenedPage:
    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def visible_rows(self) -> list[list[str]]:
        texts: list[list[str]] = self.page.eval_on_selector_all(
            "#rows tr.row",
            "rows => rows.map(r => Array.from(r.cells, c => c.textContent))",
        )
        return texts

    def clean(self) -> None:
        assert self.console_errors == [], self.console_errors
        assert self.page_errors == [], self.page_errors
        assert self.blocked == [], self.blocked
        assert self.dialogs == [], self.dialogs
