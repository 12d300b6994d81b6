"""The configuration file: pydantic models, ``${VAR}`` and ``*_file`` secrets, clear errors.

Secrets are resolved here and nowhere else; each one is registered with :mod:`auditor.logs` so that
no log line can carry it, and held as ``SecretStr`` so that no repr or error message shows it.
Every file a tenant or Slack names (``*_file``, ``ca_bundle``, ``google_credentials_file``) is
resolved relative to the configuration file's folder, like every other path in it (the
validation context's ``base``).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from auditor.config.check import (
    check_service_url,
    existing_file,
    read_secret_file,
    resolve_file,
)
from auditor.config.params import RuleParams
from auditor.logs import register_secret
from auditor.vocab import DEFAULT_FORMATS
from auditor.vocab import FORMATS as FORMATS  # re-exported: auditor.config.FORMATS, ...
from auditor.vocab import Format as Format
from auditor.vocab import Severity as Severity


def _default_formats() -> list[Format]:
    return list(DEFAULT_FORMATS)


class ConfigError(Exception):
    """A configuration problem. ``errors``: each problem found, one line each naming the file,
    the line, the field and what is wrong; the message holds all of them (``; ``-separated)."""

    def __init__(self, message: str | list[str]) -> None:
        errors = [message] if isinstance(message, str) else list(message)
        super().__init__("; ".join(errors))
        self.errors = errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChronicleConfig(_Strict):
    """The Chronicle API surface of a tenant (see shared/spec/chronicle-api.md): Google
    credentials, the SecOps project, region and instance; optionally the project's IAM policy."""

    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[0-9]{1,20}$")]
    location: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")] = "us"
    instance: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")]
    endpoint: str | None = None  # default derived from location
    google_credentials_file: str | None = None  # absent = application default credentials
    iam: bool = True
    iam_endpoint: str = "https://cloudresourcemanager.googleapis.com"
    # Where google-auth asks for tokens; only tests and air-gapped proxies change it (the token
    # URI of a service-account file wins when this is not set).
    token_uri: str | None = None
    scopes: list[str] = Field(
        default_factory=lambda: ["https://www.googleapis.com/auth/chronicle.readonly",
                                 "https://www.googleapis.com/auth/cloud-platform.read-only"])

    @field_validator("endpoint", "iam_endpoint", "token_uri")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_service_url(value)

    @field_validator("google_credentials_file")
    @classmethod
    def _exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return existing_file(value, info)

    @property
    def base_url(self) -> str:
        """The Chronicle host (``https://chronicle.{location}.rep.googleapis.com``)."""
        return self.endpoint or f"https://chronicle.{self.location}.rep.googleapis.com"


class TenantConfig(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)]
    # The legacy SOAR API (url + api_key, or auth: google); absent for a Chronicle-only tenant.
    url: str | None = None
    chronicle: ChronicleConfig | None = None
    auth: Literal["appkey", "google"] = "appkey"
    api_key: SecretStr | None = None
    api_key_file: str | None = None
    # auth: google — a service-account JSON file; absent = application default credentials.
    google_credentials_file: str | None = None
    ca_bundle: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    max_connections: Annotated[int, Field(ge=1, le=32)] = 4
    # What a tenant's API can make the auditor do: pages per list, megabytes per response.
    max_pages: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    max_response_mb: Annotated[float, Field(gt=0, le=4096)] = 256.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_service_url(value)

    @field_validator("ca_bundle", "google_credentials_file")
    @classmethod
    def _exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return existing_file(value, info)

    @field_validator("api_key_file")
    @classmethod
    def _relative(cls, value: str | None, info: ValidationInfo) -> str | None:
        return resolve_file(value, info)

    @model_validator(mode="after")
    def _key(self, info: ValidationInfo) -> TenantConfig:
        if (info.context or {}).get("store_only"):
            return self  # a name only, for reading the store: no secret is resolved
        if self.url is None:
            if self.chronicle is None:
                raise ValueError("a tenant needs url (the legacy SOAR API), chronicle, or both")
            if self.api_key is not None or self.api_key_file is not None:
                raise ValueError("api_key needs url (the legacy SOAR API it opens)")
            return self
        if self.auth == "appkey":
            if self.api_key is not None and self.api_key_file is not None:
                raise ValueError("give api_key or api_key_file, not both")
            if self.api_key_file is not None:
                object.__setattr__(
                    self, "api_key", SecretStr(read_secret_file(self.api_key_file, "api_key_file"))
                )
            if self.api_key is None or not self.api_key.get_secret_value().strip():
                raise ValueError("api_key (or api_key_file) is required when auth is appkey")
            register_secret(self.api_key.get_secret_value())
        return self


class RulesConfig(_Strict):
    paths: list[str] = Field(default_factory=list)
    disabled: list[str] = Field(default_factory=list)
    params: RuleParams = Field(default_factory=RuleParams)


class ReportsConfig(_Strict):
    dir: str = "reports"
    formats: list[Format] = Field(default_factory=_default_formats)


class SlackRoute(_Strict):
    """Findings of matching tenants / key names also go to another channel or webhook."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] | None = None
    tenant: str = "*"  # glob
    key_name: str = "*"  # glob
    channel: str | None = None  # with the bot token
    webhook_url: SecretStr | None = None
    webhook_url_file: str | None = None
    report_url: str | None = None  # linked from this route's messages (the full report is not)

    @field_validator("webhook_url_file")
    @classmethod
    def _relative(cls, value: str | None, info: ValidationInfo) -> str | None:
        return resolve_file(value, info)

    @model_validator(mode="after")
    def _target(self) -> SlackRoute:
        if self.webhook_url_file is not None:
            object.__setattr__(
                self,
                "webhook_url",
                SecretStr(read_secret_file(self.webhook_url_file, "webhook_url_file")),
            )
        if (self.channel is None) == (self.webhook_url is None):
            raise ValueError("a route needs exactly one of channel or webhook_url")
        if self.webhook_url is not None:
            _check_webhook(self.webhook_url.get_secret_value())
            register_secret(self.webhook_url.get_secret_value())
        return self

    def matches(self, tenant: str, key_name: str | None) -> bool:
        if not fnmatch.fnmatchcase(tenant, self.tenant):
            return False
        if self.key_name == "*":
            return True
        return key_name is not None and fnmatch.fnmatchcase(key_name.lower(), self.key_name.lower())


def _check_webhook(url: str) -> None:
    try:
        check_service_url(url)
    except ValueError:
        raise ValueError("webhook URL must be an https:// URL") from None


class SlackConfig(_Strict):
    webhook_url: SecretStr | None = None
    webhook_url_file: str | None = None
    bot_token: SecretStr | None = None
    bot_token_file: str | None = None
    channel: str | None = None
    min_severity: Severity = "medium"
    notify: Literal["new", "all", "none"] = "new"
    heartbeat: bool = False
    routes: list[SlackRoute] = Field(default_factory=list)
    report_url: str | None = None  # where the reports are published, linked from the message
    ca_bundle: str | None = None
    # Where the Web API lives; only tests and air-gapped proxies change it.
    api_base_url: str = "https://slack.com/api/"

    @field_validator("ca_bundle")
    @classmethod
    def _ca_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return existing_file(value, info)

    @field_validator("webhook_url_file", "bot_token_file")
    @classmethod
    def _relative(cls, value: str | None, info: ValidationInfo) -> str | None:
        return resolve_file(value, info)

    @field_validator("api_base_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return check_service_url(value) + "/"

    @model_validator(mode="after")
    def _credentials(self) -> SlackConfig:
        for name in ("webhook_url", "bot_token"):
            file_value = getattr(self, f"{name}_file")
            if file_value is not None:
                if getattr(self, name) is not None:
                    raise ValueError(f"give {name} or {name}_file, not both")
                object.__setattr__(
                    self, name, SecretStr(read_secret_file(file_value, f"{name}_file"))
                )
        if self.webhook_url is None and self.bot_token is None:
            raise ValueError("needs webhook_url, or bot_token with channel")
        if self.bot_token is not None and not self.channel:
            raise ValueError("bot_token needs a channel")
        if self.webhook_url is not None:
            _check_webhook(self.webhook_url.get_secret_value())
            register_secret(self.webhook_url.get_secret_value())
        if self.bot_token is not None:
            register_secret(self.bot_token.get_secret_value())
        names: set[str] = set()
        for index, route in enumerate(self.routes):
            if route.channel is not None and self.bot_token is None:
                raise ValueError(f"routes[{index}] names a channel, which needs bot_token")
            if route.name is not None:
                if route.name in names:
                    raise ValueError(f"routes[{index}]: route name {route.name!r} is used twice")
                names.add(route.name)
        return self


class HealthConfig(_Strict):
    heartbeat_file: str | None = None
    port: Annotated[int, Field(ge=0, le=65535)] | None = None  # /healthz and /metrics
    host: str = "127.0.0.1"


class ScheduleConfig(_Strict):
    cron: str = "0 2 * * *"
    timezone: str = "UTC"
    misfire_grace_seconds: Annotated[int, Field(ge=1)] = 3600
    shutdown_grace_seconds: Annotated[int, Field(ge=0)] = 300
    health: HealthConfig = Field(default_factory=HealthConfig)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5:
            raise ValueError(
                "must be a 5-field crontab expression (minute hour day month weekday), "
                f"got {value!r}"
            )
        from apscheduler.triggers.cron import CronTrigger

        from auditor.schedule.crontab import check_fires, crontab_fields

        try:
            CronTrigger(**crontab_fields(value), timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
        check_fires(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class Config(_Strict):
    tenants: Annotated[list[TenantConfig], Field(min_length=1)]
    rules: RulesConfig = Field(default_factory=RulesConfig)
    exceptions: str | None = None
    state: str = "sqlite:///reports/state.db"
    retention_days: Annotated[int, Field(ge=1)] = 400
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    slack: SlackConfig | None = None
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    max_concurrent_tenants: Annotated[int, Field(ge=1, le=256)] = 64
    # Where the file was read from (relative paths in it are relative to its folder).
    source: str | None = None
    # What loading noticed without refusing it (a literal secret in the file), one line each.
    _warnings: list[str] = PrivateAttr(default_factory=list)
    # Loaded for the commands that only read the state store: tenants and slack not checked.
    _store_only: bool = PrivateAttr(default=False)

    @property
    def warnings(self) -> list[str]:
        return list(self._warnings)

    @property
    def store_only(self) -> bool:
        """True when loaded with ``store_only``: tenants and Slack were not checked (no secret
        resolved); good for history and report, refused by an audit."""
        return self._store_only

    @field_validator("tenants")
    @classmethod
    def _unique(cls, tenants: list[TenantConfig]) -> list[TenantConfig]:
        seen: set[str] = set()
        for tenant in tenants:
            if tenant.name in seen:
                raise ValueError(f"tenant name {tenant.name!r} is used twice")
            seen.add(tenant.name)
        return tenants

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql|postgres)(\+\w+)?://", value):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        password = urlsplit(value).password
        if password:
            register_secret(password)
        return value


def resolve_path(config: Config, value: str) -> Path:
    """A path named in the configuration, relative to the configuration file's folder."""
    p = Path(value)
    if p.is_absolute() or config.source is None or config.source.startswith("<"):
        return p
    return Path(config.source).parent / p
