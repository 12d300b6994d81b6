"""Benchmark: state writes and lifecycle computation at scale.

One tenant with 100,000 API keys and 12 rules (1.2 million checks); about a quarter of the checks
fail, so each run records ~300,000 findings. Audit 1 records them all as new; audit 2 (the tenant
changed: 10% of the failing checks fixed, 2% of the keys deleted, 5% more checks failing, 1,000
keys added) computes new / open / resolved against the stored states and records again. Also
timed: reading the tenant history (the 100k-key snapshot) and loading a stored run back.

    .venv/bin/python benchmarks/state_lifecycle.py [--keys 100000] [--url sqlite:///...]
        [--tracemalloc]

Prints wall time per step and memory: the process's peak RSS (getrusage), and with
--tracemalloc the peak of Python allocations during each step (slower: tracing costs time).
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from auditor.engine.findings import Finding, Resource
from auditor.result import RunResult, TenantResult
from auditor.soar.models import ApiKey, Environment, Inventory, PermissionGroup, SocRole
from auditor.state import open_store, safe_url

T = TypeVar("T")
RULES = [
    ("SOAR-ENV-001", "high"), ("SOAR-ENV-002", "medium"), ("SOAR-ENV-003", "low"),
    ("SOAR-PG-001", "critical"), ("SOAR-PG-002", "medium"), ("SOAR-ROLE-001", "high"),
    ("SOAR-ROLE-002", "low"), ("SOAR-AGE-001", "medium"), ("SOAR-NAME-001", "low"),
    ("SOAR-NAME-002", "low"), ("SOAR-CHG-001", "info"), ("SOAR-CHG-002", "high"),
]
ENVS = [f"Customer {i:03d}" for i in range(40)]
T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


def make_inventory(keys: list[int], at: datetime) -> Inventory:
    return Inventory(
        tenant="mssp-prod",
        collected_at=at,
        environments=tuple(Environment(name=e, id=i) for i, e in enumerate(ENVS, 1)),
        permission_groups=tuple(
            PermissionGroup(i, f"Group {i}", i % 2 == 0, "bench") for i in range(1, 9)
        ),
        soc_roles=tuple(SocRole(i, f"Role {i}") for i in range(1, 6)),
        api_keys=tuple(
            ApiKey(
                id=k, name=f"integration-{k}", is_system=False, group_ids=(k % 8 + 1,),
                role_ids=(k % 5 + 1,), environments=tuple(ENVS[k % 40 : k % 40 + 3]),
                created_at=T0 - timedelta(days=k % 400),
            )
            for k in keys
        ),
    )


def make_finding(key_id: int, rule: str, severity: str) -> Finding:
    return Finding(
        rule_id=rule, title=f"{rule} title", severity=severity,  # type: ignore[arg-type]
        status="fail", tenant="mssp-prod",
        resource=Resource("api_key", key_id, f"integration-{key_id}"),
        message=f"integration-{key_id} breaks {rule}", remediation="Settings > Advanced > API keys",
        evidence={"environments": ENVS[key_id % 40 : key_id % 40 + 3], "age_days": key_id % 400},
        compliance={"nist-800-53-r5": ["AC-6"], "soc2": ["CC6.1"]},
    )


def make_run(at: datetime, failing: set[tuple[int, int]], keys: list[int]) -> RunResult:
    inv = make_inventory(keys, at)
    findings = [make_finding(k, RULES[r][0], RULES[r][1]) for k, r in sorted(failing)]
    return RunResult(
        run_id=at.strftime("%Y%m%dT%H%M%SZ"), started_at=at, finished_at=at + timedelta(minutes=3),
        tool_version="bench", tenants=[TenantResult("mssp-prod", "ok", None, inv.counts())],
        findings=findings, inventories={"mssp-prod": inv},
    )


def measure(label: str, fn: Callable[[], T], trace: bool) -> T:
    gc.collect()
    if trace:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    value = fn()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    extra = ""
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        extra = f", peak Python allocations {peak / 2**20:7.1f} MiB"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  {label:<36} {elapsed:6.2f} s (CPU {cpu:6.2f} s){extra}, peak RSS {rss:6.0f} MiB",
          flush=True)
    return value


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--fail-rate", type=float, default=0.25)
    parser.add_argument("--url", default=None, help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args(argv)
    rnd = random.Random(7)
    tmp = tempfile.mkdtemp(prefix="soar-bench-")
    url = args.url or f"sqlite:///{tmp}/state.db"

    keys = list(range(1, args.keys + 1))
    failing = {(k, r) for k in keys for r in range(len(RULES)) if rnd.random() < args.fail_rate}
    print(f"{args.keys:,} keys x {len(RULES)} rules = {args.keys * len(RULES):,} checks; "
          f"{len(failing):,} failing findings per audit; store {safe_url(url)}")

    first = make_run(T0, failing, keys)
    # Audit 2: 10% of the failing checks fixed, 2% of the keys deleted, 5% more checks failing,
    # 1,000 new keys.
    deleted = set(rnd.sample(keys, len(keys) // 50))
    keys2 = [k for k in keys if k not in deleted] + list(range(args.keys + 1, args.keys + 1001))
    fixed = set(rnd.sample(sorted(failing), len(failing) // 10))
    more = {
        (k, r) for k in keys2 for r in range(len(RULES)) if rnd.random() < 0.05 * args.fail_rate
    }
    failing2 = {(k, r) for k, r in (failing - fixed) | more if k not in deleted}
    second = make_run(T0 + timedelta(days=1), failing2, keys2)
    # Audit 3, the steady state: 1% of the failing checks fixed, nothing else changed.
    failing3 = failing2 - set(rnd.sample(sorted(failing2), len(failing2) // 100))
    third = make_run(T0 + timedelta(days=2), failing3, keys2)

    store = measure("open (create schema)", lambda: open_store(url), False)
    try:
        print("audit 1 (everything new):")
        measure("record_run", lambda: store.record_run(first), args.tracemalloc)
        print(f"    -> {first.summary()['new']:,} new")
        print("audit 2 (the tenant changed):")
        history = measure(f"tenant_history ({len(keys):,}-key snapshot)",
                          lambda: store.tenant_history("mssp-prod"), args.tracemalloc)
        assert history.previous_inventory is not None
        measure("record_run", lambda: store.record_run(second), args.tracemalloc)
        s = second.summary()
        opened = sum(1 for f in second.findings if f.lifecycle == "open")
        print(f"    -> {s['new']:,} new, {opened:,} open, {s['resolved']:,} resolved")
        print("audit 3 (steady state: 1% fixed):")
        measure("record_run", lambda: store.record_run(third), args.tracemalloc)
        s = third.summary()
        opened = sum(1 for f in third.findings if f.lifecycle == "open")
        print(f"    -> {s['new']:,} new, {opened:,} open, {s['resolved']:,} resolved")
        loaded: Any = measure("load_run (re-render source)", lambda: store.load_run(second.run_id),
                              args.tracemalloc)
        assert len(loaded.findings) == len(second.findings)
        measure("runs / history", lambda: store.history(30), False)
    finally:
        store.close()
    if url.startswith("sqlite"):
        size = sum(p.stat().st_size for p in Path(tmp).glob("state.db*"))
        print(f"store size after two audits: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main(sys.argv[1:])
