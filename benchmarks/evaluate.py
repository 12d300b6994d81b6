"""Time the evaluate stage: 100,000 keys of one tenant x the built-in rules (prints figures; not a
test).

    .venv/bin/python benchmarks/evaluate.py [KEYS] [ENVIRONMENTS]

Two worlds: "typical" (most keys pass most rules) and "stress" (every key fails about three
rules, so that building the findings dominates). Wall and CPU time are printed: on a shared
machine the CPU time is the steadier figure.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from auditor.config import RuleParams
from auditor.engine.evaluate import evaluate_tenant
from auditor.engine.history import TenantHistory
from auditor.engine.rules import builtin_rules
from auditor.soar.models import ApiKey, Environment, Inventory, PermissionGroup, SocRole

NOW = datetime(2026, 11, 26, 2, tzinfo=UTC)
GROUPS = tuple(
    PermissionGroup(i, name, state)
    for i, (name, state) in enumerate(
        [("Admins", True), ("Tier1", False), ("Tier2", False), ("Auto", None), ("All", True)],
        start=1,
    )
)
ROLES = tuple(SocRole(i, n) for i, n in enumerate(["Administrator", "Tier1", "Tier2"], 1))


def world(keys: int, envs: int, stress: bool, seed: int = 7) -> tuple[Inventory, TenantHistory]:
    rnd = random.Random(seed)
    environments = tuple(
        Environment(f"env-{i}", id=i,
                    created_at=NOW - timedelta(days=rnd.randint(0, 900)) if i % 3 else None)
        for i in range(envs)
    )
    names = [e.name for e in environments]

    def pick(weights: list[tuple[float, int]]) -> int:
        roll = rnd.random()
        for p, value in weights:
            if roll < p:
                return value
            roll -= p
        return weights[-1][1]

    def key(i: int) -> ApiKey:
        kind = rnd.random()
        if kind < (0.2 if stress else 0.1):
            env_list: tuple[str, ...] = ("*",)
        elif kind < (0.5 if stress else 0.3):
            env_list = tuple(names[: rnd.randint(1, envs)])
        else:
            env_list = tuple(rnd.sample(names, rnd.randint(1, min(5, envs)))) + (
                ("gone",) if rnd.random() < 0.05 else ()
            )
        if stress:
            group = rnd.randint(1, 6)
            role = rnd.randint(1, 4)
            name = f"svc-{i % (keys // 2 or 1)}"  # every name used twice
        else:
            group = pick([(0.03, 1), (0.6, 2), (0.2, 3), (0.05, 4), (0.12, 5)])
            role = pick([(0.02, 1), (0.7, 2), (0.28, 3)])
            name = f"svc-{i}" if rnd.random() < 0.98 else f"Legacy {i % 50}"
        max_age = 400 if stress else 120
        return ApiKey(
            id=i,
            name=name,
            is_system=rnd.random() < 0.01,
            group_ids=(group,),
            role_ids=(role,) if rnd.random() < 0.98 else (),
            environments=env_list,
            created_at=NOW - timedelta(days=rnd.randint(0, max_age)) if rnd.random() < 0.97
            else None,
        )

    api_keys = tuple(key(i) for i in range(keys))
    inventory = Inventory("bench", NOW, environments, GROUPS, ROLES, api_keys)
    previous = Inventory("bench", NOW - timedelta(days=1), environments, GROUPS, ROLES,
                         api_keys[: int(keys * 0.99)])
    history = TenantHistory(previous, NOW - timedelta(days=1), NOW - timedelta(days=30), {})
    return inventory, history


def calibration() -> float:
    """CPU seconds of a plain 10-million-step Python loop (about 0.3-0.5 s on an idle laptop),
    to scale the figures of a slow or busy machine."""
    start = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - start


def main() -> None:
    keys = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    envs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    rules = builtin_rules()
    params = RuleParams(key_name_pattern=r"svc-[0-9]+")
    key_rules = sum(1 for r in rules if r.resource == "api_key")
    print(f"calibration: a 10M-step Python loop takes {calibration():.2f} s CPU here")
    for label, stress in (("typical", False), ("stress", True)):
        inventory, history = world(keys, envs, stress)
        wall, cpu = time.perf_counter(), time.process_time()
        findings = evaluate_tenant(inventory, history, rules, params, NOW)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        by_status = Counter(f.status for f in findings)
        print(f"{label:8} {keys:,} keys x {key_rules} key rules, {envs} environments: "
              f"{wall:.2f} s wall, {cpu:.2f} s CPU ({cpu / keys * 1e6:.1f} us/key); "
              f"findings: {len(findings):,} (fail {by_status['fail']:,}, "
              f"unknown {by_status['unknown']:,})")


if __name__ == "__main__":
    main()
