"""Run every benchmark, one after the other, and print one table.

    make bench                           # full runs (embedded services or the URLs)
    make bench BENCH_ARGS=--quick        # short runs
    .venv/bin/python -m bench.run_all --quick --only feed,backfill

Each benchmark runs alone in its own process (its own database and key prefix) with
the same `--quick`; `--full` goes to the backfill (1,000,000 rows). Exits 1 when a
goal is missed. The results also go to `.data/bench/latest.json` and a timestamped
copy (`bench.results`), which `python -m bench.compare OLD NEW` compares.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RESULT_MARK, ROOT, cores
from bench.results import RESULTS_DIR, load_average, run_info, write_run

SCRIPTS = ("feed", "backfill", "post_page", "share", "sandbox", "dashboard")


def parse_result(name: str, output: str, exit_code: int) -> dict[str, Any]:
    """The result line a benchmark printed (`bench.common.report`), or an error
    result when it printed none."""
    result: dict[str, Any] = {"benchmark": name, "ok": False}
    result["error"] = f"exit {exit_code}, no result line"
    for line in output.splitlines():
        if line.startswith(RESULT_MARK):
            try:
                result = json.loads(line[len(RESULT_MARK) :])
            except json.JSONDecodeError as error:
                result["error"] = f"exit {exit_code}, a bad result line ({error})"
    # The module's name keys the results file: stable even when the run failed.
    result.update(script=name, exit_code=exit_code)
    return result


def _exception(stderr: str) -> str:
    """The last exception line of a traceback (or the last line), shortened."""
    lines = stderr.strip().splitlines()
    found = [
        line for line in lines if re.match(r"[\w.]+(Error|Exception|Exit)\b", line)
    ]
    return (found or lines or [""])[-1][:200]


def run(name: str, args: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", f"bench.{name}", *args]
    print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    load_start = load_average()
    done = subprocess.run(  # noqa: S603 - our own modules
        command, cwd=ROOT, capture_output=True, text=True
    )
    print(done.stdout, end="")
    result = parse_result(name, done.stdout, done.returncode)
    # Exit 1 is a missed goal only when a result came with it; else it crashed.
    if done.returncode not in (0, 1) or "error" in result:
        print(done.stderr[-3000:], end="")
        if reason := _exception(done.stderr):
            result["error"] += f": {reason}"
    result["seconds"] = time.monotonic() - started
    result["load_start"], result["load_end"] = load_start, load_average()
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
        goal = result.get("goal")
        ratio = result.get("ratio_to_goal")
        lines.append(
            f"| {result['benchmark']} | {_value(result)} | "
            f"{'-' if goal is None else f'{goal:,}'} | "
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
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where latest.json and the timestamped copy go (default .data/bench)",
    )
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(SCRIPTS)
    unknown = [name for name in names if name not in SCRIPTS]
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)} (one of {', '.join(SCRIPTS)})")
    info = run_info(quick=args.quick, args=sys.argv[1:])
    results: list[dict[str, Any]] = []
    for name in names:
        script_args = ["--quick"] if args.quick else []
        if name == "backfill" and args.full:
            script_args = ["--full"]
        results.append(run(name, script_args))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n{when}, {cores()} cores, {'quick' if args.quick else 'full'}")
    print("(result/goal: share and dashboard, lower is better; the others, higher)")
    stamped, latest = write_run(info, results, args.results_dir)
    print(table(results))
    print(f"results: {latest} (and {stamped.name}); compare two runs with")
    print(f"  python -m bench.compare OLD.json {latest}")
    return 0 if all(result.get("ok") for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
