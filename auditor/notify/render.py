"""The alert as plain text for a terminal (what ``demo`` prints), and as ``slack.json``."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from auditor.notify.message import Message, messages_to_json
from auditor.textsafe import term_safe

_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_EMOJI = {
    ":red_circle:": "●",
    ":large_orange_circle:": "●",
    ":large_yellow_circle:": "●",
    ":large_blue_circle:": "●",
    ":white_circle:": "○",
    ":white_check_mark:": "✓",
    ":warning:": "!",
    ":rotating_light:": "!!",
    ":wave:": "",
}


def _plain(mrkdwn: str) -> str:
    """Slack mrkdwn as Slack shows it: our links as "label (url)", entities decoded. SOAR text
    was escaped (&lt; ...), so it cannot form a link here and is decoded back to what it was;
    control characters are then made visible by term_safe."""
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", mrkdwn)
    for code, symbol in _EMOJI.items():
        text = text.replace(code, symbol)
    return term_safe(html.unescape(text), keep_newlines=True)


def _block_lines(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        title = _plain(str(block["text"]["text"]))
        return [title, "=" * min(len(title), 78)]
    if kind == "section":
        return _plain(str(block["text"]["text"])).splitlines()
    if kind == "context":
        return [_plain(str(e.get("text", ""))) for e in block.get("elements", [])]
    if kind == "divider":
        return ["-" * 40]
    return []


def render_terminal(messages: list[Message]) -> str:
    """Every message (and its thread replies), as plain text."""
    if not messages:
        return "(no Slack message: nothing new to report)\n"
    out: list[str] = []
    for message in messages:
        out.append(f"--- Slack message to {term_safe(message.destination)} ---")
        for block in message.blocks:
            out.extend(_block_lines(block))
        for reply in message.thread:
            out.append("  | (thread reply)")
            for block in reply.blocks:
                out.extend(f"  | {line}" for line in _block_lines(block))
        if message.attach_report:
            out.append("  | (report.html attached)")
        out.append("")
    return "\n".join(out)


def save_slack_json(messages: list[Message], path: Path) -> None:
    """``slack.json``: the payloads that would be sent (no secret: destinations are names)."""
    path.write_text(json.dumps(messages_to_json(messages), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
