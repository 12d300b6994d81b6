"""Time the evaluate stage: 100,000 keys x the built-in rules (prints figures; not a test).

    .venv/bin/python benchmarks/evaluate.py [KEYS] [ENVIRONMENTS]
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


def world(keys: int, envs: int, seed: int = 7) -> tuple[Inventory, TenantHistory]:
    rnd = random.Random(seed)
    now = datetime(2026, 11, 26, 2, tzinfo=UTC)
    environments = tuple(
        Environment(f"env-{i}", id=i,
                    created_at=now - timedelta(days=rnd.randint(0, 900)) if i % 3 else None)
        for i in range(envs)
    )
    groups = tuple(
        PermissionGroup(i, name, state)
        for i, (name, state) in enumerate(
            [("Admins", True), ("Tier1", False), ("Tier2", False), ("Auto", None), ("All", True)],
            start=1,
        )
    )
    roles = tuple(SocRole(i, n) for i, n in enumerate(["Administrator", "Tier1", "Tier2"], 1))
    names = [e.name for e in environments]

    def key(i: int) -> ApiKey:
        kind = rnd.random()
        if kind < 0.2:
            env_list: tuple[str, ...] = ("*",)
        elif kind < 0.5:
            env_list = tuple(names[: rnd.randint(1, envs)])
        else:
            env_list = tuple(rnd.sample(names, rnd.randint(1, min(5, envs)))) + (
                ("gone",) if rnd.random() < 0.05 else ()
            )
        created = now - timedelta(days=rnd.randint(0, 400)) if rnd.random() < 0.95 else None
        return ApiKey(
            id=i,
            name=f"svc-{i % (keys // 2 or 1)}",  # every name used twice
            is_system=rnd.random() < 0.01,
            group_ids=(rnd.randint(1, 6),),
            role_ids=(rnd.randint(1, 4),) if rnd.random() < 0.98 else (),
            environments=env_list,
            created_at=created,
        )

    api_keys = tuple(key(i) for i in range(keys))
    inventory = Inventory("bench", now, environments, groups, roles, api_keys)
    previous = Inventory("bench", now - timedelta(days=1), environments, groups, roles,
                         api_keys[: int(keys * 0.9)])
    history = TenantHistory(previous, now - timedelta(days=1), now - timedelta(days=30), {})
    return inventory, history


def main() -> None:
    keys = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    envs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    inventory, history = world(keys, envs)
    rules = builtin_rules()
    params = RuleParams(key_name_pattern=r"svc-[0-9]+")
    key_rules = sum(1 for r in rules if r.resource == "api_key")
    start = time.perf_counter()
    findings = evaluate_tenant(inventory, history, rules, params, inventory.collected_at)
    elapsed = time.perf_counter() - start
    by_status = Counter(f.status for f in findings)
    print(f"{keys:,} keys x {key_rules} key rules, {envs} environments: {elapsed:.2f} s "
          f"({elapsed / keys * 1e6:.1f} us/key); findings: {len(findings):,} "
          f"(fail {by_status['fail']:,}, unknown {by_status['unknown']:,})")


if __name__ == "__main__":
    main()
