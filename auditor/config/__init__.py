"""The configuration: its models (``models``: pydantic, secrets resolved in one place), the
checks its fields share (``check``), the rule parameters (``params``: declared by the rule
files, ``rules.params`` checked against them, read through the typed ``RuleParams``), and the
file loader (``loader``: YAML with line numbers, ``${VAR}``, every problem at once as
``file:line: field: problem``).

Everything is importable from here (``from auditor.config import Config, load_config``).
"""

from auditor.config.check import check_service_url, is_loopback_host, resolve_file
from auditor.config.loader import load_config, parse_config
from auditor.config.models import (
    FORMATS,
    ChronicleConfig,
    Config,
    ConfigError,
    Format,
    ReportsConfig,
    RulesConfig,
    ScheduleConfig,
    Severity,
    SlackConfig,
    SlackRoute,
    TenantConfig,
    resolve_path,
)
from auditor.config.params import ParamSpec, RuleParams

__all__ = ["FORMATS", "ChronicleConfig", "Config", "ConfigError", "Format", "ParamSpec",
           "ReportsConfig", "RuleParams", "RulesConfig", "ScheduleConfig", "Severity",
           "SlackConfig", "SlackRoute",
           "TenantConfig", "check_service_url", "is_loopback_host", "load_config",
           "parse_config", "resolve_file", "resolve_path"]
