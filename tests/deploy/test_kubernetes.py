"""The Kubernetes manifests validate against the Kubernetes JSON schemas (no kubectl, no cluster)
and keep the promises the README makes: never two audits at once, non-root, read-only root
filesystem, no capabilities, resources, secrets only by reference, the config from a ConfigMap.

The schemas come from the `kubernetes-validate` package (it bundles the official OpenAPI-derived
JSON schemas of every Kubernetes minor version); strict mode also rejects unknown fields.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.config import parse_config
from auditor.schedule.shard import parse_shard

try:
    import kubernetes_validate.utils as kv
except ImportError:  # a test dependency: missing is a skip here, a failure in CI
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("pip install kubernetes-validate", allow_module_level=True)

K8S = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
# The oldest Kubernetes the manifests are written for, and the newest the package knows.
VERSIONS = ["1.31.0", kv.latest_version()]


def docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                out.append((path.name, doc))
    return out


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in docs() if d["kind"] == kind]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return dict(doc["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return dict(doc["spec"]["template"]["spec"])


def workloads() -> list[dict[str, Any]]:
    return by_kind("CronJob") + by_kind("Deployment")


def test_every_manifest_is_found() -> None:
    kinds = sorted(d["kind"] for _, d in docs())
    assert kinds == ["ConfigMap", "CronJob", "CronJob", "Deployment", "PersistentVolumeClaim",
                     "Secret"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("name", "doc"), docs(), ids=[f"{n}:{d['kind']}" for n, d in docs()])
def test_manifest_matches_the_kubernetes_schema(name: str, doc: dict[str, Any],
                                                version: str) -> None:
    kv.validate(doc, version, strict=True)


def test_the_validator_rejects_what_kubectl_would() -> None:
    cron = copy.deepcopy(by_kind("CronJob")[0])
    cron["spec"]["concurrencyPolcy"] = "Forbid"  # a typo: unknown field
    with pytest.raises(kv.ValidationError):
        kv.validate(cron, VERSIONS[-1], strict=True)
    cron = copy.deepcopy(by_kind("CronJob")[0])
    cron["spec"]["startingDeadlineSeconds"] = "an hour"  # wrong type
    with pytest.raises(kv.ValidationError):
        kv.validate(cron, VERSIONS[-1], strict=True)


def test_cronjob_never_runs_two_audits_at_once() -> None:
    for cron in by_kind("CronJob"):
        spec = cron["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert 0 < spec["startingDeadlineSeconds"] <= 6 * 3600
        job = spec["jobTemplate"]["spec"]
        assert "backoffLimit" in job or "backoffLimitPerIndex" in job
        assert job["activeDeadlineSeconds"] > 0
        # A configuration error (exit 2) is never retried.
        rule = job["podFailurePolicy"]["rules"][0]
        assert rule["action"] in ("FailJob", "FailIndex") and rule["onExitCodes"]["values"] == [2]
        assert "run" in pod_spec(cron)["containers"][0]["args"]


def test_containers_are_locked_down() -> None:
    for doc in workloads():
        spec = pod_spec(doc)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001  # the image's user
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            sec = container["securityContext"]
            assert sec["readOnlyRootFilesystem"] is True
            assert sec["allowPrivilegeEscalation"] is False
            assert sec["capabilities"]["drop"] == ["ALL"]
            assert set(container["resources"]["requests"]) == {"cpu", "memory"}
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in spec["volumes"]}
            # With a read-only root, /tmp (heartbeat, temporary files) is an emptyDir.
            assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
            config = volumes[mounts["/etc/soar-auditor"]["name"]]
            assert config["configMap"]["name"] == "soar-auditor-config"
            assert mounts["/etc/soar-auditor"]["readOnly"] is True
            assert "/var/lib/soar-auditor" in mounts
            assert container["args"][-2:] == ["--config", "/etc/soar-auditor/auditor.yaml"]


def test_secrets_only_by_reference() -> None:
    configmap = by_kind("ConfigMap")[0]["data"]["auditor.yaml"]
    needed = set(re.findall(r"\$\{([A-Z0-9_]+)\}", configmap))
    secret_keys = set(by_kind("Secret")[0]["stringData"])
    for doc in workloads():
        env = {e["name"]: e for e in pod_spec(doc)["containers"][0]["env"]}
        assert needed <= set(env), f"{doc['metadata']['name']} lacks {needed - set(env)}"
        for name in needed:
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "soar-auditor" and ref["key"] in secret_keys
            assert "value" not in env[name]


def test_the_configmap_is_a_valid_auditor_configuration() -> None:
    text = by_kind("ConfigMap")[0]["data"]["auditor.yaml"]
    env = {"SOAR_ACME_KEY": "k" * 16, "SOAR_ACME_DEV_KEY": "d" * 16,
           "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X",
           "SOAR_AUDITOR_STATE_URL": "postgresql://auditor:pw@postgres:5432/soar_auditor"}
    config = parse_config(yaml.safe_load(text), source="configmap", text=text, env=env)
    assert config.state.startswith("postgresql://")  # shared by CronJob pods and replicas
    assert config.reports.dir.startswith("/var/lib/soar-auditor")
    # The CronJob runs on the schedule the configuration states.
    for cron in by_kind("CronJob"):
        assert cron["spec"]["schedule"] == config.schedule.cron
        assert cron["spec"]["timeZone"] == config.schedule.timezone
    # The Deployment lets an audit in progress finish before Kubernetes kills the pod.
    deployment = by_kind("Deployment")[0]
    grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
    assert grace > config.schedule.shutdown_grace_seconds


def test_deployment_runs_the_scheduler_with_probes() -> None:
    deployment = by_kind("Deployment")[0]
    container = pod_spec(deployment)["containers"][0]
    assert "schedule" in container["args"]
    assert container["livenessProbe"]["exec"]["command"] == [
        "soar-auditor", "healthcheck", "--liveness"]
    assert container["readinessProbe"]["exec"]["command"] == ["soar-auditor", "healthcheck"]


def test_sharded_job_gives_each_pod_one_shard() -> None:
    sharded = [c for c in by_kind("CronJob")
               if c["spec"]["jobTemplate"]["spec"].get("completionMode") == "Indexed"]
    assert len(sharded) == 1
    job = sharded[0]["spec"]["jobTemplate"]["spec"]
    env = {e["name"]: e.get("value") for e in job["template"]["spec"]["containers"][0]["env"]}
    count = int(env["SOAR_AUDITOR_SHARD_COUNT"])
    assert count == job["completions"]
    # What `run` reads in pod I: Kubernetes sets JOB_COMPLETION_INDEX.
    shards = {parse_shard(None, {"JOB_COMPLETION_INDEX": str(i), **env}) for i in range(count)}
    assert shards == {(i, count) for i in range(count)}
