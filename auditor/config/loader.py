"""Reading the configuration file: the safe YAML loader (:mod:`auditor.yamlsrc`), ``${VAR}``
expansion, and every problem of the file at once, each one line naming the file, the line and the
field (the models themselves are in :mod:`auditor.config`)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from auditor import yamlsrc
from auditor.config import params as rule_params
from auditor.config.models import Config, ConfigError, TenantConfig

log = logging.getLogger("auditor.config")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Secrets written as literal values are accepted, with a warning: they belong in ${VAR} or the
# *_file next to them.
_SECRETS = {"api_key": "api_key_file", "webhook_url": "webhook_url_file",
            "bot_token": "bot_token_file"}
# Sections that the commands reading only the state store (history, report) do not need.
_NOT_FOR_THE_STORE = ("tenants", "slack")
Loc = tuple[Any, ...]


class _Reading:
    """What one validation of a document found: problems (line, field, message), warnings, and
    the values whose ``${VAR}`` is unset (their own errors would only repeat that)."""

    def __init__(self, source: str, data: Any, env: dict[str, str]) -> None:
        self.source = source
        self.data = data
        self.env = env
        self.problems: list[tuple[int, str, str]] = []
        self.warnings: list[str] = []
        self.unset: list[Loc] = []
        self.elsewhere: list[str] = []  # problems of other files (rule files' params), as is

    def where(self, loc: Loc) -> str:
        line = yamlsrc.line_of(self.data, loc)
        return f"{self.source}:{line}" if line else self.source

    def problem(self, loc: Loc, message: str) -> None:
        line = yamlsrc.line_of(self.data, loc) or 0
        entry = (line, yamlsrc.dotted(loc) or "(top level)", message)
        if entry not in self.problems:
            self.problems.append(entry)

    def error(self) -> ConfigError:
        ordered = sorted(self.problems, key=lambda p: p[0])  # stable: same line, found order
        return ConfigError([
            f"{self.source}:{line}: {field}: {msg}" if line else f"{self.source}: {field}: {msg}"
            for line, field, msg in ordered
        ] + self.elsewhere)

    def caused_by_unset(self, loc: Loc) -> bool:
        return bool(loc) and any(u[: len(loc)] == loc for u in self.unset)


def _expand(node: Any, loc: Loc, reading: _Reading) -> Any:
    if isinstance(node, dict):
        return {k: _expand(v, (*loc, k), reading) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, (*loc, i), reading) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node
    missing = [m.group(1) for m in _VAR.finditer(node) if m.group(1) not in reading.env]
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        verb = "is" if len(set(missing)) == 1 else "are"
        reading.problem(loc, f"environment variable {names} {verb} not set")
        reading.unset.append(loc)
        return node
    if loc and loc[-1] in _SECRETS and "${" not in node and not reading.source.startswith("<"):
        reading.warnings.append(
            f"{reading.where(loc)}: {yamlsrc.dotted(loc)}: a secret written into the file "
            f"(accepted); secrets belong in ${{VAR}} or {_SECRETS[loc[-1]]}"
        )
    return _VAR.sub(lambda m: reading.env[m.group(1)], node)


def _pydantic_loc(loc: tuple[Any, ...]) -> Loc:
    """pydantic's location without its own steps (``function-after[_key(), TenantConfig]``)."""
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or "(" in p)))


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown setting"
    if err["type"] == "missing":
        return "is required"
    return str(err["msg"]).removeprefix("Value error, ")


def _check_rule_params(document: dict[Any, Any], reading: _Reading) -> None:
    """``rules.params`` checked against the parameters the loaded rule files declare (the
    built-in pack plus ``rules.paths``); the document then holds every parameter's value."""
    rules = document.get("rules")
    if not isinstance(rules, dict) or not isinstance(rules.get("params", {}), dict):
        return  # the models say what is wrong
    paths = rules.get("paths") or []
    base = None if reading.source.startswith("<") else Path(reading.source).parent
    folders = [Path(p) if base is None or Path(p).is_absolute() else base / p
               for p in (paths if isinstance(paths, list) else []) if isinstance(p, str)]
    pool, errors, complete = rule_params.declarations(folders)
    reading.elsewhere += [e for e in errors if e not in reading.elsewhere]
    values, problems = rule_params.resolve(rules.get("params") or {}, pool, complete=complete)
    for name, problem in problems:
        loc = ("rules", "params", name)
        if not reading.caused_by_unset(loc):
            reading.problem(loc, problem)
    document["rules"] = {**rules, "params": values}


def _store_only(data: dict[Any, Any]) -> dict[Any, Any]:
    """The document for reading the store: tenants reduced to their names (not validated, no
    secret read), no Slack."""
    out = {k: v for k, v in data.items() if k != "slack"}
    tenants = data.get("tenants")
    if isinstance(tenants, list) and tenants:
        out["tenants"] = [
            TenantConfig.model_construct(
                name=str(t.get("name", f"tenant-{i + 1}")) if isinstance(t, dict)
                else f"tenant-{i + 1}")
            for i, t in enumerate(tenants)
        ]
    return out


def parse_document(data: Any, *, source: str = "<config>", text: str | None = None,
                   env: dict[str, str] | None = None, store_only: bool = False) -> Config:
    """Validate one parsed configuration document; ConfigError lists every problem found."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the file must hold a YAML mapping (tenants:, rules:, ...)")
    if text is not None and not isinstance(data, yamlsrc.LDict):
        try:  # the lines of a document parsed elsewhere
            lines: Any = yamlsrc.load(text)
        except yamlsrc.YamlError:
            lines = None
    else:
        lines = data
    reading = _Reading(source, lines, dict(os.environ) if env is None else env)
    document = _store_only(data) if store_only else data
    expanded: dict[Any, Any] = {}
    for key, value in document.items():
        if store_only and key in _NOT_FOR_THE_STORE:
            expanded[key] = value
        else:
            expanded[key] = _expand(value, (key,), reading)
    _check_rule_params(expanded, reading)
    expanded["source"] = source
    real_file = not source.startswith("<")
    context: dict[str, Any] = {"store_only": store_only}
    if real_file:
        context["base"] = str(Path(source).parent.absolute())
    config: Config | None = None
    try:
        config = Config.model_validate(expanded, context=context)
    except ValidationError as exc:
        for err in exc.errors():
            loc = _pydantic_loc(tuple(err["loc"]))
            if not reading.caused_by_unset(loc):
                reading.problem(loc, _message(err))
    if reading.problems or reading.elsewhere or config is None:
        raise reading.error()
    config._warnings = reading.warnings
    config._store_only = store_only
    return config


def load_file(path: str | Path, env: dict[str, str] | None = None, *,
              store_only: bool = False) -> Config:
    """Read, parse and validate a configuration file (warnings are logged, one line each)."""
    file = Path(path)
    try:
        data = yamlsrc.load(yamlsrc.read_text(file))
    except OSError as exc:
        raise ConfigError(
            f"{file}: cannot read the configuration: {exc.strerror or exc}") from None
    except yamlsrc.YamlError as exc:
        raise ConfigError(exc.where(str(file))) from None
    config = parse_document(data, source=str(file), env=env, store_only=store_only)
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


def parse_config(data: Any, *, source: str = "<config>", text: str | None = None,
                 env: dict[str, str] | None = None, store_only: bool = False) -> Config:
    """Validate a parsed YAML document (``${VAR}`` expanded from ``env`` or the environment)."""
    return parse_document(data, source=source, text=text, env=env, store_only=store_only)


def load_config(path: str | Path, env: dict[str, str] | None = None, *,
                store_only: bool = False) -> Config:
    """Read and validate a configuration file; ConfigError lists every problem, each naming
    file, line, field and problem.

    ``store_only``: for the commands that only read the state store (history, report): the
    tenants and slack sections are not checked and none of their secrets is resolved (an unset
    ``${VAR}`` there is no error); the rest is checked as usual."""
    return load_file(path, env=env, store_only=store_only)
