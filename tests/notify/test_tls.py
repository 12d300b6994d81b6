"""Slack over verified TLS: ca_bundle adds trust; an unknown certificate is refused."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from auditor.config import SlackConfig
from auditor.notify import RetryPolicy, notify_run

from .builders import finding, result
from .fakeslack import FakeSlack
from .memstore import MemoryOutbox


@pytest.fixture
def tls_fake() -> Iterator[tuple[FakeSlack, trustme.CA]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with FakeSlack(ssl_context=context) as server:
        yield server, ca


def test_ca_bundle_is_trusted_for_webhook_and_bot_upload(
        tls_fake: tuple[FakeSlack, trustme.CA], tmp_path: Path, retry: RetryPolicy) -> None:
    fake, ca = tls_fake
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    report = tmp_path / "report.html"
    report.write_text("<html></html>", encoding="utf-8")
    run = result([finding()])
    hook = SlackConfig.model_validate({"webhook_url": fake.webhook_url(),
                                       "ca_bundle": str(bundle)})
    bot = SlackConfig.model_validate({"bot_token": fake.token, "channel": "#c",
                                      "api_base_url": fake.api_url, "ca_bundle": str(bundle)})
    assert fake.api_url.startswith("https://127.0.0.1:")
    for slack in (hook, bot):
        outcome = notify_run(run, slack, MemoryOutbox(), report_path=report, retry=retry)
        assert outcome.failed == 0 and outcome.errors == []
    assert len(fake.accepted("webhook")) == 1
    assert len(fake.accepted("upload")) == 1  # the upload URL is https on the fake too


def test_an_untrusted_certificate_is_refused(tls_fake: tuple[FakeSlack, trustme.CA],
                                             retry: RetryPolicy) -> None:
    fake, _ = tls_fake
    slack = SlackConfig.model_validate({"webhook_url": fake.webhook_url()})
    store = MemoryOutbox()
    outcome = notify_run(result([finding()]), slack, store, report_path=None, retry=retry)
    assert outcome.failed == 1 and "CERTIFICATE_VERIFY_FAILED" in outcome.errors[0]
    assert fake.calls("webhook") == []  # nothing was sent
    assert len(store.outbox_pending()) == 1


def test_a_missing_ca_bundle_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"(?s)ca_bundle.*file not found"):
        SlackConfig.model_validate({"webhook_url": "https://hooks.example/x",
                                    "ca_bundle": str(tmp_path / "nope.pem")})
