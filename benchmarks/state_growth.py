"""Benchmark: bytes the state store grows by per audited night, at 100,000 keys (10,000 for a
quick run).

One tenant, ``--keys`` API keys (like the "typical" world of benchmarks/evaluate.py: most keys
pass most rules, every AppKey fails SOAR-MIG-001 with its countdown, keys older than 90 days fail
SOAR-AGE-001 with their age in days; no key crosses that age within the nights measured),
evaluated by the built-in rules with the tenant history the store gives, and recorded night after
night, one day apart. Nights 2 to ``--nights`` change nothing in the tenant
(only the date moves); the last night (``--changed``) changes 1% of the keys.

    .venv/bin/python benchmarks/state_growth.py [--keys 100000] [--nights 4] [--changed]

Prints, per night, the SQLite file size after VACUUM and what it grew by, and the stored bytes by
table (runs.document, tenant_runs.inventory, blobs.data). Runs on any schema version (it uses the
public Store API only), so that the figures before and after a change can be had side by side
(``PYTHONPATH=<other checkout>``).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from auditor.config import RuleParams
from auditor.engine.evaluate import evaluate_tenant
from auditor.engine.rules import builtin_rules
from auditor.result import RunResult, TenantResult
from auditor.soar.models import ApiKey, Environment, Inventory, PermissionGroup, SocRole
from auditor.state import open_store

NOW = datetime(2026, 11, 26, 2, tzinfo=UTC)
DAY = timedelta(days=1)
GROUPS = tuple(
    PermissionGroup(i, name, state)
    for i, (name, state) in enumerate(
        [("Admins", True), ("Tier1", False), ("Tier2", False), ("Auto", None), ("All", True)],
        start=1,
    )
)
ROLES = tuple(SocRole(i, n) for i, n in enumerate(["Administrator", "Tier1", "Tier2"], 1))


def world(keys: int, envs: int = 30, seed: int = 7) -> Inventory:
    rnd = random.Random(seed)
    environments = tuple(
        Environment(f"env-{i}", id=i, created_at=NOW - timedelta(days=rnd.randint(30, 900)))
        for i in range(envs)
    )
    names = [e.name for e in environments]

    def key(i: int) -> ApiKey:
        kind = rnd.random()
        if kind < 0.1:
            env_list: tuple[str, ...] = ("*",)
        elif kind < 0.3:
            env_list = tuple(names[: rnd.randint(1, envs)])
        else:
            env_list = tuple(rnd.sample(names, rnd.randint(1, min(5, envs))))
        return ApiKey(
            id=i,
            name=f"svc-{i}" if rnd.random() < 0.98 else f"Legacy {i % 50}",
            is_system=rnd.random() < 0.01,
            group_ids=(rnd.choice((2, 2, 2, 3, 5)),),
            role_ids=(rnd.choice((2, 2, 3)),),
            environments=env_list,
            # no key crosses the 90-day age limit within a few nights: an unchanged night lists
            # the same findings (only their day counts move)
            created_at=NOW - timedelta(days=rnd.choice((rnd.randint(0, 75),
                                                        rnd.randint(100, 400)))),
        )

    return Inventory("bench", NOW, environments, GROUPS, ROLES, tuple(key(i) for i in range(keys)))


def changed(inventory: Inventory) -> Inventory:
    """1% of the keys get another role."""
    keys = list(inventory.api_keys)
    for i in range(0, len(keys), 100):
        keys[i] = dataclasses.replace(keys[i], role_ids=(1,))
    return dataclasses.replace(inventory, api_keys=tuple(keys))


def sizes(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        out = {
            "document": conn.execute("SELECT coalesce(sum(length(document)), 0) FROM runs")
            .fetchone()[0],
            "inventory": conn.execute(
                "SELECT coalesce(sum(length(inventory)), 0) FROM tenant_runs").fetchone()[0],
            "blobs": conn.execute("SELECT coalesce(sum(length(data)), 0) FROM blobs")
            .fetchone()[0] if "blobs" in tables else 0,
            "chunks": conn.execute("SELECT count(*) FROM blobs").fetchone()[0]
            if "blobs" in tables else 0,
        }
    out["file"] = db.stat().st_size
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--nights", type=int, default=4)
    parser.add_argument("--changed", action="store_true",
                        help="one more night, 1%% of the keys changed")
    args = parser.parse_args()
    rules = builtin_rules()
    params = RuleParams(key_name_pattern=r"svc-[0-9]+")
    base = world(args.keys)
    plan = [(n, base) for n in range(args.nights)]
    if args.changed:
        plan.append((args.nights, changed(base)))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "state.db"
        before = {"file": 0, "document": 0, "inventory": 0, "blobs": 0, "chunks": 0}
        print(f"{args.keys:,} keys; bytes per night (SQLite file after VACUUM)")
        for night, inventory in plan:
            at = NOW + night * DAY
            inv = dataclasses.replace(inventory, collected_at=at)
            started = time.perf_counter()
            with open_store(f"sqlite:///{db}") as store:
                history = store.tenant_history("bench")
                findings = evaluate_tenant(inv, history, rules, params, at)
                result = RunResult(
                    run_id=at.strftime("%Y%m%dT%H%M%SZ"), started_at=at,
                    finished_at=at + timedelta(seconds=60), tool_version="bench",
                    tenants=[TenantResult("bench", "ok", None, inv.counts())],
                    findings=findings, inventories={"bench": inv},
                )
                store.record_run(result)
            wall = time.perf_counter() - started
            now = sizes(db)
            grew = {k: now[k] - before[k] for k in now}
            kind = "first" if night == 0 else ("changed" if inventory is not base else "unchanged")
            print(f"night {night + 1} ({kind:9}): {len(result.findings):,} findings, file "
                  f"{now['file'] / 1e6:8.2f} MB, +{grew['file'] / 1e6:7.3f} MB "
                  f"(runs.document +{grew['document'] / 1e6:.3f}, tenant_runs.inventory "
                  f"+{grew['inventory'] / 1e6:.3f}, blobs +{grew['blobs'] / 1e6:.3f} MB in "
                  f"+{grew['chunks']} chunks); {wall:.1f} s")
            before = now


if __name__ == "__main__":
    main()
