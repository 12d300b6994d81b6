"""The SOAR simulator: a real HTTP(S) server on loopback that answers the endpoints of the SOAR API
the auditor uses, from a :class:`~auditor.simulator.scenario.Scenario`.

Routes are case-insensitive; authentication is ``AppKey: <key>`` (or ``Authorization: Bearer
<token>`` when the scenario lists ``bearer_tokens``); a missing or wrong credential gets 401 with
``{"ErrorMessage": ...}``. Order of handling: global latency, routing (404 / 405), faults,
authentication, the answer. ``/_sim/...`` are control endpoints (no authentication, loopback only):
``GET /_sim/state``, ``POST /_sim/phase {"phase": "after"}``, ``POST /_sim/faults [...]``,
``POST /_sim/latency {"latency_ms": 100}``.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from auditor.clock import SYSTEM_CLOCK
from auditor.simulator.oauth import JWT_GRANT, TOKEN_PATH, ServiceAccount
from auditor.simulator.routes import (
    Call,
    Reply,
    answer,
    error_reply,
    fault_reply,
    google_error,
    json_reply,
    route,
)
from auditor.simulator.scenario import BASE_PHASE, Fault, Scenario, World

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestSpan:
    """One API request as the server saw it (monotonic clock), for concurrency assertions."""

    method: str
    path: str
    started: float
    finished: float


class _ActiveFault:
    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.left = fault.times


class SimulatorServer:
    """The simulator on ``host:port`` (port 0: a free one). See the module docstring."""

    def __init__(
        self,
        scenario: Scenario,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        from auditor.config import is_loopback_host

        if not is_loopback_host(host):
            raise ValueError(f"the simulator serves loopback hosts only, not {host!r}")
        self.scenario = scenario
        self.host, self._port, self.ssl_context = host, port, ssl_context
        self._clock = clock or SYSTEM_CLOCK.now
        self._lock = threading.Lock()
        self._phase: str | None = None
        self._faults = [_ActiveFault(f) for f in scenario.faults]
        self._latency_ms = scenario.latency_ms
        self._bearer_tokens = tuple(scenario.bearer_tokens)
        chron = scenario.chronicle
        self._surfaces = frozenset(
            (["legacy"] if chron is None or chron.legacy else [])
            + (["chronicle"] + (["iam"] if chron.iam else []) if chron is not None else []))
        self._dialects = scenario.dialects()
        self._service_account: ServiceAccount | None = None
        self.tokens_issued = 0
        self._log: list[tuple[str, str]] = []
        self._spans: list[RequestSpan] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._reference: datetime | None = None
        self._world: World | None = None
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            return self
        self._reference = self._clock()
        self._world = self.scenario.world(self._phase, self._reference)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        httpd = _HTTPServer((self.host, self._port), _Handler, family, self)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"soar-simulator-{httpd.server_address[1]}", daemon=True,
        )
        self._thread.start()
        log.debug("simulator for %s listening on %s", self.scenario.tenant, self.url)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @contextmanager
    def running(self) -> Iterator[SimulatorServer]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the simulator is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def app_key(self) -> str:
        return self.scenario.app_keys[0]

    @property
    def reference_time(self) -> datetime:
        """The time relative creation times are resolved against (the start time)."""
        if self._reference is None:
            raise RuntimeError("the simulator has not been started")
        return self._reference

    # -- runtime control -------------------------------------------------------------------------
    @property
    def phase(self) -> str:
        return self._phase or BASE_PHASE

    def set_phase(self, name: str | None) -> None:
        """Serve the data of phase ``name`` ("base" or None: the unchanged data)."""
        phase = None if name in (None, BASE_PHASE) else name
        if phase is not None and phase not in self.scenario.phase_names:
            self.scenario.world(phase, self._clock())  # raises KeyError naming the phases
        world = self.scenario.world(phase, self._reference) if self._reference else None
        with self._lock:
            self._phase, self._world = phase, world

    def set_faults(self, faults: Iterable[Fault | Mapping[str, Any]]) -> None:
        """Replace the active faults (dicts are validated as :class:`Fault`)."""
        active = [_ActiveFault(f if isinstance(f, Fault) else Fault.model_validate(dict(f)))
                  for f in faults]
        with self._lock:
            self._faults = active

    def set_latency_ms(self, latency_ms: int) -> None:
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        with self._lock:
            self._latency_ms = latency_ms

    def set_bearer_tokens(self, tokens: Iterable[str]) -> None:
        """Replace the accepted Bearer tokens (e.g. revoke an old token, accept a new one)."""
        accepted = tuple(tokens)
        if any(len(t) < 4 for t in accepted):
            raise ValueError("a bearer token needs at least 4 characters")
        with self._lock:
            self._bearer_tokens = accepted

    @property
    def request_log(self) -> list[tuple[str, str]]:
        """(method, path) of every API request seen (control endpoints excluded)."""
        with self._lock:
            return list(self._log)

    @property
    def request_spans(self) -> list[RequestSpan]:
        with self._lock:
            return list(self._spans)

    @property
    def max_in_flight(self) -> int:
        """The most API requests that were being answered at the same time."""
        with self._lock:
            return self._max_in_flight

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._spans.clear()
            self._max_in_flight = 0

    # -- request handling ------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request (``headers`` with lower-case names)."""
        path = urlsplit(raw_path).path.rstrip("/") or "/"
        if path.lower().startswith("/_sim/") or path.lower() == "/_sim":
            return self._control(method, path.lower(), body)
        started = time.monotonic()
        with self._lock:
            self._log.append((method, raw_path))
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            latency = self._latency_ms
        try:
            if latency:
                time.sleep(latency / 1000)
            return self._api(method, raw_path, headers, body)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._spans.append(RequestSpan(method, raw_path, started, time.monotonic()))

    def _api(self, method: str, raw_path: str, headers: Mapping[str, str],
             body: bytes) -> Reply:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        if path.lower() == TOKEN_PATH and method == "POST":
            return self._token(body)
        routed = route(method, path, self._surfaces, self._dialects, self.scenario.chronicle)
        if isinstance(routed, Reply):
            return routed
        fault = self._take_fault(routed.name, routed.item, _page_of(routed, body, parts.query))
        if fault is not None:
            if fault.delay_ms:
                time.sleep(fault.delay_ms / 1000)
            reply = fault_reply(fault, routed.name, routed)
            if reply is not None:
                return reply
        if not self._authorized(headers, routed):
            if routed.google:
                return google_error(401, "Request had invalid authentication credentials.")
            return error_reply(401, "Unauthorized: a valid AppKey header is required")
        with self._lock:
            world = self._world
        assert world is not None
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        return answer(routed, world, body, query, self.scenario.max_page_size,
                      self.scenario.chronicle)

    # -- OAuth: a service account of the simulator, and its token endpoint -----------------------
    def service_account_info(self) -> dict[str, Any]:
        """A service-account key (the JSON google-auth reads) whose tokens this simulator issues:
        made when first asked for, held in memory, its token_uri this server. Write it to a file
        only where a test or the demo needs one, and remove it after."""
        with self._lock:
            if self._service_account is None:
                project = self.scenario.chronicle.project if self.scenario.chronicle else "sim"
                self._service_account = ServiceAccount.create(project)
            account = self._service_account
        return account.info(f"{self.url}{TOKEN_PATH}")

    def _token(self, body: bytes) -> Reply:
        """RFC 7523 JWT bearer grant: a valid assertion of the simulator's service account gets
        a fresh access token, accepted as Bearer from then on."""
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        with self._lock:
            account = self._service_account
        if account is None or form.get("grant_type") != JWT_GRANT:
            return json_reply(400, {"error": "invalid_grant", "error_description": "unknown"})
        if not account.verify(form.get("assertion", ""), f"{self.url}{TOKEN_PATH}"):
            return json_reply(400, {"error": "invalid_grant",
                                    "error_description": "Invalid JWT Signature."})
        token = "ya29.sim-" + secrets.token_urlsafe(24)
        with self._lock:
            self._bearer_tokens = (*self._bearer_tokens, token)
            self.tokens_issued += 1
        return json_reply(200, {"access_token": token, "expires_in": 3600,
                                "token_type": "Bearer"})

    def _take_fault(self, endpoint: str, group_id: int | None,
                    page: int | None = None) -> Fault | None:
        with self._lock:
            for active in self._faults:
                if active.left == 0 or not active.fault.matches(endpoint, group_id, page):
                    continue
                if active.left is not None:
                    active.left -= 1
                return active.fault
        return None

    def _authorized(self, headers: Mapping[str, str], call: Call) -> bool:
        app_key = headers.get("appkey")
        if app_key is not None and not call.google and any(
            hmac.compare_digest(app_key.encode(), k.encode()) for k in self.scenario.app_keys
        ):
            return True
        auth = headers.get("authorization") or ""
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip().encode()
            with self._lock:
                accepted = self._bearer_tokens
            return any(hmac.compare_digest(token, t.encode()) for t in accepted)
        return False

    def _control(self, method: str, path: str, body: bytes) -> Reply:
        try:
            payload = json.loads(body) if body else None
            if method == "POST" and path == "/_sim/phase":
                if not isinstance(payload, dict):
                    raise ValueError('expected {"phase": "<name>"}')
                self.set_phase(payload.get("phase"))
            elif method == "POST" and path == "/_sim/faults":
                if not isinstance(payload, list):
                    raise ValueError("expected a JSON array of faults")
                self.set_faults(payload)
            elif method == "POST" and path == "/_sim/latency":
                if not isinstance(payload, dict):
                    raise ValueError('expected {"latency_ms": N}')
                self.set_latency_ms(int(payload.get("latency_ms", 0)))
            elif not (method == "GET" and path == "/_sim/state"):
                return error_reply(404, "Not found")
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            return error_reply(400, message.strip("'\""))
        with self._lock:
            faults = [a.fault.model_dump(exclude_defaults=True) for a in self._faults]
            state = {"tenant": self.scenario.tenant, "phase": self.phase,
                     "phases": [BASE_PHASE, *self.scenario.phase_names],
                     "faults": faults, "latency_ms": self._latency_ms}
        return json_reply(200, state)


def _page_of(call: Call, body: bytes, query: str) -> int | None:
    """Which page a list request asks for (numbered: requestedPage; tokens: the position the
    simulator's own token encodes)."""
    import base64

    try:
        if call.dialect.paging == "pages":
            return int(json.loads(body or b"{}").get("requestedPage", 0))
        if call.dialect.paging == "tokens":
            token = parse_qs(query).get("pageToken", [""])[0]
            return int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except (ValueError, TypeError, AttributeError):
        return None
    return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 family: socket.AddressFamily, sim: SimulatorServer) -> None:
        self.address_family = family
        self.sim = sim
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (a reverse DNS lookup): not needed here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every answer.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.sim.ssl_context is not None:
            # The TLS handshake happens in the handler's thread, on first read.
            sock = self.sim.ssl_context.wrap_socket(sock, server_side=True,
                                                    do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("simulator: connection from %s ended with an error", client_address,
                  exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SoarSimulator/1"
    sys_version = ""
    timeout = 30  # idle keep-alive connections are dropped after this
    server: _HTTPServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.sim.handle(method, self.path, headers, body)
        if reply.disconnect:
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:  # the client went away (e.g. it timed out first)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("simulator: " + format, *args)

