"""The image installs exact, hashed dependencies: requirements.lock (pip-compile
--generate-hashes) pins every runtime dependency of the project, and the Dockerfile installs from
it with --require-hashes --no-deps, then the project itself with --no-deps. pyproject.toml keeps
its ranges for library users; the lock's pins must satisfy them."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.deploy.test_dockerfile import stages

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"


def locked() -> dict[str, tuple[Version, list[str]]]:
    """name -> (pinned version, sha256 hashes), from requirements.lock."""
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    out: dict[str, tuple[Version, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split(" --")
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", spec.strip())
        assert match, f"requirements.lock: not an exact pin: {line!r}"
        hashes = [o.split("sha256:", 1)[1].strip() for o in options if o.startswith("hash=")]
        out[canonicalize_name(match.group(1))] = (Version(match.group(2)), hashes)
    return out


def runtime_requirements() -> list[Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [Requirement(r) for r in data["project"]["dependencies"]]


def closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution the runtime requirements pull in, as installed here (extras followed,
    markers evaluated for this interpreter)."""
    env = default_environment()
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for raw in metadata.requires(req.name) or []:
            sub = Requirement(raw)
            if sub.marker is not None and not any(
                sub.marker.evaluate({**env, "extra": e}) for e in (extras or {""})
            ):
                continue
            todo.append((sub, frozenset(sub.extras)))
    return {k.split("[", 1)[0] for k in seen}


def test_the_lock_pins_every_package_with_hashes() -> None:
    pins = locked()
    assert pins, "requirements.lock is empty"
    for name, (_version, hashes) in pins.items():
        assert hashes, f"{name} has no --hash in requirements.lock"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name


def test_the_lock_covers_every_runtime_dependency_within_pyproject_ranges() -> None:
    pins = locked()
    needed = closure(runtime_requirements())
    missing = sorted(needed - set(pins))
    assert not missing, f"requirements.lock lacks {missing}: run pip-compile again (README)"
    for req in runtime_requirements():
        version, _ = pins[canonicalize_name(req.name)]
        assert req.specifier.contains(version, prereleases=True), \
            f"requirements.lock pins {req.name}=={version}, outside pyproject's {req}"
    # Nothing for tests or tools in the image.
    for tool in ("pytest", "mypy", "ruff", "playwright", "pip-tools"):
        assert canonicalize_name(tool) not in pins, tool


def test_the_dockerfile_installs_from_the_lock_with_hashes_and_no_resolution() -> None:
    build = stages()[0]
    copies = [rest for word, rest in build if word == "COPY"]
    assert any(c.split()[0] == "requirements.lock" for c in copies)
    runs = [rest for word, rest in build if word == "RUN"]
    installs = [part.strip() for run in runs for part in run.split("&&")
                if re.search(r"\bpip install\b", part)]
    assert installs, "the build stage installs nothing"
    from_lock = [i for i in installs if "requirements.lock" in i]
    assert len(from_lock) == 1
    assert "--require-hashes" in from_lock[0] and "--no-deps" in from_lock[0]
    assert re.search(r"-r \S*requirements\.lock", from_lock[0])
    # Every other install (the project's own wheel) resolves nothing either.
    for install in installs:
        assert "--no-deps" in install, install
    # The lock goes in before the sources: its layer is cached while only the code changes.
    names = [(word, rest.split()[0]) for word, rest in build if word == "COPY"]
    assert names.index(("COPY", "requirements.lock")) < names.index(("COPY", "."))
    assert any("pip check" in run for run in runs)  # a requirement the lock misses fails


def test_the_build_context_includes_the_lock() -> None:
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "!requirements.lock" in [line.strip() for line in ignore]
