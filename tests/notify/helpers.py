"""Helpers shared by the notify tests."""

from __future__ import annotations

import time
from typing import Any

from auditor.config import SlackConfig

from .fakeslack import FakeSlack


class Sleeps(list[float]):
    """A sleep that records how long it was asked to wait, and waits 1/1000 of it."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(min(seconds / 1000, 0.01))



def webhook_config(fake: FakeSlack, **kw: Any) -> SlackConfig:
    return SlackConfig.model_validate({"webhook_url": fake.webhook_url(), **kw})


def bot_config(fake: FakeSlack, **kw: Any) -> SlackConfig:
    return SlackConfig.model_validate({"bot_token": fake.token, "channel": "#soar-alerts",
                                       "api_base_url": fake.api_url, **kw})


def assert_valid_blocks(blocks: list[dict[str, Any]]) -> None:
    """Slack's own Block Kit models accept every block, and the whole message is within the
    limits real Slack enforces (what the fake would reject as invalid_blocks)."""
    from slack_sdk.models.blocks import Block

    from .fakeslack import block_problem

    assert 1 <= len(blocks) <= 50
    for raw in blocks:
        model = Block.parse(raw)
        assert model is not None, raw
        model.validate_json()
        assert model.to_dict()["type"] == raw["type"]
    assert block_problem(blocks) is None


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out.extend(e.get("text", "") for e in block.get("elements", []))
    return out


def all_text(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(texts(blocks))
