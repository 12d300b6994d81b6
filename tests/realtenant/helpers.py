"""Real stand-ins on loopback for what a real tenant's network has: a Google OAuth token endpoint
(with a service-account key made at runtime), a forwarding CONNECT proxy, TLS certificates from a
throwaway CA. Everything binds 127.0.0.1 on a free port and is stopped by the tests' fixtures."""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import google.auth.jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


# -- a service account and its token endpoint ---------------------------------------------------
@dataclass
class ServiceAccount:
    path: Path
    email: str
    public_pem: bytes
    private_pem: str


def make_service_account(folder: Path, token_uri: str) -> ServiceAccount:
    """A real service-account key file (RSA 2048), whose token_uri is ``token_uri``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    email = "soar-auditor@test-project.iam.gserviceaccount.com"
    info = {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "test-key-1",
        "private_key": private_pem,
        "client_email": email,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    path = folder / "service-account.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return ServiceAccount(path, email, public_pem, private_pem)


@dataclass
class _TokenState:
    tokens: list[str]
    expires_in: int = 3600
    delay: float = 0.0
    error: str | None = None  # answer 400 {"error": ...} instead of a token
    public_pem: bytes | None = None
    issued: list[str] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _TokenHandler(BaseHTTPRequestHandler):
    server: _TokenHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = {k: v[0] for k, v in parse_qs(body).items()}
        if state.delay:
            time.sleep(state.delay)
        answer: dict[str, Any]
        status = 200
        try:
            assert form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer"
            assert state.public_pem is not None
            # google-auth addresses the assertion to Google's token endpoint wherever it sends it
            claims = google.auth.jwt.decode(  # type: ignore[no-untyped-call]
                form["assertion"], certs=state.public_pem,
                audience=[GOOGLE_TOKEN_URI, self.server.token_uri])
        except Exception as exc:  # a bad signature, audience, or request
            with state.lock:
                state.rejected.append(type(exc).__name__)
            status, answer = 400, {"error": "invalid_grant",
                                   "error_description": "Invalid JWT Signature."}
        else:
            with state.lock:
                state.claims.append(claims)
                if state.error is not None:
                    status, answer = 400, {"error": state.error,
                                           "error_description": "Account disabled."}
                else:
                    token = state.tokens[len(state.issued)]
                    state.issued.append(token)
                    answer = {"access_token": token, "expires_in": state.expires_in,
                              "token_type": "Bearer"}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _TokenHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: _TokenState, ssl_context: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _TokenHandler)
        self.state = state
        scheme = "https" if ssl_context else "http"
        self.token_uri = f"{scheme}://127.0.0.1:{self.server_address[1]}/token"
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True)


class TokenServer:
    """Google's OAuth token endpoint for the JWT-bearer grant of service accounts: checks the
    assertion's signature (with the service account's public key) and audience, then hands out
    ``tokens`` in order."""

    def __init__(self, tokens: list[str], ssl_context: ssl.SSLContext | None = None) -> None:
        self.state = _TokenState(tokens=list(tokens))
        self._httpd = _TokenHTTPServer(self.state, ssl_context)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def token_uri(self) -> str:
        return self._httpd.token_uri

    def start(self) -> TokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


# -- a forwarding proxy -------------------------------------------------------------------------
class ConnectProxy:
    """An HTTP proxy that only tunnels (CONNECT host:port), as corporate proxies do for HTTPS.
    ``connects`` lists the targets asked for; ``deny`` makes it answer 403 for those hosts."""

    def __init__(self, deny: tuple[str, ...] = ()) -> None:
        self.connects: list[str] = []
        self.deny = deny
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._main = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self) -> ConnectProxy:
        self._main.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._main.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._tunnel, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _tunnel(self, client: socket.socket) -> None:
        try:
            self._handle(client)
        except OSError:  # a peer that hung up mid-way: the tunnel is over
            pass

    def _handle(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            self.connects.append(target)
            host, port = target.rsplit(":", 1)
            if host in self.deny:
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            try:
                upstream = socket.create_connection((host, int(port)), timeout=5)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            with upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._pipe(client, upstream)

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peers), [], [], 0.1)
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
