"""The words every stage shares, each defined here and nowhere else: severities (names, order,
ranks), finding statuses (and their ranks), output formats, compliance frameworks.

A foundation module: it imports nothing of the auditor, and every stage may import it.
"""

from __future__ import annotations

from typing import Literal

# -- severities ------------------------------------------------------------------------------------
Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")  # worst first
# info=0 .. critical=4: higher is more severe
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(reversed(SEVERITIES))}

# -- finding statuses ------------------------------------------------------------------------------
Status = Literal["fail", "unknown", "muted", "resolved"]
STATUSES: tuple[Status, ...] = ("fail", "unknown", "muted", "resolved")
# fail=0 .. resolved=3: the order findings are listed in (auditor.result's orders)
STATUS_RANK: dict[str, int] = {s: i for i, s in enumerate(STATUSES)}
# Not passing: what alerts and the exit code count.
OPEN_STATUSES: tuple[Status, ...] = ("fail", "unknown")
# Still there (a muted finding is waived, not fixed): everything but resolved.
LEFT_STATUSES: tuple[Status, ...] = ("fail", "unknown", "muted")

# -- output formats --------------------------------------------------------------------------------
Format = Literal["html", "json", "csv", "junit", "ocsf", "markdown", "migration", "compliance"]
FORMATS: tuple[Format, ...] = ("html", "json", "csv", "junit", "ocsf", "markdown", "migration",
                               "compliance")
DEFAULT_FORMATS: tuple[Format, ...] = ("html", "json", "csv")

# -- compliance frameworks -------------------------------------------------------------------------
# framework id -> (title, pattern of a control id); rule files name the id, outputs the title.
FRAMEWORKS: dict[str, tuple[str, str]] = {
    "nist-800-53-r5": ("NIST SP 800-53 Rev. 5", r"[A-Z]{2}-\d{1,2}(\(\d{1,2}\))?"),
    "cis-v8": ("CIS Controls v8", r"\d{1,2}(\.\d{1,2})?"),
    "soc2": ("SOC 2 (TSC 2017)", r"(CC|A|C|PI|P)\d{1,2}\.\d{1,2}"),
    "iso27001-2022": ("ISO/IEC 27001:2022 Annex A", r"A\.[5-8]\.\d{1,2}"),
}
FRAMEWORK_TITLES: dict[str, str] = {k: title for k, (title, _) in FRAMEWORKS.items()}
# Other spellings of a framework id that rule files of one's own use (accepted with any control
# text), shown with the same titles.
FRAMEWORK_ALIASES: dict[str, str] = {
    "nist-800-53": "NIST SP 800-53",
    "cis-controls-v8": "CIS Controls v8",
    "cis": "CIS Controls",
    "soc-2": FRAMEWORK_TITLES["soc2"],
    "iso-27001-2022": FRAMEWORK_TITLES["iso27001-2022"],
}
# Every id -> its title, as the reports label a framework.
FRAMEWORK_LABELS: dict[str, str] = {**FRAMEWORK_TITLES, **FRAMEWORK_ALIASES}
