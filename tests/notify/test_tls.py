"""Slack over verified TLS: ca_bundle adds trust; an unknown certificate is refused."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _served_by(ca: trustme.CA, *hosts: str, **kw: Any) -> FakeSlack:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(hosts or ("127.0.0.1",)), **kw).configure_cert(context)
    return FakeSlack(ssl_context=context)


def test_ca_bundle_adds_to_the_system_trust_instead_of_replacing_it(
        tmp_path: Path, retry: RetryPolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack's certificate comes from a public CA (stood in for by `public`, installed as the
    machine's trust store with SSL_CERT_FILE) while slack.ca_bundle holds a corporate CA: both
    must be trusted at once."""
    public, corporate = trustme.CA(), trustme.CA()
    system = tmp_path / "system-store.pem"
    public.cert_pem.write_to_path(str(system))
    monkeypatch.setenv("SSL_CERT_FILE", str(system))
    bundle = tmp_path / "corporate-ca.pem"
    corporate.cert_pem.write_to_path(str(bundle))
    run = result([finding()])
    for ca in (public, corporate):
        with _served_by(ca) as fake:
            slack = SlackConfig.model_validate({"webhook_url": fake.webhook_url(),
                                                "ca_bundle": str(bundle)})
            outcome = notify_run(run, slack, MemoryOutbox(), report_path=None, retry=retry)
            assert outcome.errors == [] and len(fake.accepted("webhook")) == 1


def test_the_context_holds_the_bundle_ca_and_the_default_stores(tmp_path: Path) -> None:
    from auditor.notify.slack import SlackTransport

    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    slack = SlackConfig.model_validate({"webhook_url": "https://hooks.example/x",
                                        "ca_bundle": str(bundle)})
    ctx = SlackTransport(slack)._ssl
    subjects = [dict(part[0] for part in c["subject"]) for c in ctx.get_ca_certs()]
    mine = dict(part[0] for part in x509_subject(ca))
    assert mine in subjects  # the bundle's CA ...
    assert len(subjects) > 100  # ... and the default stores (certifi alone has >100 roots)
    assert any(s.get("organizationName") == "Internet Security Research Group" for s in subjects)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    # what the old code built: the bundle alone, the system's trust gone
    assert len(ssl.create_default_context(cafile=str(bundle)).get_ca_certs()) == 1
    plain = SlackTransport(SlackConfig.model_validate({"webhook_url": "https://h.example/x"}))
    assert plain._ssl.minimum_version >= ssl.TLSVersion.TLSv1_2


def x509_subject(ca: trustme.CA) -> tuple[tuple[tuple[str, str]], ...]:
    """The CA's subject as ssl.SSLContext.get_ca_certs() spells it."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    names = {NameOID.ORGANIZATION_NAME: "organizationName",
             NameOID.ORGANIZATIONAL_UNIT_NAME: "organizationalUnitName",
             NameOID.COMMON_NAME: "commonName"}
    cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    return tuple(((names[a.oid], str(a.value)),) for a in cert.subject if a.oid in names)


def test_tls_errors_name_the_problem_and_the_slack_setting(
        tmp_path: Path, retry: RetryPolicy) -> None:
    from datetime import datetime

    from auditor.notify.slack import DeliveryError, SlackTransport

    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    cases = [
        ({}, None, "is issued by a CA this machine does not trust (unable to get local issuer "
         "certificate); fix: put the issuing CA certificate (PEM) in slack.ca_bundle"),
        ({"not_before": datetime(2020, 1, 1), "not_after": datetime(2021, 1, 1)}, str(bundle),
         "has expired (certificate has expired); fix: the certificate must be renewed on the "
         "server; slack.ca_bundle cannot make an expired certificate valid"),
    ]
    for kw, ca_bundle, expected in cases:
        with _served_by(ca, **kw) as fake:
            host = fake.api_url.split("//")[1].split("/")[0]
            hook = SlackConfig.model_validate({"webhook_url": fake.webhook_url(),
                                               "ca_bundle": ca_bundle})
            outcome = notify_run(result([finding()]), hook, MemoryOutbox(), report_path=None,
                                 retry=retry)
            assert outcome.failed == 1
            (error,) = outcome.errors
            assert f"cannot reach Slack: the certificate of {host} {expected} " \
                   "[SSL: CERTIFICATE_VERIFY_FAILED]" in error
            assert fake.webhook_url().split(host)[1] not in error  # the webhook's secret path
            bot = SlackConfig.model_validate({"bot_token": fake.token, "channel": "#c",
                                              "api_base_url": fake.api_url,
                                              "ca_bundle": ca_bundle})
            with pytest.raises(DeliveryError) as err:
                SlackTransport(bot, retry=retry).check("default")
            assert str(err.value).startswith(f"cannot reach Slack: the certificate of {host} ")
            assert expected in str(err.value) and err.value.unreachable
            assert fake.calls("webhook") == []
    with _served_by(ca, "soar.example.com") as fake:
        hook = SlackConfig.model_validate({"webhook_url": fake.webhook_url(),
                                           "ca_bundle": str(bundle)})
        outcome = notify_run(result([finding()]), hook, MemoryOutbox(), report_path=None,
                             retry=retry)
        assert "is not issued for 127.0.0.1:" in outcome.errors[0]
        assert ("fix: use the host name the certificate names in the Slack URL (webhook_url or "
                "api_base_url)") in outcome.errors[0]
