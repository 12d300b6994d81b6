"""Block Kit building blocks and the packing of entries into Slack's limits.

Slack rejects a message with more than 50 blocks or a section text over 3,000 characters; we also
keep the whole message short (a budget of characters and of listed entries). Entries are packed
whole into sections: an entry is never cut in two; what does not fit is counted instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from auditor.textsafe import mrkdwn_escape

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150

_WS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one message may hold. Slack's hard limits, plus readability budgets."""

    max_blocks: int = MAX_BLOCKS
    max_section_chars: int = MAX_SECTION_CHARS
    max_total_chars: int = 12_000  # all block texts together (Slack truncates past 40,000)
    max_entries: int = 25  # findings listed in a summary message
    max_thread_entries: int = 100  # findings listed in one tenant's thread reply
    max_thread_replies: int = 20  # tenants with their own thread reply


def safe(text: object, max_chars: int) -> str:
    """SOAR-derived text for mrkdwn: one line (no control or bidi characters, which could forge
    lines or reorder text), escaped (&, <, >), and at most ``max_chars`` long *after* escaping,
    cut on a character boundary (never inside an ``&amp;``), with an ellipsis when cut."""
    flat = _WS.sub(" ", str(text)).strip()
    out: list[str] = []
    used = 0
    for i, char in enumerate(flat):
        piece = mrkdwn_escape(char)
        rest = len(flat) - i - 1
        reserve = 1 if rest else 0  # room for the ellipsis if more follows
        if used + len(piece) + reserve > max_chars:
            out.append("…")
            break
        out.append(piece)
        used += len(piece)
    return "".join(out)


def plain(text: str, max_chars: int = MAX_HEADER_CHARS) -> str:
    flat = _WS.sub(" ", text).strip()
    return flat if len(flat) <= max_chars else flat[: max_chars - 1] + "…"


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": plain(text), "emoji": True}}


def section(text: str) -> dict[str, Any]:
    # verbatim: Slack does not turn bare URLs, #channels or @names into links or mentions.
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def block_chars(block: dict[str, Any]) -> int:
    total = 0
    text = block.get("text")
    if isinstance(text, dict):
        total += len(str(text.get("text", "")))
    for element in block.get("elements", []):
        total += len(str(element.get("text", "")))
    return total


class Packer:
    """Adds blocks to a message while keeping room for what must come last."""

    def __init__(self, limits: Limits, *, reserve_blocks: int, reserve_chars: int) -> None:
        self.limits = limits
        self.blocks: list[dict[str, Any]] = []
        self._reserve_blocks = reserve_blocks
        self._reserve_chars = reserve_chars
        self._chars = 0

    @property
    def blocks_left(self) -> int:
        return self.limits.max_blocks - self._reserve_blocks - len(self.blocks)

    @property
    def chars_left(self) -> int:
        return self.limits.max_total_chars - self._reserve_chars - self._chars

    def add(self, block: dict[str, Any]) -> bool:
        size = block_chars(block)
        if self.blocks_left < 1 or size > self.chars_left:
            return False
        self.blocks.append(block)
        self._chars += size
        return True

    def add_reserved(self, block: dict[str, Any]) -> None:
        """A block the reserve was kept for (overflow note, footer)."""
        self._reserve_blocks = max(0, self._reserve_blocks - 1)
        self._reserve_chars = max(0, self._reserve_chars - block_chars(block))
        self.blocks.append(block)
        self._chars += block_chars(block)

    def entries(self, title: str, entries: list[str], max_entries: int) -> int:
        """Sections holding ``title`` then as many whole ``entries`` as fit (in order); returns
        how many were placed. Nothing is added when not even the first entry fits."""
        limit = self.limits.max_section_chars
        placed = 0
        pending: list[str] = [title] if title else []
        held = 0  # entries in ``pending``

        def fits(text: str) -> bool:
            return len(text) <= limit and len(text) <= self.chars_left and self.blocks_left >= 1

        for entry in entries[:max_entries]:
            if fits("\n".join([*pending, entry])):
                pending.append(entry)
                held += 1
                continue
            if not held or not self.add(section("\n".join(pending))):
                return placed
            placed += held
            pending, held = [], 0
            if not fits(entry):
                return placed
            pending, held = [entry], 1
        if held and self.add(section("\n".join(pending))):
            placed += held
        return placed
