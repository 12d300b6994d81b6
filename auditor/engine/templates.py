"""Message and remediation templates of the rule files: ``{name}`` placeholders over facts and
rule parameters, checked when the rule is loaded and rendered as plain text (escaping for HTML,
Slack, CSV or a terminal is the job of each output)."""

from __future__ import annotations

import difflib
import string
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auditor.clock import iso

MAX_LIST_ITEMS = 10


class TemplateError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Template:
    source: str
    # (literal text, placeholder name or None, placeholder is a rule parameter)
    parts: tuple[tuple[str, str | None, bool], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for _, name, _ in self.parts if name is not None)

    def render(self, facts: Mapping[str, Any], params: Mapping[str, Any]) -> str:
        return "".join([
            literal if name is None
            else literal + display(params[name] if is_param else facts[name])
            for literal, name, is_param in self.parts
        ])


def compile_template(
    text: str, facts: Collection[str], params: Collection[str]
) -> Template:
    """Parse ``text``; every placeholder must be a plain fact or parameter name."""
    parts: list[tuple[str, str | None, bool]] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"{exc} (write {{{{ and }}}} for literal braces)") from None
    for literal, field, spec, conversion in parsed:
        if field is None:
            parts.append((literal, None, False))
            continue
        if spec or conversion:
            raise TemplateError(f"placeholder {{{field}}}: no format spec or conversion allowed")
        if field in facts:
            parts.append((literal, field, False))
        elif field in params:
            parts.append((literal, field, True))
        else:
            hint = suggest(field, [*facts, *params])
            raise TemplateError(f"unknown placeholder {{{field}}}: not a fact or parameter{hint}")
    return Template(text, tuple(parts))


def suggest(name: object, choices: Collection[object]) -> str:
    """A "did you mean" hint for a misspelt name, or nothing."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def display(value: Any) -> str:
    """A fact's value as message text."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return str(value)
    if value is None:
        return "unknown"
    if kind is bool:
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return iso(value) or ""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {display(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        if not items:
            return "none"
        head = items[:MAX_LIST_ITEMS]
        if all(type(v) is str for v in head):
            shown = ", ".join(head)
        else:
            shown = ", ".join(map(display, head))
        more = len(items) - MAX_LIST_ITEMS
        return f"{shown} (and {more} more)" if more > 0 else shown
    return str(value)
