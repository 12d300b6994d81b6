"""The configuration file: pydantic models, ``${VAR}`` and ``*_file`` secrets, one clear error.

Secrets are resolved here and nowhere else; each one is registered with :mod:`auditor.logs` so that
no log line can carry it, and held as ``SecretStr`` so that no repr or error message shows it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from auditor.logs import register_secret

Severity = Literal["critical", "high", "medium", "low", "info"]
Format = Literal["html", "json", "csv", "junit", "ocsf", "markdown", "migration", "compliance"]
FORMATS: tuple[Format, ...] = ("html", "json", "csv", "junit", "ocsf", "markdown", "migration",
                               "compliance")


def _default_formats() -> list[Format]:
    return ["html", "json", "csv"]


class ConfigError(Exception):
    """A configuration problem: one line naming the file, the field and what is wrong."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


def _read_secret_file(path: str, field: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{field}: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise ValueError(f"{field}: {path} is empty")
    return value


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
    def _exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"file not found: {value}")
        return value

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
    def _exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"file not found: {value}")
        return value

    @model_validator(mode="after")
    def _key(self) -> TenantConfig:
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
                    self, "api_key", SecretStr(_read_secret_file(self.api_key_file, "api_key_file"))
                )
            if self.api_key is None or not self.api_key.get_secret_value().strip():
                raise ValueError("api_key (or api_key_file) is required when auth is appkey")
            register_secret(self.api_key.get_secret_value())
        return self


class RuleParams(_Strict):
    max_key_age_days: Annotated[int, Field(ge=1)] = 90
    admin_permission_groups: list[str] = Field(default_factory=lambda: ["Admins"])
    privileged_soc_roles: list[str] = Field(default_factory=lambda: ["Administrator"])
    key_name_pattern: str | None = None
    snapshot_min_environments: Annotated[int, Field(ge=1)] = 2
    include_system_keys: bool = False
    # Google retires the legacy SOAR API and AppKey on this date (its migration guide's newest).
    legacy_api_shutdown: date = date(2027, 3, 31)
    legacy_api_warning_days: Annotated[int, Field(ge=0, le=3650)] = 30
    admin_iam_roles: list[str] = Field(default_factory=lambda: [
        "roles/owner", "roles/editor", "roles/chronicle.admin", "roles/chronicle.soarAdmin"])

    @field_validator("key_name_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


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

    @model_validator(mode="after")
    def _target(self) -> SlackRoute:
        if self.webhook_url_file is not None:
            object.__setattr__(
                self,
                "webhook_url",
                SecretStr(_read_secret_file(self.webhook_url_file, "webhook_url_file")),
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
    def _ca_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"file not found: {value}")
        return value

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
                    self, name, SecretStr(_read_secret_file(file_value, f"{name}_file"))
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

        from auditor.crontab import crontab_fields

        try:
            CronTrigger(**crontab_fields(value), timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
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
    max_concurrent_tenants: Annotated[int, Field(ge=1, le=64)] = 8
    # Where the file was read from (relative paths in it are relative to its folder).
    source: str | None = None

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


def parse_config(data: Any, *, source: str = "<config>", text: str | None = None,
                 env: dict[str, str] | None = None) -> Config:
    """Validate a parsed YAML document (``${VAR}`` expanded from ``env`` or the environment)."""
    from auditor.configfile import parse_document

    return parse_document(data, source=source, text=text, env=env)


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    """Read and validate a configuration file; ConfigError names file, line, field, problem."""
    from auditor.configfile import load_file

    return load_file(path, env=env)


def resolve_path(config: Config, value: str) -> Path:
    """A path named in the configuration, relative to the configuration file's folder."""
    p = Path(value)
    if p.is_absolute() or config.source is None or config.source.startswith("<"):
        return p
    return Path(config.source).parent / p
