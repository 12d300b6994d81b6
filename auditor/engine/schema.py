"""The shape of a rule file (pydantic): metadata, compliance mapping, condition, templates.

Conditions and templates are only checked for shape here; :mod:`auditor.engine.rules` compiles
them against the fact registry.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from auditor.engine.findings import Severity

ResourceKind = Literal["api_key", "tenant"]
Dependency = Literal["permission_groups"]  # the keys of auditor.engine.facts.DEPENDENCIES

# framework id -> (display title, pattern of a control id)
FRAMEWORKS: dict[str, tuple[str, str]] = {
    "nist-800-53-r5": ("NIST SP 800-53 Rev. 5", r"[A-Z]{2}-\d{1,2}(\(\d{1,2}\))?"),
    "cis-v8": ("CIS Controls v8", r"\d{1,2}(\.\d{1,2})?"),
    "soc2": ("SOC 2 Trust Services Criteria", r"(CC|A|C|PI|P)\d{1,2}\.\d{1,2}"),
    "iso27001-2022": ("ISO/IEC 27001:2022 Annex A", r"A\.[5-8]\.\d{1,2}"),
}
FRAMEWORK_TITLES: dict[str, str] = {k: title for k, (title, _) in FRAMEWORKS.items()}
_FRAMEWORK_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

NonEmpty = Annotated[str, Field(min_length=1)]
RULE_ID_PATTERN = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$"


class ComplianceError(ValueError):
    """A problem with one framework's list (``framework`` lets errors point at its line)."""

    def __init__(self, framework: str, message: str) -> None:
        super().__init__(f"{framework}: {message}")
        self.framework = framework


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reference(_Strict):
    title: NonEmpty
    url: Annotated[str, Field(pattern=r"^https://\S+$")]


class RuleFile(_Strict):
    id: Annotated[str, Field(pattern=RULE_ID_PATTERN, max_length=64)]
    title: NonEmpty
    severity: Severity
    resource: ResourceKind = "api_key"
    description: NonEmpty
    risk: str = ""
    remediation: NonEmpty
    references: list[Reference] = Field(default_factory=list)
    compliance: dict[str, list[str]] = Field(default_factory=dict)
    when: dict[str, Any] | list[Any]
    unknown_when: dict[str, Any] | list[Any] | None = None
    message: NonEmpty
    unknown_message: str | None = None
    evidence: list[str] = Field(default_factory=list)
    # Sources the verdict relies on beyond what the condition's facts say (auditor.engine.facts
    # DEPENDENCIES); the facts a condition reads add theirs.
    depends_on: list[Dependency] = Field(default_factory=list)

    @field_validator("compliance", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for framework, controls in value.items():
                for control in controls if isinstance(controls, list) else []:
                    if not isinstance(control, str):
                        raise ComplianceError(
                            str(framework),
                            f"write control ids as quoted text (e.g. \"5.4\"), got {control!r}",
                        )
        return value

    @field_validator("compliance")
    @classmethod
    def _compliance(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for framework, controls in value.items():
            if not _FRAMEWORK_ID.fullmatch(framework):
                raise ComplianceError(
                    framework,
                    "a framework id is lower-case letters, digits, '.', '-' "
                    f"(known: {', '.join(FRAMEWORKS)})",
                )
            if not controls:
                raise ComplianceError(framework, "list at least one control")
            pattern = FRAMEWORKS.get(framework, ("", r"\S.*"))[1]
            for control in controls:
                if not re.fullmatch(pattern, control):
                    raise ComplianceError(framework, f"{control!r} is not a control id of "
                                          f"{FRAMEWORK_TITLES.get(framework, framework)}")
            if len(set(controls)) != len(controls):
                raise ComplianceError(framework, "a control is listed twice")
        return value

    @field_validator("evidence")
    @classmethod
    def _evidence(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a fact is listed twice")
        return value

    @field_validator("depends_on")
    @classmethod
    def _depends_on(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a source is listed twice")
        return value
