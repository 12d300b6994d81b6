"""An in-memory implementation of the OutboxStore protocol (the real store is tested too)."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass
class Item:
    id: int
    run_id: str
    destination: str
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    created_at: datetime
    sent: bool = False


class MemoryOutbox:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self._clock = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)

    def outbox_add(self, run_id: str, destination: str, payload: dict[str, Any]) -> int:
        self._clock += timedelta(seconds=1)
        # Stored as JSON, like a database column: the payload must survive the round trip.
        item = Item(len(self.items) + 1, run_id, destination, json.loads(json.dumps(payload)),
                    0, None, self._clock)
        self.items.append(item)
        return item.id

    def outbox_pending(self) -> list[Item]:
        return [Item(**{**i.__dict__, "payload": json.loads(json.dumps(i.payload))})
                for i in self.items if not i.sent]

    def outbox_mark_sent(self, item_id: int) -> None:
        self.items[item_id - 1].sent = True

    def outbox_mark_failed(self, item_id: int, error: str) -> None:
        item = self.items[item_id - 1]
        item.attempts += 1
        item.last_error = error

    def outbox_delivery(self) -> AbstractContextManager[None]:
        return nullcontext()  # one process, one thread: nobody else delivers

    def dump(self) -> str:
        return json.dumps([i.__dict__ for i in self.items], default=str)
