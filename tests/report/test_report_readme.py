"""README's Reports section documents every output as a user types it."""

from __future__ import annotations

import re
from pathlib import Path

from auditor.config import FORMATS
from auditor.report import REPORTERS

README = Path(__file__).resolve().parents[2] / "README.md"


def _reports() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## Reports\n"):text.index("## State and history")]


def test_every_format_has_a_row_with_its_files() -> None:
    section = _reports()
    for name in FORMATS:
        row = re.search(rf"^\| `{name}` \| (.+?) \|", section, re.M)
        assert row, name
        files = getattr(REPORTERS[name], "filenames", (REPORTERS[name].filename,))
        assert all(f"`{f}`" in row[1] for f in files), (name, row[1])


def test_the_commands_shown_use_known_formats() -> None:
    for line in re.findall(r"^soar-auditor .+$", _reports(), re.M):
        for fmt in re.findall(r"--format (\S+)", line):
            assert fmt in FORMATS, line
    assert "#findings?sev=high&above=1&status=fail" in _reports()
