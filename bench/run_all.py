"""Run every benchmark, one after the other, and print one table.

    make bench                           # full runs (embedded services or the URLs)
    make bench BENCH_ARGS=--quick        # short runs
    .venv/bin/python -m bench.run_all --quick --only feed,backfill

Each benchmark runs alone in its own process (its own database and key prefix) with
the same `--quick`; `--full` goes to the backfill (1,000,000 rows). Exits 1 when a
goal is missed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import RESULT_MARK, ROOT, child_environment, cores
from bench.sandbox import GOAL as SANDBOX_GOAL

SCRIPTS = ("feed", "backfill", "post_page", "share", "sandbox")


def _sandbox_result(output: str) -> dict[str, Any]:
    """bench.sandbox prints text: read its throughput and latency lines."""
    rate = re.search(r"throughput: ([\d,]+) requests/s", output)
    latency = re.search(r"p50 ([\d.]+)\s+p95 ([\d.]+)\s+p99 ([\d.]+)", output)
    if not rate:
        return {"benchmark": "sandbox", "ok": False, "error": "no throughput line"}
    value = float(rate.group(1).replace(",", ""))
    median, p95, p99 = (float(x) for x in latency.groups()) if latency else (0, 0, 0)
    return {
        "benchmark": "sandbox",
        "subject": {"median": median, "p95": p95, "p99": p99, "rps": value},
        "value": value,
        "unit": "requests/s",
        "goal": SANDBOX_GOAL,
        "ratio_to_goal": value / SANDBOX_GOAL,
        "ok": value >= SANDBOX_GOAL,
        "cores": cores(),
    }


def run(name: str, args: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", f"bench.{name}", *args]
    print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own modules
        command, cwd=ROOT, capture_output=True, text=True, env=child_environment()
    )
    print(done.stdout, end="")
    if done.returncode not in (0, 1):
        print(done.stderr[-3000:], end="")
    result: dict[str, Any] | None = None
    if name == "sandbox":
        result = _sandbox_result(done.stdout)
    else:
        for line in done.stdout.splitlines():
            if line.startswith(RESULT_MARK):
                result = json.loads(line[len(RESULT_MARK) :])
    if result is None:
        result = {"benchmark": name, "ok": False, "error": f"exit {done.returncode}"}
    result["seconds"] = time.monotonic() - started
    return result


def _cell(stats: dict[str, Any] | None) -> str:
    if not stats or "p95" not in stats:
        return "-"
    return f"{stats['median']:.2f} / {stats['p95']:.2f} / {stats['p99']:.2f}"


def _value(result: dict[str, Any]) -> str:
    if "value" not in result:
        return result.get("error", "?")
    value = result["value"]
    text = f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
    return f"{text} {result['unit']}"


def table(results: list[dict[str, Any]]) -> str:
    header = (
        "| benchmark | result | goal | result/goal | subject ms median/p95/p99 "
        "| baseline ms median/p95/p99 | ok |"
    )
    lines = [header, "|---|---|---|---|---|---|---|"]
    for result in results:
        goal = result.get("goal", "-")
        ratio = result.get("ratio_to_goal")
        lines.append(
            f"| {result['benchmark']} | {_value(result)} | {goal:,} | "
            f"{'-' if ratio is None else f'{ratio:.2f}'} | "
            f"{_cell(result.get('subject'))} | {_cell(result.get('baseline'))} | "
            f"{'yes' if result.get('ok') else 'NO'} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--full", action="store_true", help="backfill 1,000,000")
    parser.add_argument("--only", help="comma-separated subset of " + ",".join(SCRIPTS))
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(SCRIPTS)
    results: list[dict[str, Any]] = []
    for name in names:
        script_args = ["--quick"] if args.quick else []
        if name == "backfill" and args.full:
            script_args = ["--full"]
        results.append(run(name, script_args))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n{when}, {cores()} cores, {'quick' if args.quick else 'full'}")
    print("(result/goal: for share, lower is better; for the others, higher)")
    print(table(results))
    return 0 if all(result.get("ok") for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
