"""Slack transport: slack-sdk's WebhookClient (incoming webhook) and WebClient (bot token), with
slack-sdk retry handlers for 429 (honouring Retry-After), 5xx and connection errors.

Secrets (webhook URLs, the bot token) stay inside the clients: errors raised from here are
:class:`DeliveryError` with a text we write ourselves (scrubbed once more), and the clients log
through a logger whose filter removes every registered secret and pre-signed upload URL.
"""

from __future__ import annotations

import http.client
import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryState,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from auditor.config import SlackConfig
from auditor.logs import register_secret, scrub
from auditor.notify.message import DEFAULT_DESTINATION, route_destination
from auditor.soar.tls import TlsProblem, client_context, tls_problem
from auditor.textsafe import term_safe

log = logging.getLogger(__name__)

# A child of "slack_sdk", so that `setup_logging` keeps it at WARNING unless -vv is given.
_SDK_LOG = logging.getLogger("slack_sdk.auditor")
_UPLOAD_URL = re.compile(r"(https?://[^\s'\"]*?/upload/)[^\s'\"]*")


class _ScrubSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = _UPLOAD_URL.sub(r"\1[REDACTED]", scrub(record.getMessage()))
        record.msg = term_safe(text, keep_newlines=True)
        record.args = None
        return True


if not any(isinstance(f, _ScrubSecrets) for f in _SDK_LOG.filters):
    _SDK_LOG.addFilter(_ScrubSecrets())


class DeliveryError(Exception):
    """Slack did not accept a request. The text holds no secret. ``unreachable``: Slack could not
    be reached at all (or kept failing), so further requests to it in this pass are pointless."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(scrub(message))
        self.unreachable = unreachable


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one request tries. Tests inject a tiny backoff or a recording ``sleep``."""

    rate_limit_retries: int = 3
    server_error_retries: int = 2
    connection_retries: int = 2
    backoff_seconds: float = 0.5  # doubled at each retry (5xx and connection errors)
    max_retry_after: float = 120.0  # a longer Retry-After is not waited for: the outbox retries
    sleep: Callable[[float], None] = field(default=time.sleep)


def retry_after_seconds(response: HttpResponse | None) -> float:
    if response is None:
        return 1.0
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except ValueError:
                return 1.0
    return 1.0


class RateLimitRetry(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, waiting exactly Retry-After through an injectable sleep."""

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(max_retry_count=policy.rate_limit_retries)
        self.policy = policy

    def _can_retry(self, *, state: RetryState, request: HttpRequest,
                   response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        return (super()._can_retry(state=state, request=request, response=response, error=error)
                and retry_after_seconds(response) <= self.policy.max_retry_after)

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None,
                                 error: Exception | None = None) -> None:
        state.next_attempt_requested = True
        self.policy.sleep(retry_after_seconds(response))
        state.increment_current_attempt()


def _backoff(policy: RetryPolicy, state: RetryState) -> None:
    state.next_attempt_requested = True
    policy.sleep(policy.backoff_seconds * (2 ** state.current_attempt))
    state.increment_current_attempt()


class ServerErrorRetry(ServerErrorRetryHandler):
    """slack-sdk's 5xx handler, for every 5xx status (not only 500 and 503)."""

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(max_retry_count=policy.server_error_retries)
        self.policy = policy

    def _can_retry(self, *, state: RetryState, request: HttpRequest,
                   response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        return response is not None and 500 <= response.status_code <= 599

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None,
                                 error: Exception | None = None) -> None:
        _backoff(self.policy, state)


class ConnectionRetry(ConnectionErrorRetryHandler):
    """slack-sdk's connection-error handler, also for timeouts."""

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(
            max_retry_count=policy.connection_retries,
            error_types=[URLError, ConnectionError, http.client.RemoteDisconnected, TimeoutError],
        )
        self.policy = policy

    def _can_retry(self, *, state: RetryState, request: HttpRequest,
                   response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        reason = error.reason if isinstance(error, URLError) else error
        if isinstance(reason, ssl.SSLCertVerificationError):
            return False  # a certificate that is not trusted will not become trusted
        return super()._can_retry(state=state, request=request, response=response, error=error)

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None,
                                 error: Exception | None = None) -> None:
        _backoff(self.policy, state)


def retry_handlers(policy: RetryPolicy) -> list[RetryHandler]:
    return [RateLimitRetry(policy), ServerErrorRetry(policy), ConnectionRetry(policy)]


def host_of(url: str) -> str:
    """``host:port`` of a Slack URL (never its path: a webhook's path is its secret)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.hostname or 'the Slack server'}:{port or 443}"


# auditor.soar.tls words its fixes for tenants; these are the Slack settings they mean.
_SLACK_SETTINGS = {
    "the tenant's ca_bundle": "slack.ca_bundle",
    "; ca_bundle cannot": "; slack.ca_bundle cannot",
    "the tenant url": "the Slack URL (webhook_url or api_base_url)",
    "endpoint of the tenant": "endpoint of Slack",
}


def _tls_text(problem: TlsProblem, exc: BaseException, host: str | None) -> str:
    """What is wrong with Slack's certificate (or the handshake) and the fix; OpenSSL's code
    (e.g. CERTIFICATE_VERIFY_FAILED) last, as people search for it."""
    where = host or "the Slack server"
    fix = problem.fix(where)
    for tenant_word, slack_word in _SLACK_SETTINGS.items():
        fix = fix.replace(tenant_word, slack_word)
    inner = exc.reason if isinstance(exc, URLError) else exc
    code = inner.reason if isinstance(inner, ssl.SSLError) else None
    text = f"{problem.what(where)} ({problem.reason}); fix: {fix}"
    return f"{text} [SSL: {code}]" if code else text


def describe(exc: BaseException, host: str | None = None) -> DeliveryError:
    """A secret-free, one-line account of a failed request (``host``: ``host:port`` of the Slack
    server it went to, named in TLS errors)."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, URLError | OSError):
        problem = tls_problem(exc)
        if problem is not None:
            return DeliveryError(f"cannot reach Slack: {term_safe(_tls_text(problem, exc, host))}",
                                 unreachable=True)
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", None)
        data = getattr(exc.response, "data", None)
        error = data.get("error") if isinstance(data, dict) else None
        unreachable = status == 429 or (isinstance(status, int) and status >= 500)
        return DeliveryError(f"Slack refused the request (HTTP {status}, {term_safe(error)})",
                             unreachable=unreachable)
    if isinstance(exc, HTTPError):
        return DeliveryError(f"Slack answered HTTP {exc.code}",
                             unreachable=exc.code == 429 or exc.code >= 500)
    if isinstance(exc, URLError):
        return DeliveryError(f"cannot reach Slack: {term_safe(exc.reason)}", unreachable=True)
    if isinstance(exc, TimeoutError):
        return DeliveryError("Slack did not answer in time", unreachable=True)
    if isinstance(exc, OSError | http.client.HTTPException):
        return DeliveryError(f"network error talking to Slack: {term_safe(exc)}", unreachable=True)
    return DeliveryError(f"Slack request failed: {term_safe(exc)}"[:300])


_ERRORS = (SlackClientError, OSError, http.client.HTTPException, ValueError)


@dataclass(frozen=True, slots=True)
class Posted:
    channel: str | None  # the channel id (bot mode), for replies and uploads
    ts: str | None


class SlackTransport:
    """Sends to a destination *name* ("default", "route:<name>"); resolves it to a webhook URL or
    a channel from the configuration only at send time."""

    def __init__(self, slack: SlackConfig, *, retry: RetryPolicy | None = None,
                 timeout: int = 15) -> None:
        self.slack = slack
        self.policy = retry or RetryPolicy()
        self.timeout = timeout
        self._ssl_context: ssl.SSLContext | None = None
        self._web: WebClient | None = None
        self._hooks: dict[str, WebhookClient] = {}
        if slack.bot_token is not None:
            register_secret(slack.bot_token.get_secret_value())

    # -- destinations ---------------------------------------------------------------------------
    def destinations(self) -> list[str]:
        return [DEFAULT_DESTINATION] + [route_destination(r.name, i)
                                        for i, r in enumerate(self.slack.routes)]

    def _target(self, destination: str) -> tuple[str, str]:
        """("bot", channel) or ("webhook", url)."""
        if destination == DEFAULT_DESTINATION:
            if self.slack.bot_token is not None and self.slack.channel:
                return "bot", self.slack.channel
            if self.slack.webhook_url is not None:
                return "webhook", self.slack.webhook_url.get_secret_value()
        for index, route in enumerate(self.slack.routes):
            if route_destination(route.name, index) == destination:
                if route.channel is not None:
                    return "bot", route.channel
                if route.webhook_url is not None:
                    return "webhook", route.webhook_url.get_secret_value()
        raise DeliveryError(f"destination {destination!r} is no longer in the configuration")

    def is_bot(self, destination: str) -> bool:
        return self._target(destination)[0] == "bot"

    # -- clients --------------------------------------------------------------------------------
    @property
    def _ssl(self) -> ssl.SSLContext:
        """Verified TLS 1.2+: the system's CAs and certifi's, plus ``ca_bundle`` when given (it
        adds trust, it does not replace the system's)."""
        if self._ssl_context is None:
            try:
                self._ssl_context = client_context(self.slack.ca_bundle)
            except (OSError, ValueError) as exc:
                raise DeliveryError(f"slack.ca_bundle {self.slack.ca_bundle}: cannot be used "
                                    f"({term_safe(getattr(exc, 'strerror', None) or exc)})"
                                    ) from None
        return self._ssl_context

    def _web_client(self) -> WebClient:
        if self._web is None:
            assert self.slack.bot_token is not None
            base = self.slack.api_base_url.rstrip("/") + "/"
            self._web = WebClient(token=self.slack.bot_token.get_secret_value(), base_url=base,
                                  timeout=self.timeout, ssl=self._ssl, logger=_SDK_LOG,
                                  retry_handlers=retry_handlers(self.policy))
        return self._web

    def _hook(self, url: str) -> WebhookClient:
        register_secret(url)
        if url not in self._hooks:
            self._hooks[url] = WebhookClient(url, timeout=self.timeout, ssl=self._ssl,
                                             logger=_SDK_LOG,
                                             retry_handlers=retry_handlers(self.policy))
        return self._hooks[url]

    # -- requests -------------------------------------------------------------------------------
    def post(self, destination: str, text: str, blocks: list[dict[str, Any]], *,
             channel: str | None = None, thread_ts: str | None = None) -> Posted:
        kind, where = self._target(destination)
        try:
            if kind == "webhook":
                response = self._hook(where).send(text=text, blocks=blocks, unfurl_links=False,
                                                  unfurl_media=False)
                if response.status_code != 200:
                    raise DeliveryError(
                        f"Slack answered HTTP {response.status_code}: "
                        f"{term_safe(str(response.body)[:100])}",
                        unreachable=response.status_code == 429 or response.status_code >= 500)
                return Posted(None, None)
            answer = self._web_client().chat_postMessage(
                channel=channel or where, text=text, blocks=blocks, thread_ts=thread_ts,
                unfurl_links=False, unfurl_media=False)
            return Posted(str(answer.get("channel") or channel or where), str(answer.get("ts")))
        except _ERRORS as exc:
            raise describe(exc, host_of(where if kind == "webhook" else self.slack.api_base_url)
                           ) from None

    def upload(self, channel: str, thread_ts: str | None, path: Path, title: str, *,
               filename: str | None = None) -> None:
        """Attach a file in a thread (files_upload_v2: getUploadURLExternal, the upload itself,
        completeUploadExternal)."""
        try:
            self._web_client().files_upload_v2(
                file=str(path), filename=filename or path.name, title=title, channel=channel,
                thread_ts=thread_ts)
        except _ERRORS as exc:
            raise describe(exc) from None

    def check(self, destination: str) -> str:
        """auth.test for bot destinations (the token works): the bot's user name, else ''."""
        if self._target(destination)[0] != "bot":
            return ""
        try:
            answer = self._web_client().auth_test()
        except _ERRORS as exc:
            raise describe(exc, host_of(self.slack.api_base_url)) from None
        return str(answer.get("user") or "")
