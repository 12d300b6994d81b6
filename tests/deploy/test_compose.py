"""deploy/docker-compose.yml validates against the Compose Specification's JSON schema and runs
the scheduler as the README says: PostgreSQL, secrets from an env file, volumes, a healthcheck.

The schema is the official compose-spec.json as vendored by the `check-jsonschema` package
(check_jsonschema/builtin_schemas/vendor/compose-spec.json, from github.com/compose-spec).
"""

from __future__ import annotations

import json
import os
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from auditor.config import parse_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose_schema() -> dict[str, Any]:
    try:
        resource = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
        schema: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    except ModuleNotFoundError:  # a test dependency: missing is a skip here, a failure in CI
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip("pip install check-jsonschema")
    return schema


def validator() -> jsonschema.protocols.Validator:
    schema = compose_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text("utf-8"))
    return data


def test_compose_file_matches_the_compose_specification() -> None:
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}"
              for e in validator().iter_errors(compose())]
    assert errors == []


def test_the_validator_rejects_a_broken_compose_file() -> None:
    doc = compose()
    doc["services"]["scheduler"]["restrat"] = "always"
    doc["services"]["postgres"]["volumes"] = {"pgdata": "/var/lib/postgresql/data"}
    messages = [e.message for e in validator().iter_errors(doc)]
    assert any("'restrat' was unexpected" in m for m in messages), messages
    assert any("is not of type 'array'" in m for m in messages), messages


def test_scheduler_service() -> None:
    svc = compose()["services"]["scheduler"]
    assert svc["command"] == ["schedule", "--config", "/etc/soar-auditor/auditor.yaml"]
    assert svc["healthcheck"]["test"] == ["CMD", "soar-auditor", "healthcheck"]
    assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert svc["user"] == "10001:10001"
    assert svc["read_only"] is True and "/tmp" in svc["tmpfs"]
    assert svc["cap_drop"] == ["ALL"]
    assert any(v.endswith(":/var/lib/soar-auditor") for v in svc["volumes"])
    assert "./auditor.yaml:/etc/soar-auditor/auditor.yaml:ro" in svc["volumes"]
    assert [e["path"] for e in svc["env_file"]] == [".env"]


def test_secrets_only_from_the_env_file() -> None:
    text = (DEPLOY / "docker-compose.yml").read_text("utf-8")
    config_text = (DEPLOY / "auditor.yaml").read_text("utf-8")
    example = dict(line.split("=", 1) for line in (DEPLOY / ".env.example").read_text("utf-8")
                   .splitlines() if line and not line.startswith("#"))
    needed = set(re.findall(r"\$\{([A-Z0-9_]+)", text + config_text))
    assert needed <= set(example), f".env.example lacks {needed - set(example)}"
    # No literal password or key in the compose file.
    pg_env = compose()["services"]["postgres"]["environment"]
    assert pg_env["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")
    # The filled-in env file is never committed.
    assert ".env" in (DEPLOY / ".gitignore").read_text("utf-8").split()


def test_mounted_configuration_is_valid_and_matches_the_stop_grace() -> None:
    text = (DEPLOY / "auditor.yaml").read_text("utf-8")
    env = {"SOAR_ACME_KEY": "k" * 16, "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X",
           "POSTGRES_PASSWORD": "pw"}
    config = parse_config(yaml.safe_load(text), source="deploy/auditor.yaml", text=text, env=env)
    assert config.state == "postgresql://auditor:pw@postgres:5432/soar_auditor"
    stop = compose()["services"]["scheduler"]["stop_grace_period"]
    assert int(stop.rstrip("s")) > config.schedule.shutdown_grace_seconds
