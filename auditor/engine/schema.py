"""The shape of a rule file (pydantic): metadata, compliance mapping, condition, templates.

Conditions and templates are only checked for shape here; :mod:`auditor.engine.rules` compiles
them against the fact registry.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from auditor.vocab import FRAMEWORK_TITLES as FRAMEWORK_TITLES  # their home: auditor.vocab
from auditor.vocab import FRAMEWORKS as FRAMEWORKS
from auditor.vocab import Severity

ResourceKind = Literal["api_key", "tenant", "idp_mapping", "iam_member"]
Dependency = Literal["permission_groups"]  # the keys of auditor.engine.facts.DEPENDENCIES
# The API surface a check reads (auditor.soar.models.SURFACES); a tenant without it gets no
# finding of the check: the rule is not applicable there.
SurfaceKind = Literal["legacy", "chronicle", "iam"]
DEFAULT_SURFACE: dict[str, SurfaceKind | None] = {
    "api_key": "legacy", "idp_mapping": "chronicle", "iam_member": "iam", "tenant": None,
}
# Evidence keys the engine writes itself.
RESERVED_EVIDENCE = ("unknown", "auth", "note")
_EVIDENCE_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")

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


ConditionNode = dict[str, Any] | list[Any]
# An evidence entry: a fact or parameter name (stored under that name), or {KEY: NAME} (NAME's
# value stored under KEY).
EvidenceItem = str | dict[str, str]


def evidence_pairs(items: list[EvidenceItem]) -> list[tuple[str, str]]:
    """(key in the finding's evidence, fact or parameter name) of each evidence entry."""
    return [(i, i) if isinstance(i, str) else next(iter(i.items())) for i in items]


class SeverityWhen(_Strict):
    severity: Severity
    when: ConditionNode


class _CheckFields(_Strict):
    """What is evaluated on one resource type: shared by a rule file and its `also` entries."""

    surface: SurfaceKind | None = None
    when: ConditionNode
    unknown_when: ConditionNode | None = None
    unknown_message: str | None = None
    evidence: list[EvidenceItem] = Field(default_factory=list)
    severity_when: list[SeverityWhen] = Field(default_factory=list)
    # Sources the verdict relies on beyond what the condition's facts say (auditor.engine.facts
    # DEPENDENCIES); the facts a condition reads add theirs.
    depends_on: list[Dependency] = Field(default_factory=list)

    @field_validator("evidence")
    @classmethod
    def _evidence(cls, value: list[EvidenceItem]) -> list[EvidenceItem]:
        for item in value:
            if isinstance(item, dict):
                if len(item) != 1:
                    raise ValueError("an entry is a fact name, or {KEY: FACT} with one key")
                key = next(iter(item))
                if not _EVIDENCE_KEY.fullmatch(key):
                    raise ValueError(f"{key!r}: an evidence key is lower-case letters, digits "
                                     "and '_', starting with a letter")
        keys = [k for k, _ in evidence_pairs(value)]
        if len(set(keys)) != len(keys):
            raise ValueError("a fact is listed twice")
        reserved = [k for k in keys if k in RESERVED_EVIDENCE]
        if reserved:
            raise ValueError(f"{reserved[0]!r} is written by the auditor itself; use another key")
        return value

    @field_validator("depends_on")
    @classmethod
    def _depends_on(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a source is listed twice")
        return value


class AlsoCheck(_CheckFields):
    """The same rule (same id) evaluated on one more resource type; message and remediation
    default to the rule's (their placeholders must then be facts of this resource too)."""

    resource: ResourceKind
    message: NonEmpty | None = None
    remediation: NonEmpty | None = None


class RuleFile(_CheckFields):
    id: Annotated[str, Field(pattern=RULE_ID_PATTERN, max_length=64)]
    title: NonEmpty
    severity: Severity
    resource: ResourceKind = "api_key"
    description: NonEmpty
    risk: str = ""
    remediation: NonEmpty
    references: list[Reference] = Field(default_factory=list)
    compliance: dict[str, list[str]] = Field(default_factory=dict)
    message: NonEmpty
    also: list[AlsoCheck] = Field(default_factory=list)
    # name -> {type, default, description, min, max}: checked by auditor.config.params (the
    # configuration reads the same declarations to check rules.params)
    params: dict[str, Any] = Field(default_factory=dict)

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
