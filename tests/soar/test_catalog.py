"""The endpoint catalog is the one place that spells API paths: client, collector, simulator,
capture and doctor are driven by it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import auditor
from auditor.soar import catalog

PACKAGE = Path(auditor.__file__).parent
ALLOWED = {PACKAGE / "soar" / p for p in ("catalog.py", "shapes.py", "shapes_chronicle.py")}
# What an API path looks like: the legacy prefix and its route folders, the Chronicle resources
# and versions, the IAM call.
PATH = re.compile(
    r"/api/external|\b(settings|permissions|socroles)/[A-Za-z{]|legacySoar[A-Z]|legacySystem"
    r"|:getIamPolicy|/v1(alpha|beta)?/projects|/v3/projects|/(environments|socRoles)\b",
    re.IGNORECASE)


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def paths_spelled(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string in ``source`` that spells an API path (docstrings and
    prose, i.e. texts with spaces, aside: they may name a path to explain it)."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docs and " " not in node.value and PATH.search(node.value)]


def test_the_detector_finds_a_spelled_path() -> None:
    sample = ('"""Docs may name /api/external/v1/settings/GetApiKeys."""\n'
              'URL = "/api/external/v1" + "/settings/GetApiKeys"\n'
              'OTHER = f"v1alpha/{x}/legacySoarUsers"\n'
              'HELP = "the list at v1alpha/.../legacySoarUsers is read"\n')
    assert [line for line, _ in paths_spelled(sample)] == [2, 2, 3]


def test_no_module_outside_the_catalog_spells_an_api_path() -> None:
    offenders = []
    for file in sorted(PACKAGE.rglob("*.py")):
        if file in ALLOWED:
            continue
        for line, text in paths_spelled(file.read_text(encoding="utf-8")):
            offenders.append(f"{file.relative_to(PACKAGE.parent)}:{line}: {text[:80]!r}")
    assert offenders == []


def test_every_endpoint_is_complete_and_routable() -> None:
    assert len(set(catalog.NAMES)) == len(catalog.ENDPOINTS)
    for ep in catalog.ENDPOINTS:
        assert ep.dialects and callable(ep.parse) and ep.surface in catalog.SURFACES.values()
        assert ep.per is None or ep.per in catalog.BY_NAME
        assert ep.unless is None or ep.unless in catalog.BY_NAME
        if ep.surface.errors == "google":
            assert ep.permission, ep.name  # a 403 line names what to grant
        for dialect in ep.dialects:
            params = {"project": "p", "location": "us", "instance": "i"}
            path = catalog.path_for(ep, dialect, params, 7 if ep.per else None)
            routes = [r for r in catalog.ROUTES if r.pattern.match(path)]
            assert any(r.endpoint is ep and r.dialect is dialect for r in routes), path


def test_a_surface_is_a_value_of_the_catalog() -> None:
    assert {e.name for e in catalog.plan(("legacy",))} == {
        "GetSystemVersion", "GetApiKeys", "GetEnvironments", "GetPermissionsGroupCards",
        "GetPermissionGroup", "GetAllEnvironmentStatus", "GetSocRoles"}
    chronicle_only = {e.name for e in catalog.plan(("chronicle", "iam"))}
    assert chronicle_only == {"LegacyGetSystemVersion", "ListEnvironments", "ListSocRoles",
                              "ListIdpMappingGroups", "ListSoarUsers",
                              "ListSoarPermissionGroups", "GetIamPolicy"}
    both = {e.name for e in catalog.plan(("legacy", "chronicle", "iam"))}
    # while both are read, keys' environments, roles and groups come from the legacy API
    assert both == {e.name for e in catalog.plan(("legacy",))} | {
        "ListIdpMappingGroups", "ListSoarUsers", "GetIamPolicy"}
