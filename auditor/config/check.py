"""Checks the configuration models share: service URLs, and files named in the configuration
(relative to the configuration file's folder, read for secrets)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationInfo

_MAX_SECRET = 64 * 1024


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_service_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an https:// URL with a host name")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError("must be https:// (plain http:// is accepted only for loopback hosts)")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; use api_key or api_key_file")
    return url.rstrip("/")


def resolve_file(value: str | None, info: ValidationInfo) -> str | None:
    """A file named in the configuration, relative to its folder (the context's ``base``)."""
    if value is None:
        return None
    path = Path(value)
    base = (info.context or {}).get("base")
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return str(path)


def existing_file(value: str | None, info: ValidationInfo) -> str | None:
    resolved = resolve_file(value, info)
    if resolved is not None and not Path(resolved).is_file():
        raise ValueError(f"file not found: {resolved}")
    return resolved


def read_secret_file(path: str, field: str) -> str:
    """The secret a ``*_file`` holds (surrounding blanks removed): UTF-8, at most 64 KiB."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_SECRET + 1)
    except OSError as exc:
        raise ValueError(f"{field}: cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > _MAX_SECRET:
        raise ValueError(f"{field}: {path} is larger than 64 KiB; not a secret")
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{field}: {path} is not UTF-8 text (byte offset {exc.start})") from None
    if not value:
        raise ValueError(f"{field}: {path} is empty")
    return value
