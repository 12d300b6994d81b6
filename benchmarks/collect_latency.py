"""Collect N simulated tenants whose every request takes L ms, and compare the wall time with the
sum of the request latencies (what a sequential client would wait).

    .venv/bin/python benchmarks/collect_latency.py [--tenants 20] [--latency-ms 100]
        [--max-concurrent 8] [--max-connections 4]
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from datetime import UTC, datetime

from pydantic import SecretStr

from auditor.config import TenantConfig
from auditor.simulator.scenario import builtin_scenario
from auditor.simulator.server import SimulatorServer
from auditor.soar.collect import collect_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--max-concurrent", type=int, default=8)
    parser.add_argument("--max-connections", type=int, default=4)
    args = parser.parse_args()

    scenario = builtin_scenario("demo")
    with ExitStack() as stack:
        servers = [stack.enter_context(SimulatorServer(scenario).running())
                   for _ in range(args.tenants)]
        for srv in servers:
            srv.set_latency_ms(args.latency_ms)
        tenants = [
            TenantConfig(name=f"tenant-{i:02d}", url=srv.url, api_key=SecretStr(srv.app_key),
                         max_connections=args.max_connections)
            for i, srv in enumerate(servers)
        ]
        started = time.perf_counter()
        results = collect_all(tenants, datetime.now(UTC), max_concurrent=args.max_concurrent)
        wall = time.perf_counter() - started
        requests = sum(len(srv.request_log) for srv in servers)
        busiest = max(srv.max_in_flight for srv in servers)

    failed = [r.tenant for r in results if not r.ok]
    sequential = requests * args.latency_ms / 1000
    print(f"tenants              {args.tenants} (max_concurrent {args.max_concurrent}, "
          f"max_connections {args.max_connections}, latency {args.latency_ms} ms)")
    print(f"requests             {requests} ({requests / args.tenants:.0f} per tenant), "
          f"at most {busiest} in flight per tenant")
    print(f"sequential sum       {sequential:8.2f} s")
    print(f"wall time            {wall:8.2f} s")
    if sequential:
        print(f"speed-up             {sequential / wall:8.1f}x  (wall / sequential = "
              f"{wall / sequential:.3f})")
    print(f"failed tenants       {len(failed)} {failed if failed else ''}")


if __name__ == "__main__":
    main()
