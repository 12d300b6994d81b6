"""The declarative condition language of the rule files, validated and compiled once to closures.

A condition is a mapping:

- ``{all: [c, ...]}``, ``{any: [c, ...]}``, ``{not: c}``; a bare list means ``all``;
- ``{fact: NAME, OP: VALUE}`` with one operator: ``equals``, ``not_equals``, ``in``, ``not_in``,
  ``gt``, ``gte``, ``lt``, ``lte``, ``matches`` (full regex match), ``contains``,
  ``contains_any``, ``is`` (``unknown``, ``known``, ``empty``, ``non_empty``).
  VALUE may be ``{param: NAME}``: a rule parameter (declared under ``params:`` by a loaded rule
  file; its value comes from ``rules.params`` of the configuration, else the default).

Logic is three-valued (Kleene): a comparison on an unknown fact is *unknown*; ``all`` is false
as soon as one part is false, ``any`` true as soon as one part is true, otherwise unknown parts
make the whole unknown. A rule whose condition is unknown for a key reports ``unknown`` for it:
a rule lacking data never passes silently. ``is: unknown`` / ``is: known`` are never unknown.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.config.params import CONDITION_TYPE, Declared, builtin_declarations
from auditor.engine.facts import FactSpec
from auditor.engine.templates import suggest
from auditor.engine.yamlsrc import LDict

Predicate = Callable[[Mapping[str, Any], Mapping[str, Any]], bool | None]

OPERATORS: dict[str, str] = {
    "equals": "the fact equals the value",
    "not_equals": "the fact differs from the value",
    "in": "the fact is one of the listed values",
    "not_in": "the fact is none of the listed values",
    "gt": "the fact (a number) is greater than the value",
    "gte": "the fact is greater than or equal to the value",
    "lt": "the fact is less than the value",
    "lte": "the fact is less than or equal to the value",
    "matches": "the fact (text) fully matches the regular expression",
    "contains": "the fact (a list, or text) contains the value",
    "contains_any": "the fact (a list) contains at least one of the listed values",
    "is": "unknown | known | empty | non_empty",
}
IS_VALUES = ("unknown", "known", "empty", "non_empty")
_SCALAR_TYPES = {"bool", "int", "str", "enum"}
_OP_TYPES: dict[str, set[str]] = {
    "equals": _SCALAR_TYPES,
    "not_equals": _SCALAR_TYPES,
    "in": {"int", "str", "enum"},
    "not_in": {"int", "str", "enum"},
    "gt": {"int"},
    "gte": {"int"},
    "lt": {"int"},
    "lte": {"int"},
    "matches": {"str", "enum"},
    "contains": {"list[str]", "list[int]", "str"},
    "contains_any": {"list[str]", "list[int]"},
}


def builtin_param_types() -> dict[str, str]:
    """Parameter name -> type ("int", "str", "bool", "list[str]", "date", "regex") of the
    parameters the built-in pack declares (and those the auditor reads itself)."""
    return param_types(builtin_declarations())


def param_types(declared: Mapping[str, Declared]) -> dict[str, str]:
    return {name: d.spec.type for name, d in declared.items()}


class ConditionError(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True, slots=True)
class _Scope:
    facts: Mapping[str, FactSpec]
    params: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Condition:
    predicate: Predicate
    facts: frozenset[str]  # the facts it reads (to explain an unknown result)
    source: Any  # the condition as written


def compile_condition(
    node: Any, facts: Mapping[str, FactSpec], line: int | None = None,
    params: Mapping[str, str] | None = None,
) -> tuple[Condition | None, list[ConditionError]]:
    """Validate and compile; return the condition (None when invalid) and every error found.
    ``params``: the parameters it may name, with their types (default: the built-in pack's)."""
    errors: list[ConditionError] = []
    used: set[str] = set()
    scope = _Scope(facts, builtin_param_types() if params is None else params)
    pred = _compile(node, scope, line, errors, used)
    if errors or pred is None:
        return None, errors
    return Condition(pred, frozenset(used), node), errors


def _compile(
    node: Any,
    scope: _Scope,
    line: int | None,
    errors: list[ConditionError],
    used: set[str],
) -> Predicate | None:
    line = getattr(node, "line", line)
    if isinstance(node, list):
        node = _as_all(node)
    if not isinstance(node, dict) or not node:
        errors.append(ConditionError(
            "a condition must be a mapping: {all: [...]}, {any: [...]}, {not: ...} or "
            "{fact: NAME, OPERATOR: VALUE}", line))
        return None
    key_lines: dict[Any, int] = getattr(node, "key_lines", {})
    if "fact" not in node:
        if len(node) != 1 or next(iter(node)) not in ("all", "any", "not"):
            keys = ", ".join(map(str, node))
            errors.append(ConditionError(
                f"expected exactly one of all / any / not, or a fact test (got: {keys})", line))
            return None
        kind, sub = next(iter(node.items()))
        sub_line = key_lines.get(kind, line)
        if kind == "not":
            inner = _compile(sub, scope, sub_line, errors, used)
            return None if inner is None else _not(inner)
        if not isinstance(sub, list) or not sub:
            errors.append(ConditionError(f"{kind}: needs a non-empty list of conditions",
                                         sub_line))
            return None
        item_lines = getattr(sub, "item_lines", [sub_line] * len(sub))
        parts = [_compile(s, scope, ln, errors, used)
                 for s, ln in zip(sub, item_lines, strict=True)]
        if any(p is None for p in parts):
            return None
        preds = [p for p in parts if p is not None]
        return _all(preds) if kind == "all" else _any(preds)
    return _leaf(node, scope, line, key_lines, errors, used)


def _as_all(items: list[Any]) -> LDict:
    node = LDict(all=items)
    node.line = getattr(items, "line", 0)
    node.key_lines = {"all": node.line}
    return node


def _leaf(
    node: dict[Any, Any],
    scope: _Scope,
    line: int | None,
    key_lines: dict[Any, int],
    errors: list[ConditionError],
    used: set[str],
) -> Predicate | None:
    facts = scope.facts
    name = node["fact"]
    ops = [k for k in node if k != "fact"]
    if not isinstance(name, str) or name not in facts:
        errors.append(ConditionError(
            f"unknown fact {name!r}{suggest(name, facts)}", key_lines.get("fact", line)))
        return None
    if len(ops) != 1 or ops[0] not in OPERATORS:
        bad = [o for o in ops if o not in OPERATORS]
        what = (f"unknown operator {bad[0]!r}{suggest(bad[0], OPERATORS)}" if bad
                else f"a fact test needs exactly one operator (got {len(ops)})")
        errors.append(ConditionError(what, key_lines.get(bad[0] if bad else "fact", line)))
        return None
    op = ops[0]
    value = node[op]
    op_line = key_lines.get(op, line)
    spec = facts[name]
    used.add(name)
    try:
        return _build(spec, op, value, scope.params)
    except ValueError as exc:
        errors.append(ConditionError(f"{name} {op}: {exc}", op_line))
        return None


def _an(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _check_scalar(spec: FactSpec, value: Any) -> Any:
    kind = spec.type
    if value is None:
        raise ValueError("no value given (to test for an unknown value, use `is: unknown`)")
    ok = (
        (kind == "bool" and isinstance(value, bool))
        or (kind == "int" and isinstance(value, int | float) and not isinstance(value, bool))
        or (kind in ("str", "enum") and isinstance(value, str))
    )
    if not ok:
        raise ValueError(f"{value!r} is not {_an('text' if kind == 'enum' else kind)} value")
    if kind == "enum" and value not in spec.choices:
        raise ValueError(f"{value!r} is not one of {', '.join(spec.choices)}"
                         f"{suggest(value, spec.choices)}")
    return value


def _param(value: Any, params: Mapping[str, str]) -> str | None:
    if isinstance(value, dict) and "param" in value:
        if len(value) != 1 or not isinstance(value["param"], str):
            raise ValueError("a parameter reference is {param: NAME}")
        name = value["param"]
        if name not in params:
            raise ValueError(f"unknown parameter {name!r}{suggest(name, params)} (a rule file "
                             "declares its parameters under params:)")
        return name
    return None


_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": operator.eq,
    "not_equals": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "in": lambda v, c: v in c,
    "not_in": lambda v, c: v not in c,
    "contains": lambda v, c: c in v,
    "contains_any": lambda v, c: any(x in v for x in c),
    "matches": lambda v, rx: rx.fullmatch(v) is not None,
    # a regex parameter: re's own cache compiles each pattern once
    "matches_text": lambda v, pattern: re.fullmatch(pattern, v) is not None,
}


def _build(spec: FactSpec, op: str, value: Any, params: Mapping[str, str]) -> Predicate:
    name = spec.name
    if op == "is":
        return _is(spec, value)
    if spec.type not in _OP_TYPES[op]:
        raise ValueError(f"not usable on a {spec.type} fact")
    test = _TESTS[op]
    param = _param(value, params)
    if param is not None:
        return _with_param(name, _param_test(spec, op, param, params[param]), param)
    const: Any
    if op in ("in", "not_in", "contains_any"):
        if not isinstance(value, list) or not value:
            raise ValueError("needs a non-empty list of values")
        item_spec = spec if op != "contains_any" else _item_spec(spec)
        const = frozenset(_check_scalar(item_spec, v) for v in value)
    elif op == "matches":
        if not isinstance(value, str):
            raise ValueError("needs a regular expression (text)")
        try:
            const = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    elif op == "contains":
        const = _check_scalar(_item_spec(spec) if spec.type != "str" else spec, value)
    else:
        const = _check_scalar(spec, value)
    return _with_const(name, test, const)


def _param_test(spec: FactSpec, op: str, param: str, ptype: str) -> Callable[[Any, Any], bool]:
    """The test of ``op`` against parameter ``param`` (of type ``ptype``); ValueError when the
    parameter's type does not fit the operator and fact."""
    if op == "matches":
        if ptype != "regex":
            raise ValueError(f"parameter {param} is {_an(ptype)}, not a regex")
        return _TESTS["matches_text"]
    ptype = CONDITION_TYPE.get(ptype, ptype)  # a regex is text to every other operator
    want = "int" if op in ("gt", "gte", "lt", "lte") else None
    if op in ("in", "not_in", "contains_any"):
        want = "list"
    if op in ("equals", "not_equals"):
        want = {"enum": "str"}.get(spec.type, spec.type)
        if ptype != want:
            raise ValueError(f"parameter {param} is {_an(ptype)}, not {_an(want)}")
    if (want == "int" and ptype != "int") or (want == "list" and not ptype.startswith("list")):
        raise ValueError(f"parameter {param} is {_an(ptype)}, not {_an(str(want))}")
    return _TESTS[op]


def _item_spec(spec: FactSpec) -> FactSpec:
    return FactSpec(spec.name, "int" if spec.type == "list[int]" else "str", spec.doc)


def _with_const(name: str, test: Callable[[Any, Any], bool], const: Any) -> Predicate:
    def pred(facts: Mapping[str, Any], params: Mapping[str, Any]) -> bool | None:
        value = facts[name]
        if value is None:
            return None
        return test(value, const)

    return pred


def _with_param(name: str, test: Callable[[Any, Any], bool], param: str) -> Predicate:
    def pred(facts: Mapping[str, Any], params: Mapping[str, Any]) -> bool | None:
        value = facts[name]
        other = params[param]
        if value is None or other is None:
            return None
        return test(value, other)

    return pred


def _is(spec: FactSpec, value: Any) -> Predicate:
    name = spec.name
    if value not in IS_VALUES:
        raise ValueError(f"is: takes one of {', '.join(IS_VALUES)}{suggest(value, IS_VALUES)}")
    if value in ("empty", "non_empty") and spec.type not in ("list[str]", "list[int]", "str",
                                                             "dict"):
        raise ValueError(f"{value} is for lists and text, not {_an(spec.type)} fact")

    if value == "unknown":
        return lambda facts, params: facts[name] is None
    if value == "known":
        return lambda facts, params: facts[name] is not None
    want_empty = value == "empty"

    def pred(facts: Mapping[str, Any], params: Mapping[str, Any]) -> bool | None:
        current = facts[name]
        if current is None:
            return None
        return (len(current) == 0) is want_empty

    return pred


def _not(inner: Predicate) -> Predicate:
    def pred(facts: Mapping[str, Any], params: Mapping[str, Any]) -> bool | None:
        result = inner(facts, params)
        return None if result is None else not result

    return pred


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]

    def pred(facts: Mapping[str, Any], params: Mapping[str, Any]) -> bool | None:
        result: bool | None = True
        for part in parts:
            value = part(facts, params)
            if value is False:
                return False
            if value is None:
                result = None
        return result

    return pred


def _any(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]

    def pred(facts: Mapping[str, Any], params: Mapping[str, Any]) -> bool | None:
        result: bool | None = False
        for part in parts:
            value = part(facts, params)
            if value is True:
                return True
            if value is None:
                result = None
        return result

    return pred


__all__ = [
    "IS_VALUES",
    "OPERATORS",
    "Condition",
    "ConditionError",
    "Predicate",
    "builtin_param_types",
    "compile_condition",
    "param_types",
]
