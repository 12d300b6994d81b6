"""What the notify stage hands to Slack: a message (fallback text + Block Kit blocks), with optional
thread replies (bot mode), addressed to a destination *name* (never a URL or a token)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_DESTINATION = "default"
PAYLOAD_VERSION = 1


def route_destination(name: str | None, index: int) -> str:
    """The destination name of a route: ``route:<name>``, or ``route:<index>`` when unnamed."""
    return f"route:{name if name is not None else index}"


@dataclass(frozen=True, slots=True)
class Reply:
    """A threaded reply under a message (bot mode): the details of one tenant."""

    text: str
    blocks: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


@dataclass(frozen=True, slots=True)
class Message:
    destination: str
    text: str  # the notification / fallback text (mrkdwn-escaped)
    blocks: list[dict[str, Any]]
    thread: list[Reply] = field(default_factory=list)
    attach_report: bool = False  # bot mode, default destination: upload report.html in the thread

    def to_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "text": self.text,
            "blocks": self.blocks,
            "thread": [r.to_dict() for r in self.thread],
            "attach_report": self.attach_report,
        }

    def payload(self, report_path: str | None) -> dict[str, Any]:
        """The outbox payload: everything needed to deliver it later, and no secret."""
        return {
            "v": PAYLOAD_VERSION,
            "kind": "message",
            "text": self.text,
            "blocks": self.blocks,
            "thread": [r.to_dict() for r in self.thread],
            "report_path": report_path if self.attach_report else None,
        }


def messages_to_json(messages: list[Message]) -> dict[str, Any]:
    """The content of ``slack.json`` (what ``demo`` would have sent)."""
    return {"messages": [m.to_dict() for m in messages]}
