"""The whole `soar-auditor run` against loopback fakes, side by side in one run with a sequential
`requests` loop over the same endpoints: wall time, CPU, peak RSS, and the ratios.

    .venv/bin/python benchmarks/pipeline.py [--tenants 40] [--keys 50] [--latency 100]
        [--max-concurrent N] [--formats html,json,csv] [--no-sequential] [--repeat 1]

Each tenant is its own simulator (its own host:port, as tenants are different hosts), seeded from
the demo tenant with ``--keys`` API keys and every request delayed ``--latency`` ms. The audit
runs as a real subprocess (`python -m auditor run --config ...`); its CPU and peak RSS are the
child's own (``getrusage(RUSAGE_CHILDREN)``). The sequential loop makes the same requests the
audit made, one after another, with one `requests.Session` per tenant.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests
import yaml

from auditor.simulator.scenario import Scenario, builtin_scenario
from auditor.simulator.server import SimulatorServer

ROOT = Path(__file__).resolve().parents[1]


def scenario_with(keys: int) -> Scenario:
    data = builtin_scenario("demo").to_dict()
    base = [k for k in data["api_keys"] if not k.get("isSystem")]
    records = []
    for i in range(keys):
        record = copy.deepcopy(base[i % len(base)])
        record["id"] = 1000 + i
        record["name"] = f"{record['name']}-{i}"
        record["key"] = f"BENCH-{i:08d}"
        records.append(record)
    data["api_keys"] = records
    data["phases"] = {}
    data.pop("chronicle", None)
    for name in ("idp_mappings", "users", "iam_bindings"):
        data.pop(name, None)
    return Scenario.from_dict(data)


def sequential(servers: list[SimulatorServer], log: list[list[tuple[str, str]]]) -> float:
    """Replay every request each simulator saw, one after another, on one session per tenant."""
    started = time.perf_counter()
    for srv, requests_seen in zip(servers, log, strict=True):
        with requests.Session() as session:
            session.headers["AppKey"] = srv.app_key
            for method, path in requests_seen:
                body = None
                if method == "POST":
                    body = {"searchTerm": "", "requestedPage": 0, "pageSize": 100}
                answer = session.request(method, srv.url + path, json=body, timeout=30)
                answer.close()  # read whole (not streamed), as the auditor reads it
    return time.perf_counter() - started


def audit(servers: list[SimulatorServer], folder: Path, args: argparse.Namespace
          ) -> dict[str, Any]:
    config: dict[str, Any] = {
        "tenants": [{"name": f"t{i:04d}", "url": s.url, "api_key": s.app_key}
                    for i, s in enumerate(servers)],
        "state": f"sqlite:///{folder}/state.db",
        "reports": {"dir": str(folder / "reports"), "formats": args.formats.split(",")},
    }
    if args.max_concurrent:
        config["max_concurrent_tenants"] = args.max_concurrent
    cfg = folder / "auditor.yaml"
    cfg.write_text(yaml.safe_dump(config), encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    command = [sys.executable, "-m", "auditor", "--log-format", "json", "run", "--config",
               str(cfg), "--no-notify"]
    if args.profile:  # every thread, sampled (py-spy, not a dependency: pip install py-spy)
        command = ["py-spy", "record", "--format", "raw", "-r", "200", "-o", args.profile,
                   "--", *command]
    # As installed: bytecode cached (this machine's shell sets PYTHONDONTWRITEBYTECODE, which
    # makes every start compile the whole program again; an installed wheel has its .pyc).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False,
                          env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if args.profile:
        print(proc.stderr[-600:], file=sys.stderr)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"audit failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"wall": wall, "user": after.ru_utime - before.ru_utime,
            "sys": after.ru_stime - before.ru_stime,
            "rss_mib": after.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=40)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--latency", type=int, default=100, help="ms per request")
    parser.add_argument("--max-concurrent", type=int, default=0,
                        help="max_concurrent_tenants (default: the auditor's default)")
    parser.add_argument("--formats", default="html,json,csv")
    parser.add_argument("--no-sequential", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", default=None,
                        help="write a py-spy profile (raw, collapsed stacks) of the audit here")
    parser.add_argument("--keep", default=None, type=Path,
                        help="copy the last run's folder (reports, state) here afterwards")
    args = parser.parse_args()

    scenario = scenario_with(args.keys)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        servers = [stack.enter_context(SimulatorServer(scenario).running())
                   for _ in range(args.tenants)]
        for srv in servers:
            srv.set_latency_ms(args.latency)
        runs = []
        for n in range(args.repeat):
            for srv in servers:
                srv.clear_log()
            folder = Path(tmp) / f"run{n}"
            folder.mkdir()
            runs.append(audit(servers, folder, args))
        if args.keep:
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.copytree(folder, args.keep)
        log = [srv.request_log for srv in servers]
        count = sum(len(x) for x in log)
        seq = None if args.no_sequential else sequential(servers, log)
    best = min(runs, key=lambda r: r["wall"])
    cpu = best["user"] + best["sys"]
    out = {
        "tenants": args.tenants, "keys_per_tenant": args.keys, "latency_ms": args.latency,
        "requests": count, "audit_wall_s": round(best["wall"], 2),
        "audit_cpu_s": round(cpu, 2), "audit_user_s": round(best["user"], 2),
        "audit_sys_s": round(best["sys"], 2), "audit_peak_rss_mib": round(best["rss_mib"]),
        "cpu_ms_per_request": round(1000 * cpu / max(count, 1), 2),
        "sequential_wall_s": None if seq is None else round(seq, 2),
        "speedup_vs_sequential": None if seq is None else round(seq / best["wall"], 1),
        "effective_parallelism": round(count * args.latency / 1000 / best["wall"], 1),
        "all_runs_wall_s": [round(r["wall"], 2) for r in runs],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
