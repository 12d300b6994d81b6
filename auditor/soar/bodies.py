"""Response bodies of API calls: JSON decoding that no hostile body can turn into a crash or
an unwritable string, and the error envelopes of both surfaces (SOAR's ``ErrorMessage``,
Google's ``{"error": {...}}``)."""

from __future__ import annotations

import json
import re
from typing import Any

from auditor.textsafe import term_safe


def too_large(size: int | None, cap: int) -> str:
    what = f"{size / 1e6:.0f} MB" if size else "more"
    return (f"the response is larger than the cap of {cap / (1 << 20):g} MiB ({what}); not "
            "read (raise the tenant's max_response_mb if it is genuine)")


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def loads(content: bytes) -> Any:
    """JSON -> Python; a lone surrogate (a ``\\ud800`` escape no UTF-8 can hold) becomes U+FFFD,
    so that every string from the API can be written to every output."""
    value = json.loads(content)
    if b"\\ud" in content or b"\\uD" in content:
        value = _no_surrogates(value)
    return value


def _no_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_no_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_no_surrogates(k): _no_surrogates(v) for k, v in value.items()}
    return value


_PERMISSION = re.compile(r"[Pp]ermission '?([a-z][a-zA-Z]+(?:\.[a-zA-Z]+){2,})'?")


def error_message(response: Any) -> tuple[str, str | None]:
    """The server's own one-line explanation, shortened and made safe: SOAR's ``ErrorMessage``
    or Google's error envelope ``{"error": {"message", "status", "details"}}``; and, from
    Google's, the permission a 403 names (ErrorInfo ``metadata.permission`` or the message)."""
    try:
        data = response.json()
    except ValueError:
        return "", None
    if not isinstance(data, dict):
        return "", None
    message: Any = data.get("ErrorMessage")
    permission: str | None = None
    error = data.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        for detail in error.get("details") or []:
            meta = detail.get("metadata") if isinstance(detail, dict) else None
            if isinstance(meta, dict) and isinstance(meta.get("permission"), str):
                permission = meta["permission"]
        if permission is None and isinstance(message, str):
            found = _PERMISSION.search(message)
            permission = found.group(1) if found else None
        status = error.get("status")
        if isinstance(status, str) and isinstance(message, str):
            message = f"{status}: {message}"
    if not isinstance(message, str):
        return "", permission
    line = " ".join(term_safe(message).split())
    return line[:160] + ("..." if len(line) > 160 else ""), permission
