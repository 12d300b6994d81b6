"""Escaping of hostile text (everything that comes from the SOAR API) for each output medium."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def term_safe(text: object, *, keep_newlines: bool = False) -> str:
    """Text for a terminal or a log line: control characters (ANSI escapes, bidi overrides,
    newlines unless kept) are shown as visible escapes instead of being interpreted."""
    value = text if type(text) is str else str(text)
    if value.isascii() and value.isprintable():  # the usual case: nothing to escape
        return value
    pattern = _CONTROL if keep_newlines else _CONTROL_ALL
    return pattern.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100
                       else f"\\u{ord(m.group(0)):04x}", value)


def mrkdwn_escape(text: object) -> str:
    """Slack mrkdwn: &, < and > are the only characters Slack wants escaped; with them escaped a
    name like ``<!channel>`` or ``<https://x|y>`` is shown as text and pings nobody."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_safe(value: object) -> str:
    """A spreadsheet cell that cannot be a formula: a leading ' is added to text that a
    spreadsheet would evaluate (OWASP CSV injection guidance). Control characters (ANSI escapes)
    are shown as visible escapes, so that `cat findings.csv` cannot drive the terminal."""
    text = "" if value is None else term_safe(value, keep_newlines=True)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text
