"""The layers of the pipeline hold: the import-linter contracts of ``pyproject.toml`` (see
ARCHITECTURE.md) are kept, they break when a lower layer imports a higher one, their ignored
imports are still real, and no module of ``auditor`` is part of an import cycle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent

# Imports injected into a copy of the package, one per contract: contract id -> (file, import,
# what the report of the broken contract must say).
VIOLATIONS = {
    # evaluate importing report: a lower stage importing a higher one
    "stages": ("auditor/engine/findings.py", "auditor.report.base",
               "- auditor.engine.findings -> auditor.report.base (l."),
    # the simulator importing the auditor's state store
    "simulator-stages": ("auditor/simulator/spec.py", "auditor.state.store",
                         "- auditor.simulator.spec -> auditor.state.store (l."),
    # the simulator importing the auditor's HTTP client
    "simulator-client": ("auditor/simulator/oauth.py", "auditor.soar.client",
                         "-   auditor.simulator.oauth -> auditor.soar.client (l."),
    # models <-> shapes inside the soar package (shapes already imports models)
    "acyclic": ("auditor/soar/models.py", "auditor.soar.shapes",
                "No cycles are allowed in auditor.soar.\n"),
}


def _lint_imports() -> str:
    exe = Path(sys.executable).parent / "lint-imports"
    if exe.exists():
        return str(exe)
    found = shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is not installed (pip install -e '.[test]')")
    return found


def _contracts() -> list[dict[str, Any]]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        contracts: list[dict[str, Any]] = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    return contracts


def _run_lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [_lint_imports(), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )


def _import_cycles(graph: grimp.ImportGraph, modules: Iterable[str]) -> list[list[str]]:
    """The strongly connected components of the import graph that are cycles (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(start: str) -> None:  # iterative, so that a deep chain cannot hit the recursion cap
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append(
                        (target, iter(sorted(graph.find_modules_directly_imported_by(target))))
                    )
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    self_loop = graph.direct_import_exists(importer=node, imported=node)
                    if len(component) > 1 or self_loop:
                        cycles.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return cycles


def test_the_layer_contracts_are_kept() -> None:
    proc = _run_lint_imports(ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in out, out


def test_a_lower_layer_importing_a_higher_one_breaks_its_contract(tmp_path: Path) -> None:
    """The same contracts over a copy of the package with one upward import per contract: each
    contract is reported broken, naming the import that breaks it."""
    shutil.copytree(ROOT / "auditor", tmp_path / "auditor",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for path, imported, _ in VIOLATIONS.values():
        assert (tmp_path / path).is_file(), f"{path} is gone: choose another importer"
        with (tmp_path / path).open("a", encoding="utf-8") as f:
            f.write(f"\nimport {imported}  # injected by tests/test_layers.py\n")

    proc = _run_lint_imports(tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    names = {c["id"]: c["name"] for c in _contracts()}
    assert set(VIOLATIONS) <= set(names), "a contract of VIOLATIONS is not in pyproject.toml"
    for contract_id, (_, _, reported) in VIOLATIONS.items():
        assert f"{names[contract_id]} BROKEN" in out, out
        section = out.split(f"\n{names[contract_id]}\n", 1)[-1]
        assert reported in section, f"{contract_id}: {reported!r} not reported\n{out}"
    assert f"Contracts: {len(names) - len(VIOLATIONS)} kept, {len(VIOLATIONS)} broken." in out


def test_every_ignored_import_is_still_there() -> None:
    """An ignore is named for both layouts (a top-level module, or one inside a package), so an
    unmatched one is not an error for import-linter; an importer none of whose ignores matches
    has lost its upward import, and its ignores must go."""
    graph = grimp.build_graph("auditor", cache_dir=None)
    for contract in _contracts():
        by_importer: dict[str, list[str]] = {}
        for expression in contract.get("ignore_imports", []):
            importer, imported = (part.strip() for part in expression.split("->"))
            by_importer.setdefault(importer, []).append(imported)
        for importer, imported in by_importer.items():
            assert any(
                name in graph.modules
                and graph.direct_import_exists(importer=importer, imported=name)
                for name in imported
            ), f"{contract['id']}: {importer} imports none of {imported} any more"


def test_no_module_of_the_package_is_in_an_import_cycle() -> None:
    graph = grimp.build_graph("auditor", cache_dir=None)
    assert len(graph.modules) > 50  # the package itself, not an empty stand-in
    assert _import_cycles(graph, graph.modules) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.build_graph("auditor", cache_dir=None)
    # auditor.jsonio imports auditor.clock; the reverse import closes a cycle of two
    assert graph.direct_import_exists(importer="auditor.jsonio", imported="auditor.clock")
    graph.add_import(importer="auditor.clock", imported="auditor.jsonio")
    # a package and one of its modules (acyclic_siblings cannot see this one): the engine
    # package imports its fact modules
    fact_module = "auditor.engine.facts_env"
    assert graph.direct_import_exists(importer="auditor.engine", imported=fact_module)
    graph.add_import(importer=fact_module, imported="auditor.engine")
    cycles = _import_cycles(graph, graph.modules)
    assert ["auditor.clock", "auditor.jsonio"] in cycles
    assert ["auditor.engine", "auditor.engine.facts_env"] in cycles, cycles
