"""`soar-auditor rules list | show ID | validate [PATH...]`: the rule catalog and its checker."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Any

import click

from auditor.cli.output import json_mode, say
from auditor.textsafe import term_safe


def _load(paths: Sequence[str]) -> list[Any]:
    from auditor.engine.rules import RuleError, load_rules

    try:
        return load_rules(paths)
    except RuleError as exc:
        for error in exc.errors:
            say(error, err=True, level="error", event="rule_error")
        raise SystemExit(2) from None


@click.group("rules")
def rules() -> None:
    """List, show and validate compliance rules."""


_PATH_OPTION = click.option(
    "-p",
    "--path",
    "paths",
    multiple=True,
    type=click.Path(),
    help="Extra rule file or folder to include (repeatable), as `rules.paths` does.",
)


@rules.command("list")
@_PATH_OPTION
@click.option("--framework", "frameworks", multiple=True, metavar="ID",
              help="Only the rules mapped to this compliance framework (repeatable): an id as "
                   "`rules show` lists them (nist-800-53-r5, cis-v8, soc2, iso27001-2022) or a "
                   "unique start of one (nist, cis, iso); the table then shows its controls.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None,
              help="table (default), or json (the default with --log-format json, then on one "
                   "line).")
def list_rules(paths: tuple[str, ...], frameworks: tuple[str, ...], fmt: str | None) -> None:
    """The rule catalog: id, severity, title and compliance frameworks."""
    loaded = _load(paths)
    chosen = _frameworks(loaded, frameworks)
    if chosen:
        loaded = [r for r in loaded if set(r.frameworks) & set(chosen)]
    if (fmt or ("json" if json_mode() else "table")) == "json":
        click.echo(json.dumps([r.metadata() for r in loaded], ensure_ascii=False,
                              indent=None if json_mode() else 2))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=False, header_style="bold")
    last = "controls" if chosen else "frameworks"
    for column in ("id", "severity", "title", last, "params"):
        table.add_column(column, overflow="fold")
    for rule in loaded:
        if chosen:
            cell = "; ".join(f"{f}: {', '.join(rule.compliance[f])}" if len(chosen) > 1
                             else ", ".join(rule.compliance[f])
                             for f in chosen if f in rule.compliance)
        else:
            cell = ", ".join(rule.frameworks)
        table.add_row(Text(term_safe(rule.id)), Text(rule.severity), Text(term_safe(rule.title)),
                      Text(term_safe(cell)), Text(term_safe("\n".join(rule.params))))
    Console(soft_wrap=False).print(table)


def _frameworks(loaded: Sequence[Any], wanted: Sequence[str]) -> list[str]:
    """The framework ids meant by ``wanted`` (exact ids, or unique starts of one); exit 2 with
    the known ids when one names none."""
    from auditor.engine.schema import FRAMEWORKS

    known = list(dict.fromkeys([*FRAMEWORKS, *(f for r in loaded for f in r.frameworks)]))
    chosen: list[str] = []
    for name in wanted:
        key = name.strip().lower()
        matches = [k for k in known if k == key] or [k for k in known if k.startswith(key)]
        if len(matches) != 1:
            why = "is ambiguous" if matches else "is not a framework of the rules"
            raise click.BadParameter(f"{name!r} {why} (frameworks: {', '.join(known)})",
                                     param_hint="--framework")
        chosen += [m for m in matches if m not in chosen]
    return chosen


@rules.command("show")
@click.argument("rule_id")
@_PATH_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default=None,
              help="text (default), or json (the default with --log-format json, then on one "
                   "line).")
def show_rule(rule_id: str, paths: tuple[str, ...], fmt: str | None) -> None:
    """Everything about one rule: description, risk, remediation, compliance, condition."""
    from auditor.engine.rules import find_rule

    loaded = _load(paths)
    rule = find_rule(loaded, rule_id)
    if rule is None:
        say(f"unknown rule id {rule_id!r}; `soar-auditor rules list` shows them all", err=True,
            level="error", event="usage_error")
        raise SystemExit(2)
    meta = rule.metadata()
    if (fmt or ("json" if json_mode() else "text")) == "json":
        click.echo(json.dumps(meta, ensure_ascii=False, indent=None if json_mode() else 2))
        return
    click.echo(_show_text(meta))


def _show_text(meta: dict[str, Any]) -> str:
    import yaml

    from auditor.engine.schema import FRAMEWORK_TITLES

    def safe(value: object) -> str:
        return term_safe(value, keep_newlines=True)

    def para(value: object) -> str:
        return textwrap.fill(safe(value), width=96, initial_indent="  ", subsequent_indent="  ",
                             break_long_words=False, break_on_hyphens=False)

    lines = [
        f"{safe(meta['id'])}  [{meta['severity']}]  {safe(meta['title'])}",
        f"resource: {meta['resource']}    source: {safe(meta['source'])}",
        "",
        "Description:",
        para(meta["description"]),
    ]
    if meta["risk"]:
        lines += ["", "Risk:", para(meta["risk"])]
    lines += ["", "Remediation:", para(meta["remediation"]), "", "Compliance:"]
    for framework, controls in meta["compliance"].items():
        title = FRAMEWORK_TITLES.get(framework, framework)
        lines.append(f"  {safe(title)} [{safe(framework)}]: {safe(', '.join(controls))}")
    if not meta["compliance"]:
        lines.append("  (none)")
    if meta["references"]:
        lines += ["", "References:"]
        lines += [f"  {safe(r['title'])}: {safe(r['url'])}" for r in meta["references"]]
    lines += ["", "Fails when:"]
    when = yaml.safe_dump(meta["when"], sort_keys=False, default_flow_style=None).rstrip()
    lines += [f"  {safe(line)}" for line in when.splitlines()]
    if meta["unknown_when"] is not None:
        lines += ["", "Unknown when (otherwise passing):"]
        dumped = yaml.safe_dump(meta["unknown_when"], sort_keys=False, default_flow_style=None)
        lines += [f"  {safe(line)}" for line in dumped.rstrip().splitlines()]
    lines += ["", f"Message: {safe(meta['message'])}"]
    if meta["evidence"]:
        lines.append(f"Evidence: {safe(', '.join(meta['evidence']))}")
    if meta.get("depends_on"):
        lines.append(f"Depends on: {safe(', '.join(meta['depends_on']))} (on instances migrated "
                     "to Google Cloud, findings say that IAM roles replace permission groups)")
    if meta.get("params"):
        lines += ["", "Parameters (rules.params; the default unless the configuration sets it):"]
        lines += [f"  {safe(name)}: {safe(_param_line(spec))}"
                  for name, spec in meta["params"].items()]
    return "\n".join(lines)


def _param_line(spec: dict[str, Any]) -> str:
    """``int, default 90, min 1: description``."""
    default = "unset" if spec["default"] is None else json.dumps(spec["default"])
    bounds = "".join(f", {k} {spec[k]}" for k in ("min", "max") if k in spec)
    return f"{spec['type']}, default {default}{bounds}: {spec['description']}"


@rules.command("validate")
@click.argument("paths", nargs=-1, type=click.Path())
def validate(paths: tuple[str, ...]) -> None:
    """Check rule files (default: the built-in pack; given paths are checked together with it).
    Prints file:line: message for each problem; exit 2 when there is any."""
    from auditor.engine.rules import compile_paths

    loaded, errors = compile_paths(paths)
    for error in errors:
        say(error, level="error", event="rule_error")
    if errors:
        say(f"{len(errors)} problem(s) found", err=True, level="error", event="rules_invalid",
            problems=len(errors))
        raise SystemExit(2)
    builtin = sum(1 for r in loaded if r.builtin)
    extra = len(loaded) - builtin
    detail = f" ({builtin} built-in, {extra} from the given paths)" if paths else ""
    say(f"{len(loaded)} rules OK{detail}", event="rules_valid", rules=len(loaded))
