"""How many simple API requests per second the sandbox serves.

    .venv/bin/python -m bench.sandbox            # 10 s, starts its own sandbox
    .venv/bin/python -m bench.sandbox --quick    # 3 s
    .venv/bin/python -m bench.sandbox --url http://127.0.0.1:8010   # make run's

Client processes (one per core by default), each running concurrent asyncio tasks
with httpx keep-alive connections, call `GET /2/users/me` with a real user token
(authentication, rate-limit bookkeeping, request log and JSON answer included) until
the time or the request budget runs out. Loopback only. Prints requests/s, latency
percentiles and the core count. The goal is at least 1,000 requests/s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from typing import Any

from bench.common import get_load, report
from bench.results import count, higher, lower
from sandbox.testing import Sandbox, SandboxProcess

GOAL = 1000


def _percentile(values: list[float], fraction: float) -> float:
    return values[min(int(len(values) * fraction), len(values) - 1)] * 1000


def measure(
    handle: Sandbox, *, processes: int, tasks: int, seconds: float, budget: int
) -> dict[str, Any]:
    url = handle.url
    # Whatever callback the running sandbox has registered.
    handle.callback_url = handle.configure()["callback_urls"][0]
    # Lift the per-user window (sandbox.ratelimit) so that every call is a 200.
    handle.configure(rate_limits={"users_me": {"limit": 100_000_000}})
    token = handle.connect("reader")["access_token"]
    handle.close()

    per_process = max(budget // processes, 1)
    started = time.perf_counter()
    me, auth = f"{url}/2/users/me", {"Authorization": f"Bearer {token}"}
    with multiprocessing.Pool(processes) as pool:
        results = pool.starmap(
            get_load, [(me, auth, {}, tasks, seconds, per_process)] * processes
        )
    elapsed = time.perf_counter() - started
    latencies = sorted(lat for lats, _, _ in results for lat in lats)
    errors = sum(e for _, e, _ in results)
    rate = len(latencies) / elapsed
    print(f"cores: {os.cpu_count()}  clients: {processes} processes x {tasks} tasks")
    print(f"requests: {len(latencies)} ok, {errors} failed, in {elapsed:.2f}s")
    print(f"throughput: {rate:,.0f} requests/s (goal >= {GOAL:,})")
    nan = float("nan")
    latency = {
        "median": _percentile(latencies, 0.50) if latencies else nan,
        "p95": _percentile(latencies, 0.95) if latencies else nan,
        "p99": _percentile(latencies, 0.99) if latencies else nan,
        "mean": statistics.fmean(latencies) * 1000 if latencies else nan,
    }
    if latencies:
        print(
            "latency ms: "
            f"p50 {latency['median']:.2f}  "
            f"p95 {latency['p95']:.2f}  "
            f"p99 {latency['p99']:.2f}  "
            f"mean {latency['mean']:.2f}"
        )
    return {
        "benchmark": "sandbox",
        "subject": {**latency, "rps": rate},
        "value": rate,
        "unit": "requests/s",
        "goal": GOAL,
        "goal_text": f">= {GOAL:,} requests/s, no errors",
        "goal_figure": "throughput",
        "ratio_to_goal": rate / GOAL,
        "ok": rate >= GOAL and not errors,
        "parameters": {"processes": processes, "tasks": tasks, "seconds": seconds},
        "figures": {
            "requests": count(len(latencies)),
            "failed": lower(errors, ""),
            "elapsed": count(elapsed, "s"),
            "throughput": higher(rate, "requests/s"),
            **{
                f"latency {name}": lower(value, "ms") for name, value in latency.items()
            },
        },
    }


def _registration(args: argparse.Namespace) -> dict[str, str]:
    """The app registered with a running sandbox: the flags' or, as `make run`
    registers it, the site's development registration."""
    if args.client_id:
        return {"client_id": args.client_id, "client_secret": args.client_secret or ""}
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blockster.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SANDBOX", "1")
    from django.conf import settings

    return {
        "client_id": settings.X_CLIENT_ID,
        "client_secret": settings.X_CLIENT_SECRET,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running sandbox (default: start one)")
    parser.add_argument(
        "--client-id",
        help="with --url: the app registered there (default: the site's development "
        "registration, as `make run` registers it)",
    )
    parser.add_argument("--client-secret", help="with --client-id")
    parser.add_argument("--quick", action="store_true", help="3 seconds")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tasks", type=int, default=4, help="per client process")
    parser.add_argument(
        "--quiet-server", action="store_true", help="no request log lines"
    )
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    options = {
        "processes": args.processes,
        "tasks": args.tasks,
        "seconds": seconds,
        "budget": args.max_requests,
    }
    if args.url:
        if not args.url.startswith(("http://127.0.0.1", "http://localhost")):
            parser.error("the benchmark only talks to loopback")
        result = measure(Sandbox(args.url, **_registration(args)), **options)
    else:
        server_args = ["--quiet"] if args.quiet_server else []
        with SandboxProcess(args=server_args) as process:
            result = measure(Sandbox(process.url), **options)
    report(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
