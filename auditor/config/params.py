"""Rule parameters: what a rule file declares under ``params:`` (type, default, description,
bounds), the values of ``rules.params`` checked against the declarations of the loaded rule files,
and :class:`RuleParams`, the typed view Python code reads.

A parameter may be declared by several rule files only if the declarations agree (type, default,
bounds). The parameters the auditor itself reads outside any rule (``include_system_keys``:
which keys are evaluated at all) are declared here, in :data:`ENGINE_PARAMS`.

This module reads rule files as data only (the ``params:`` block); compiling rules is the
engine's (:mod:`auditor.engine.rules`).
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from auditor import yamlsrc

BUILTIN_PACKAGE = "auditor.builtin_rules"
RULE_SUFFIXES = (".yaml", ".yml")

ParamType = Literal["int", "bool", "str", "list[str]", "date", "regex"]
PARAM_TYPE_NAMES: tuple[str, ...] = ("int", "bool", "str", "list[str]", "date", "regex")
# How a parameter's type compares in conditions: a regex is text, a date is its own kind.
CONDITION_TYPE: dict[str, str] = {"regex": "str"}
PARAM_NAME = r"^[a-z][a-z0-9_]{0,63}$"
_WORDS = {"int": "a whole number", "bool": "true or false", "str": "text",
          "list[str]": "a list of text", "date": "a date (YYYY-MM-DD)",
          "regex": "a regular expression (text)"}


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class ParamSpec(BaseModel):
    """One parameter as a rule file declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ParamType
    default: Any  # required; null only for str, regex and date (the parameter is then unset)
    description: Annotated[str, Field(min_length=1)]
    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        if self.type != "int" and (self.min is not None or self.max is not None):
            raise ValueError("min and max are for int parameters")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.default is None and self.type not in ("str", "regex", "date"):
            raise ValueError(f"default: {self.type} parameters need a default")
        try:
            value = check_value(self, self.default)
        except ValueError as exc:
            raise ValueError(f"default: {exc}") from None
        object.__setattr__(self, "default", value)
        return self

    def agrees(self, other: ParamSpec) -> bool:
        return (self.type, self.default, self.min, self.max) == (
            other.type, other.default, other.min, other.max)

    def metadata(self) -> dict[str, Any]:
        """JSON-serializable (`rules show`)."""
        default = self.default.isoformat() if isinstance(self.default, date) else self.default
        out: dict[str, Any] = {"type": self.type, "default": default,
                               "description": self.description.strip()}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out


def check_value(spec: ParamSpec, value: Any) -> Any:
    """``value`` as the parameter holds it (a date from its ISO text); ValueError saying what is
    wrong."""
    kind = spec.type
    if value is None:
        if spec.default is None and kind in ("str", "regex", "date"):
            return None
        raise ValueError(f"must be {_WORDS[kind]}, not null")
    if not _CHECK_TYPE[kind](value):
        raise ValueError(f"must be {_WORDS[kind]}, not {value!r}")
    if kind == "int":
        if spec.min is not None and value < spec.min:
            raise ValueError(f"must be at least {spec.min}, not {value}")
        if spec.max is not None and value > spec.max:
            raise ValueError(f"must be at most {spec.max}, not {value}")
    elif kind == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid date") from None
    elif kind == "regex":
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    elif kind == "list[str]":
        return list(value)
    return value


_CHECK_TYPE: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "regex": lambda v: isinstance(v, str),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    "date": lambda v: isinstance(v, date | str) and not isinstance(v, datetime),
}


@dataclass(frozen=True, slots=True)
class Declared:
    spec: ParamSpec
    where: str  # "file:line" of the declaration


ENGINE_SOURCE = "auditor/config/params.py"
# Parameters the auditor reads itself, outside any rule.
ENGINE_PARAMS: dict[str, Declared] = {
    "include_system_keys": Declared(ParamSpec(
        type="bool", default=False,
        description="Evaluate system keys (isSystem: true) too; they are skipped by default."),
        ENGINE_SOURCE),
}


# -- the rule files -------------------------------------------------------------------------------
def builtin_dir() -> Traversable:
    """Where the built-in rule files are (the package ``auditor.builtin_rules`` of the wheel; in
    a source checkout, the ``rules/`` folder next to the ``auditor`` package)."""
    try:
        return importlib.resources.files(BUILTIN_PACKAGE)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "rules"


def builtin_files() -> list[Traversable]:
    folder = builtin_dir()
    return sorted((f for f in folder.iterdir() if f.is_file() and f.name.endswith(RULE_SUFFIXES)),
                  key=lambda f: f.name)


def path_files(paths: Iterable[str | Path]) -> tuple[list[Path], bool]:
    """The rule files under ``paths`` (files or folders), and whether every path could be
    listed (the engine names the ones that cannot)."""
    out: list[Path] = []
    complete = True
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.is_file() and p.suffix in RULE_SUFFIXES)
        elif path.is_file():
            out.append(path)
        else:
            complete = False
    return out, complete


def declarations_of(data: Any, name: str) -> tuple[dict[str, Declared], list[str]]:
    """The ``params:`` block of one parsed rule file (``name``: shown in errors): its
    declarations, and each problem as ``file:line: params.NAME...: problem``."""
    block = data.get("params") if isinstance(data, dict) else None
    if block is None:
        return {}, []

    def where(loc: Sequence[Any]) -> str:
        line = yamlsrc.line_of(data, ("params", *loc))
        return f"{name}:{line}" if line else name

    if not isinstance(block, dict):
        return {}, [f"{where(())}: params: a mapping of parameter name -> "
                    "{type, default, description}"]
    out: dict[str, Declared] = {}
    errors: list[str] = []
    for key, entry in block.items():
        if not isinstance(key, str) or not re.match(PARAM_NAME, key):
            errors.append(f"{where((key,))}: params.{key}: a parameter name is lower-case "
                          "letters, digits and '_', starting with a letter")
            continue
        try:
            spec = ParamSpec.model_validate(entry)
        except ValidationError as exc:
            for problem in exc.errors():
                field = ".".join(str(p) for p in problem["loc"])
                at = where((key, *problem["loc"]))
                message = ("unknown key" if problem["type"] == "extra_forbidden"
                           else "is required" if problem["type"] == "missing"
                           else str(problem["msg"]).removeprefix("Value error, "))
                errors.append(f"{at}: params.{key}{'.' + field if field else ''}: {message}")
            continue
        out[key] = Declared(spec, where((key,)))
    return out, errors


def merge(pool: dict[str, Declared], found: Mapping[str, Declared], errors: list[str]) -> None:
    """Add ``found`` to ``pool``; a declaration that disagrees with an earlier one is an error
    naming both places."""
    for key, declared in found.items():
        first = pool.get(key)
        if first is None:
            pool[key] = declared
        elif not first.spec.agrees(declared.spec):
            errors.append(
                f"{declared.where}: params.{key}: declared differently in {first.where} "
                f"({_shown(declared.spec)} here, {_shown(first.spec)} there); the declarations "
                "of a parameter must agree")


def _shown(spec: ParamSpec) -> str:
    bounds = "".join(f", {k} {v}" for k, v in (("min", spec.min), ("max", spec.max))
                     if v is not None)
    return f"{spec.type}, default {spec.metadata()['default']!r}{bounds}"


def _file_declarations(text: str, name: str) -> tuple[dict[str, Declared], list[str]]:
    try:
        data = yamlsrc.load(text)
    except yamlsrc.YamlError:
        return {}, []  # the engine names it
    return declarations_of(data, name)


@functools.lru_cache(maxsize=1)
def _builtin_pool() -> tuple[dict[str, Declared], tuple[str, ...]]:
    pool = dict(ENGINE_PARAMS)
    errors: list[str] = []
    for file in builtin_files():
        found, problems = _file_declarations(file.read_text(encoding="utf-8"), str(file))
        errors += problems
        merge(pool, found, errors)
    return pool, tuple(errors)


def builtin_declarations() -> dict[str, Declared]:
    """The parameters of the built-in pack (and :data:`ENGINE_PARAMS`), read once."""
    return dict(_builtin_pool()[0])


def declarations(paths: Iterable[str | Path] = ()) -> tuple[dict[str, Declared], list[str], bool]:
    """The parameters declared by the built-in pack plus the rule files under ``paths``; the
    problems of those declarations; and whether every path could be read (when not, a name
    that seems undeclared may be declared by the file that could not be read)."""
    pool, builtin_errors = _builtin_pool()
    pool = dict(pool)
    errors = list(builtin_errors)
    files, complete = path_files(paths)
    skip = {Path(str(f)).resolve() for f in builtin_files() if isinstance(f, Path)}
    for file in files:
        if file.resolve() in skip:
            continue
        try:
            text = yamlsrc.read_text(file)
        except (OSError, yamlsrc.YamlError):
            complete = False
            continue
        found, problems = _file_declarations(text, str(file))
        errors += problems
        merge(pool, found, errors)
    return pool, errors, complete


def resolve(values: Mapping[Any, Any], pool: Mapping[str, Declared], *, complete: bool = True
            ) -> tuple[dict[str, Any], list[tuple[Any, str]]]:
    """Every declared parameter's value (``values`` over the defaults), and each problem of
    ``values`` as (name, problem): unknown names (when ``complete``), wrong types, out of
    bounds."""
    out = {k: d.spec.default for k, d in pool.items()}
    problems: list[tuple[Any, str]] = []
    for key, value in values.items():
        declared = pool.get(key) if isinstance(key, str) else None
        if declared is None:
            if complete:
                problems.append((key, "unknown rule parameter; no loaded rule file declares it"
                                 f"{_suggest(str(key), pool)}"))
            else:
                out[key] = value
            continue
        try:
            out[key] = check_value(declared.spec, value)
        except ValueError as exc:
            problems.append((key, str(exc)))
    return out, problems


# -- the typed view -------------------------------------------------------------------------------
def _default(name: str) -> Any:
    """The declared default (a fresh copy of a list)."""
    value = builtin_declarations()[name].spec.default
    return list(value) if isinstance(value, list) else value


def _declared(name: str) -> Any:
    """A field whose default is the one its rule file declares."""
    return Field(default_factory=lambda: _default(name))


class RuleParams(BaseModel):
    """The values of the rule parameters: the declared defaults, overridden by ``rules.params``.

    The parameters Python code reads are typed fields; the parameters of other rule files are
    extra fields (``model_dump()`` holds all of them, which is what conditions see). Built from
    keywords (``RuleParams(max_key_age_days=30)``), a parameter of the built-in pack is checked
    against its declaration."""

    model_config = ConfigDict(extra="allow", frozen=True)

    max_key_age_days: int = _declared("max_key_age_days")
    admin_permission_groups: list[str] = _declared("admin_permission_groups")
    privileged_soc_roles: list[str] = _declared("privileged_soc_roles")
    key_name_pattern: str | None = _declared("key_name_pattern")
    snapshot_min_environments: int = _declared("snapshot_min_environments")
    include_system_keys: bool = _declared("include_system_keys")
    legacy_api_shutdown: date = _declared("legacy_api_shutdown")
    legacy_api_warning_days: int = _declared("legacy_api_warning_days")
    admin_iam_roles: list[str] = _declared("admin_iam_roles")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        pool = builtin_declarations()
        values, problems = resolve(data, pool, complete=False)
        if problems:
            raise ValueError("; ".join(f"{k}: {p}" for k, p in problems))
        return values
