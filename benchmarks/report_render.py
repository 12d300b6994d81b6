"""Time the report stage: N findings (default 100,000) over many tenants, every format.

    .venv/bin/python benchmarks/report_render.py [FINDINGS] [TENANTS] [OUT_DIR]

Prints, per format: write time (wall and CPU: CPU is the steadier figure on a busy machine),
file size; then the peak Python memory of writing the HTML
report (tracemalloc, measured in a second pass so it does not slow the timed one).
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "report"))

from report_factory import RULES, build_result, trend  # noqa: E402

from auditor.report import REPORTERS, ReportContext  # noqa: E402
from auditor.report.jsonout import InventoryReporter  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    tenants = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else Path("/tmp/report-bench")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = build_result(n, tenants=tenants)
    context = ReportContext(trend=trend(90), rules=RULES)
    print(f"built {len(result.findings):,} findings over {tenants:,} tenants "
          f"in {time.perf_counter() - t0:.1f} s")
    print(f"{'format':<10} {'file':<22} {'wall s':>8} {'CPU s':>7} {'size MB':>9}")
    reporters = [*REPORTERS.values(), InventoryReporter()]
    for reporter in reporters:
        path = out / reporter.filename
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        reporter.write(result, path, context)
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"{reporter.name:<10} {reporter.filename:<22} {took:>8.2f} {cpu:>7.2f} "
              f"{path.stat().st_size / 1e6:>9.1f}")
    gc.collect()
    tracemalloc.start()
    REPORTERS["html"].write(result, out / "report.html", context)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"html peak Python memory while writing: {peak / 1e6:.0f} MB")
    print(f"report: {out / 'report.html'}")


if __name__ == "__main__":
    main()
