"""A fake Slack over real loopback HTTP, for the real slack-sdk clients.

It implements incoming-webhook POSTs (``/hooks/<random>``), and under ``/api/``: ``auth.test``,
``chat.postMessage``, ``files.getUploadURLExternal`` (whose ``upload_url`` points back at this
server), the upload POST itself (``/upload/<file id>``) and ``files.completeUploadExternal``.
It checks what real Slack checks and would reject (bearer token, at most 50 blocks, section and
context texts of at most 3,000 characters, header texts of at most 150, channel ids for uploads),
records every request, and can be told to fail: a status (429 with Retry-After, 5xx) a number of
times, or to be down altogether (connection refused) until brought back up.

Tokens and hook paths are random per instance: nothing here looks like a real Slack credential.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0  # what the fake answered
    answer: Any = None

    @property
    def endpoint(self) -> str:
        """"webhook", "upload" or the Web API method ("chat.postMessage" ...)."""
        path = urlsplit(self.path).path
        if path.startswith("/hooks/"):
            return "webhook"
        if path.startswith("/upload/"):
            return "upload"
        return path.removeprefix("/api/")

    @property
    def params(self) -> dict[str, Any]:
        ctype = self.headers.get("content-type", "")
        if "json" in ctype:
            data = json.loads(self.body or b"{}")
            return data if isinstance(data, dict) else {}
        query = parse_qs(urlsplit(self.path).query)
        form = parse_qs(self.body.decode("utf-8", "replace")) if self.body else {}
        return {k: v[0] for k, v in {**query, **form}.items()}


@dataclass
class Fault:
    status: int
    times: int = 1
    endpoint: str | None = None  # None: any request
    retry_after: int | None = None
    body: str | None = None
    skip: int = 0  # let this many matching requests through first


@dataclass
class _State:
    token: str
    hooks: dict[str, str] = field(default_factory=dict)  # path -> name
    requests: list[Recorded] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    pending_uploads: dict[str, str] = field(default_factory=dict)  # file id -> filename
    ts: int = 0
    scheme: str = "http"
    lock: threading.Lock = field(default_factory=threading.Lock)


def block_problem(blocks: Any) -> str | None:
    """What real Slack would reject in a blocks array (invalid_blocks), or None."""
    if blocks is None:
        return None
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "more than 50 blocks"
    for block in blocks:
        text = block.get("text") or {}
        limit = 150 if block.get("type") == "header" else 3000
        if len(text.get("text", "")) > limit:
            return f"{block.get('type')} text over {limit} characters"
        for element in block.get("elements", []):
            if len(element.get("text", "")) > 3000:
                return "context text over 3000 characters"
    return None


def _channel_id(name: str) -> str:
    if name[:1] in "CGD" and name[1:].isalnum() and name.isupper():
        return name
    return "C" + hashlib.sha256(name.lstrip("#").encode()).hexdigest()[:9].upper()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        rec = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                       self.rfile.read(length) if length else b"")
        with state.lock:
            state.requests.append(rec)
            fault = next((f for f in state.faults
                          if f.times > 0 and f.endpoint in (None, rec.endpoint)), None)
            if fault is not None and fault.skip > 0:
                fault.skip -= 1
                fault = None
            elif fault is not None:
                fault.times -= 1
        if fault is not None:
            headers = ({"Retry-After": str(fault.retry_after)}
                       if fault.retry_after is not None else {})
            body = fault.body if fault.body is not None else (
                "rate_limited" if fault.status == 429 else "internal_error")
            if rec.endpoint not in ("webhook", "upload"):
                body = json.dumps({"ok": False, "error": body})
            self._send(rec, fault.status, body, headers)
            return
        if rec.endpoint == "webhook":
            self._webhook(rec)
        elif rec.endpoint == "upload":
            self._upload(rec)
        else:
            self._api(rec)

    def _send(self, rec: Recorded, status: int, body: str | dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        rec.status, rec.answer = status, body
        raw = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        ctype = "application/json" if isinstance(body, dict) else "text/plain"
        self.send_header("Content-Type", f"{ctype}; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def _webhook(self, rec: Recorded) -> None:
        path = urlsplit(rec.path).path
        if path not in self.server.state.hooks:
            self._send(rec, 404, "no_service")
            return
        try:
            payload = json.loads(rec.body)
        except ValueError:
            self._send(rec, 400, "invalid_payload")
            return
        if not payload.get("text") and not payload.get("blocks"):
            self._send(rec, 400, "no_text")
        elif block_problem(payload.get("blocks")):
            self._send(rec, 400, "invalid_blocks")
        else:
            self._send(rec, 200, "ok")

    def _upload(self, rec: Recorded) -> None:
        file_id = urlsplit(rec.path).path.removeprefix("/upload/")
        state = self.server.state
        with state.lock:
            known = file_id in state.pending_uploads
            if known:
                state.uploads[file_id] = rec.body
        self._send(rec, 200 if known else 404, f"OK - {len(rec.body)}" if known else "not found")

    def _api(self, rec: Recorded) -> None:
        state = self.server.state
        if rec.headers.get("authorization") != f"Bearer {state.token}":
            self._send(rec, 200, {"ok": False, "error": "invalid_auth"})
            return
        params = rec.params
        method = rec.endpoint
        if method == "auth.test":
            self._send(rec, 200, {"ok": True, "user": "soar-auditor", "team": "Test",
                                  "user_id": "U0TEST", "team_id": "T0TEST"})
        elif method == "chat.postMessage":
            if not params.get("channel"):
                self._send(rec, 200, {"ok": False, "error": "channel_not_found"})
            elif block_problem(params.get("blocks")):
                self._send(rec, 200, {"ok": False, "error": "invalid_blocks"})
            elif not params.get("text") and not params.get("blocks"):
                self._send(rec, 200, {"ok": False, "error": "no_text"})
            else:
                with state.lock:
                    state.ts += 1
                    ts = f"{int(time.time())}.{state.ts:06d}"
                self._send(rec, 200, {"ok": True, "channel": _channel_id(params["channel"]),
                                      "ts": ts, "message": {"text": params.get("text")}})
        elif method == "files.getUploadURLExternal":
            if not params.get("filename") or not str(params.get("length", "")).isdigit():
                self._send(rec, 200, {"ok": False, "error": "invalid_arguments"})
                return
            file_id = "F" + secrets.token_hex(5).upper()
            with state.lock:
                state.pending_uploads[file_id] = params["filename"]
            host, port = self.server.server_address[:2]
            self._send(rec, 200, {"ok": True, "file_id": file_id,
                                  "upload_url": f"{state.scheme}://{host}:{port}/upload/"
                                                f"{file_id}"})
        elif method == "files.completeUploadExternal":
            files = json.loads(params.get("files") or "[]")
            channel = params.get("channel_id")
            if channel is not None and _channel_id(channel) != channel:
                self._send(rec, 200, {"ok": False, "error": "channel_not_found"})
            elif not files or any(f.get("id") not in state.uploads for f in files):
                self._send(rec, 200, {"ok": False, "error": "file_not_found"})
            else:
                self._send(rec, 200, {"ok": True, "files": [
                    {"id": f["id"], "title": f.get("title"), "name": state.pending_uploads[f["id"]]}
                    for f in files]})
        else:
            self._send(rec, 200, {"ok": False, "error": "unknown_method"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.state = state
        super().__init__(address, _Handler)


class FakeSlack:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        """``ssl_context``: serve HTTPS with it (e.g. a trustme certificate)."""
        self.state = _State(token=f"xoxb-test-{secrets.token_hex(12)}",
                            scheme="https" if ssl_context else "http")
        self.ssl_context = ssl_context
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        self._server = _Server(("127.0.0.1", self.port), self.state)
        if self.ssl_context is not None:
            self._server.socket = self.ssl_context.wrap_socket(self._server.socket,
                                                               server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def down(self) -> None:
        """Refuse connections (the port is closed) until :meth:`up`."""
        self.stop()

    def up(self) -> None:
        self.start()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and credentials ----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{self.state.scheme}://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def token(self) -> str:
        return self.state.token

    def webhook_url(self, name: str = "default") -> str:
        """A new incoming-webhook URL on the fake (random path)."""
        path = f"/hooks/{secrets.token_hex(4)}/{secrets.token_hex(16)}"
        self.state.hooks[path] = name
        return self.base_url + path

    # -- faults and records -----------------------------------------------------------------------
    def fail(self, status: int, *, times: int = 1, endpoint: str | None = None,
             retry_after: int | None = None, body: str | None = None, skip: int = 0) -> None:
        """Answer ``status`` to the next ``times`` requests to ``endpoint`` ("webhook",
        "upload", "chat.postMessage" ...; None: any), after letting ``skip`` of them through."""
        self.state.faults.append(Fault(status, times, endpoint, retry_after, body, skip))

    @property
    def requests(self) -> list[Recorded]:
        return list(self.state.requests)

    def calls(self, endpoint: str) -> list[Recorded]:
        return [r for r in self.state.requests if r.endpoint == endpoint]

    def accepted(self, endpoint: str) -> list[Recorded]:
        """Requests to ``endpoint`` that the fake accepted (HTTP 200 and, for the API, ok)."""
        return [r for r in self.calls(endpoint) if r.status == 200
                and (not isinstance(r.answer, dict) or r.answer.get("ok"))]

    def hook_name(self, rec: Recorded) -> str | None:
        return self.state.hooks.get(urlsplit(rec.path).path)

    @property
    def uploads(self) -> dict[str, bytes]:
        return dict(self.state.uploads)
