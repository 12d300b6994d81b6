"""The scenario file format of the SOAR simulator (pydantic models; see scenario.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from auditor.soar.catalog import NAMES as ENDPOINTS
from auditor.soar.catalog import canonical_name

__all__ = ["ENDPOINTS", "ChronicleSpec", "Fault", "GroupSpec", "Phase", "ScenarioModel", "World"]

BASE_PHASE = "base"
TIME_FIELDS = {
    "created_days_ago": "creationTimeUnixTimeInMs",
    "modified_days_ago": "modificationTimeUnixTimeInMs",
}


class ScenarioError(ValueError):
    """A bad scenario file: one line naming the file, the line, the field and the problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fault(_Model):
    """One injected misbehaviour of the simulator.

    ``endpoint``: an endpoint name of :data:`ENDPOINTS` (any case) or ``*``; ``group_id`` narrows
    GetPermissionGroup / GetAllEnvironmentStatus to one group. ``times``: how many requests it
    hits before the endpoint behaves again (absent: every request). ``status``: answer this HTTP
    status (with ``retry_after`` as the Retry-After header when given). ``body``: ``malformed``
    (truncated JSON), ``wrong_shape`` (an object where an array is expected and vice versa),
    ``html`` (a proxy's error page) or ``empty``; with no status the body comes with 200.
    ``delay_ms``: wait before answering. ``disconnect``: close the connection without an answer.
    A fault with only ``delay_ms`` slows a normal answer down.
    """

    endpoint: str = "*"
    group_id: int | None = None
    times: Annotated[int, Field(ge=1)] | None = None
    status: Annotated[int, Field(ge=100, le=599)] | None = None
    retry_after: int | float | str | None = None
    body: Literal["malformed", "wrong_shape", "html", "empty"] | None = None
    delay_ms: Annotated[int, Field(ge=0, le=600_000)] = 0
    disconnect: bool = False
    # Hostile answers: ``reply`` is served as the JSON body (any value), ``raw`` as the body's
    # exact text (e.g. 100,000 nested brackets, a lone surrogate escape); ``page`` narrows the
    # fault to one page of a list (requestedPage, or the position in a page-token chain).
    reply: Any = None
    raw: str | None = None
    page: Annotated[int, Field(ge=0)] | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if value == "*":
            return value
        name = canonical_name(value)
        if name is None:
            raise ValueError(f"unknown endpoint {value!r} (one of: *, {', '.join(ENDPOINTS)})")
        return name

    def matches(self, endpoint: str, group_id: int | None, page: int | None = None) -> bool:
        if self.endpoint not in ("*", endpoint):
            return False
        if self.page is not None and self.page != (page or 0):
            return False
        return self.group_id is None or self.group_id == group_id


def _time_fields(record: dict[str, Any]) -> None:
    for sim_field, api_field in TIME_FIELDS.items():
        if sim_field in record:
            value = record[sim_field]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{sim_field} must be a number of days")
            if api_field in record:
                raise ValueError(f"give {sim_field} or {api_field}, not both")


def _key_record(record: dict[str, Any]) -> dict[str, Any]:
    if "id" not in record:
        raise ValueError("an API key record needs an id")
    _time_fields(record)
    return record


def _role_record(record: dict[str, Any]) -> dict[str, Any]:
    if "id" not in record:
        raise ValueError("a SOC role needs an id")
    return record


def _env_record(record: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(record.get("name"), str):
        raise ValueError("an environment needs a name (text)")
    _time_fields(record)
    return record


KeyRecord = Annotated[dict[str, Any], AfterValidator(_key_record)]
RoleRecord = Annotated[dict[str, Any], AfterValidator(_role_record)]
EnvRecord = Annotated[dict[str, Any], AfterValidator(_env_record)]


class GroupSpec(_Model):
    id: int
    name: str
    card: dict[str, Any] = Field(default_factory=dict)
    detail: dict[str, Any] = Field(default_factory=dict)
    detail_http_status: Annotated[int, Field(ge=400, le=599)] | None = None
    # Raw body of GetAllEnvironmentStatus/{id}; when not given at all, that call answers 404.
    status: Any = None

    @property
    def has_status(self) -> bool:
        return "status" in self.model_fields_set


T = TypeVar("T")


class ChangeSet(_Model, Generic[T]):
    """Changes of one collection in a phase. Records are identified by ``id`` (environments by
    ``name``); ``update`` entries are merged field by field over the record they identify."""

    replace: list[T] | None = None
    add: list[T] = Field(default_factory=list)
    update: list[dict[str, Any]] = Field(default_factory=list)
    remove: list[int | str] = Field(default_factory=list)


def _named_record(record: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(record.get("name"), str):
        raise ValueError("a Chronicle record needs a name (its resource name, text)")
    return record


def _binding_record(record: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(record.get("role"), str):
        raise ValueError("an IAM binding needs a role (text)")
    return record


NamedRecord = Annotated[dict[str, Any], AfterValidator(_named_record)]
BindingRecord = Annotated[dict[str, Any], AfterValidator(_binding_record)]


class ChronicleSpec(_Model):
    """The Chronicle API and IAM surfaces of the simulated tenant: where they live (the paths
    name the project, location and instance) and whether IAM answers."""

    project: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] = "sim-secops"
    location: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,40}$")] = "us"
    instance: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] = (
        "00000000-0000-4000-8000-000000000000")
    iam: bool = True
    legacy: bool = True  # the legacy SOAR API answers too (False: a Chronicle-only tenant)
    max_page_size: Annotated[int, Field(ge=1, le=1000)] = 1000


class Phase(_Model):
    description: str | None = None
    system_version: Any = None
    environments: ChangeSet[EnvRecord] | None = None
    permission_groups: ChangeSet[GroupSpec] | None = None
    soc_roles: ChangeSet[RoleRecord] | None = None
    api_keys: ChangeSet[KeyRecord] | None = None
    idp_mappings: ChangeSet[NamedRecord] | None = None
    users: ChangeSet[NamedRecord] | None = None
    iam_bindings: ChangeSet[BindingRecord] | None = None


class ScenarioModel(_Model):
    tenant: str
    description: str | None = None
    app_keys: Annotated[list[Annotated[str, Field(min_length=4)]], Field(min_length=1)]
    bearer_tokens: list[Annotated[str, Field(min_length=4)]] = Field(default_factory=list)
    system_version: Any = "6.3.47.0"
    max_page_size: Annotated[int, Field(ge=1)] = 100
    latency_ms: Annotated[int, Field(ge=0, le=600_000)] = 0
    environments: list[EnvRecord] = Field(default_factory=list)
    permission_groups: list[GroupSpec] = Field(default_factory=list)
    soc_roles: list[RoleRecord] = Field(default_factory=list)
    api_keys: list[KeyRecord] = Field(default_factory=list)
    # Which form of SOC roles answers: Google's paged POST, the bare-array GET, or both.
    socroles: Literal["post", "get", "both"] = "post"
    chronicle: ChronicleSpec | None = None
    idp_mappings: list[NamedRecord] = Field(default_factory=list)  # raw Group Mapping entries
    users: list[NamedRecord] = Field(default_factory=list)  # raw legacySoarUsers records
    iam_bindings: list[BindingRecord] = Field(default_factory=list)  # raw policy bindings
    faults: list[Fault] = Field(default_factory=list)
    phases: dict[str, Phase] = Field(default_factory=dict)

    @field_validator("phases")
    @classmethod
    def _phase_names(cls, phases: dict[str, Phase]) -> dict[str, Phase]:
        if BASE_PHASE in phases:
            raise ValueError(f"{BASE_PHASE!r} is the name of the unchanged data; pick another")
        return phases


@dataclass(frozen=True, slots=True)
class World:
    """The data the simulator serves in one phase, with relative times resolved."""

    system_version: Any
    environments: tuple[dict[str, Any], ...]
    permission_groups: tuple[GroupSpec, ...]
    soc_roles: tuple[dict[str, Any], ...]
    api_keys: tuple[dict[str, Any], ...]
    idp_mappings: tuple[dict[str, Any], ...] = ()
    users: tuple[dict[str, Any], ...] = ()
    iam_bindings: tuple[dict[str, Any], ...] = ()
