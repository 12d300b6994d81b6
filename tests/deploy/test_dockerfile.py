"""The Dockerfile keeps the image's contract (the container smoke in .ci/run builds and runs it):
Debian bookworm-slim stages, a non-root numeric user, the documented entrypoint, command, volume
and HEALTHCHECK, and nothing to compile or install with in the final image."""

from __future__ import annotations

import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def stages() -> list[list[tuple[str, str]]]:
    """(INSTRUCTION, arguments) per stage, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    out: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            out.append([])
        out[-1].append((word.upper(), rest.strip()))
    return out


def final() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for word, rest in stages()[-1]:
        found.setdefault(word, []).append(rest)
    return found


def test_multi_stage_on_debian_bookworm_slim() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    for stage in all_stages:
        assert stage[0][1].split()[0] == "debian:bookworm-slim"
    build = " ".join(rest for word, rest in all_stages[0] if word == "RUN")
    assert "python3-venv" in build and "pip wheel" in build  # a wheel, built in the builder
    assert "COPY" in final() and any("--from=" in c for c in final()["COPY"])


def test_final_image_has_no_build_tools_or_caches() -> None:
    run = " ".join(final()["RUN"])
    for banned in ("python3-pip", "python3-venv", "gcc", "build-essential", "python3-dev"):
        assert banned not in run
    assert "rm -rf /var/lib/apt/lists/*" in run and "/var/cache/apt/*" in run
    build = " ".join(rest for word, rest in stages()[0] if word == "RUN")
    assert "pip uninstall -y pip setuptools" in build  # the venv copied over has no pip either


def test_runs_as_a_numeric_non_root_user() -> None:
    (user,) = final()["USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so Kubernetes runAsNonRoot can verify it
    assert uid == "10001"


def test_entrypoint_command_volume_and_healthcheck() -> None:
    image = final()
    assert image["ENTRYPOINT"] == ['["soar-auditor"]']
    assert image["CMD"] == ['["schedule", "--config", "/etc/soar-auditor/auditor.yaml"]']
    assert image["VOLUME"] == ['["/var/lib/soar-auditor"]']
    (health,) = image["HEALTHCHECK"]
    assert health.split("CMD", 1)[1].strip() == '["soar-auditor", "healthcheck"]'
    env = " ".join(image["ENV"])
    # The heartbeat lives in /tmp: writable even with a read-only root filesystem (tmpfs/emptyDir).
    assert "SOAR_AUDITOR_HEARTBEAT_FILE=/tmp/" in env


def test_build_context_is_only_what_the_wheel_needs() -> None:
    lines = [ln for ln in (ROOT / ".dockerignore").read_text("utf-8").splitlines()
             if ln and not ln.startswith("#")]
    assert lines[0] == "*"  # everything excluded, then the few things the build needs
    allowed = {ln[1:] for ln in lines if ln.startswith("!")}
    assert {"pyproject.toml", "auditor", "rules"} <= allowed
    assert not allowed & {".venv", ".git", "tests", "reports", "deploy"}
    for path in shlex.split(" ".join(final()["COPY"])):
        assert not path.startswith((".venv", "tests"))
