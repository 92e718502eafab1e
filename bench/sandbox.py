"""The sandbox's simple API requests per second, against a bare uvicorn endpoint.

    .venv/bin/python -m bench.sandbox            # 5 rounds of 3 s a side
    .venv/bin/python -m bench.sandbox --quick    # 3 rounds of 1 s a side
    .venv/bin/python -m bench.sandbox --url http://127.0.0.1:8010   # make run's

The subject is `GET /2/users/me` with a real user token on the sandbox as
`python -m sandbox` serves it (authentication, rate-limit bookkeeping, request log,
state file and JSON answer included; started here unless `--url` names a running
one). The baseline is a plain ASGI function answering a small JSON body, no
framework, served in its own process by uvicorn with the sandbox's settings (the
same `uvicorn.run` options: one worker, the same event loop and HTTP parser). Both
get the same load from the same client code: client processes (one per core by
default) of concurrent asyncio tasks on httpx keep-alive connections, loopback only,
alternating subject and baseline in short rounds so that both see the same machine.
Each server's CPU time is read from /proc around its rounds: its CPU per request, and
the sandbox's requests per core of its server against the baseline's, which the
clients' own CPU on the same cores does not blur as it does the rates.

Goal (issue 21): the sandbox serves at least 0.5 of the baseline's requests/s. Its
own requests/s is reported beside it, against 1,000 requests/s, a goal for a quiet
machine: on a shared one it moves with the other work, and only the ratio is judged.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import multiprocessing
import os
import sys
from typing import Any

import httpx
import uvicorn
from uvicorn.config import Config

from bench.common import ROOT, cores, format_ms, get_load, report, summary_ms
from bench.results import Figure, count, higher, load_average, lower
from devprocs import Process, free_port
from sandbox.testing import Sandbox, SandboxProcess

GOAL = 0.5  # issue 21: of the bare endpoint's requests/s
QUIET_MACHINE_GOAL = 1000  # requests/s, when nothing else runs on the machine
HOST = "127.0.0.1"
# About the size of the sandbox's answer to /2/users/me without user.fields.
BASELINE_BODY = b'{"data":{"id":"1","name":"Baseline","username":"baseline"}}'
BASELINE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BASELINE_BODY)).encode()),
]
SIDES = ("sandbox", "baseline")


async def baseline_app(scope: Any, receive: Any, send: Any) -> None:
    """The bare endpoint: every HTTP request gets the same small JSON body."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(
        {"type": "http.response.start", "status": 200, "headers": BASELINE_HEADERS}
    )
    await send({"type": "http.response.body", "body": BASELINE_BODY})


def serve_baseline(port: int) -> None:
    """The baseline on loopback, with the options `python -m sandbox` passes to
    `uvicorn.run` (tests/bench/test_sandbox_bench.py holds the two together)."""
    uvicorn.run(
        baseline_app,
        host=HOST,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )


def server_settings() -> dict[str, Any]:
    """What uvicorn's defaults resolve to in this environment: the worker count,
    event loop and HTTP parser both servers run with."""
    config = Config(baseline_app, log_config=None)
    config.load()
    factory = config.get_loop_factory()
    loop = factory() if factory else asyncio.new_event_loop()
    loop.close()
    return {
        "uvicorn": importlib.metadata.version("uvicorn"),
        "workers": config.workers,
        "loop": type(loop).__module__.split(".")[0],
        "http": config.http_protocol_class.__name__.removesuffix("Protocol").lower(),
    }


def start_baseline() -> tuple[Process, str]:
    port = free_port()
    command = [sys.executable, "-m", "bench.sandbox", "--serve-baseline", str(port)]
    server = Process("the baseline", command, cwd=ROOT).start()
    url = f"http://{HOST}:{port}/2/users/me"
    try:
        server.wait_ready(lambda: httpx.get(url, timeout=1).is_success, timeout=30)
    except Exception:
        server.stop()
        raise
    return server, url


def listening_pid(port: int) -> int | None:
    """The process listening on `port` (from Linux's /proc), for its CPU time; None
    where /proc does not tell."""
    sockets = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as rows:
                for row in list(rows)[1:]:
                    fields = row.split()
                    listening = fields[3] == "0A"
                    if listening and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        sockets.add(f"socket:[{fields[9]}]")
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    for pid in pids if sockets else []:
        try:
            links = [os.readlink(fd.path) for fd in os.scandir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if sockets.intersection(links):
            return int(pid)
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time a process has used so far."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _token(handle: Sandbox) -> str:
    # Whatever callback the running sandbox has registered.
    handle.callback_url = handle.configure()["callback_urls"][0]
    # Lift the per-user window (sandbox.ratelimit) so that every call is a 200.
    handle.configure(rate_limits={"users_me": {"limit": 100_000_000}})
    token: str = handle.connect("reader")["access_token"]
    handle.close()
    return token


def measure(
    handle: Sandbox,
    *,
    rounds: int,
    seconds: float,
    processes: int,
    tasks: int,
    budget: int,
) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {_token(handle)}"}
    # Each side's requests in all, spread over its rounds and client processes.
    per_process = max(budget // (rounds * processes), 1)
    server, baseline_url = start_baseline()
    urls = {"sandbox": f"{handle.url}/2/users/me", "baseline": baseline_url}
    pids = {name: listening_pid(httpx.URL(urls[name]).port or 80) for name in SIDES}
    sides: dict[str, dict[str, Any]] = {
        name: {"latencies": [], "errors": 0, "seconds": 0.0, "rounds": [], "cpu": 0.0}
        for name in SIDES
    }
    load_start = load_average()
    try:
        with multiprocessing.Pool(processes) as pool:
            # Warm both servers and the pool's processes before anything counts.
            for name in SIDES:
                pool.starmap(get_load, [(urls[name], auth, {}, tasks, 0.3, 10**6)])
            for n in range(rounds):
                for name in SIDES if n % 2 == 0 else SIDES[::-1]:
                    side = sides[name]
                    cpu_before = cpu_seconds(pids[name])
                    runs = pool.starmap(
                        get_load,
                        [(urls[name], auth, {}, tasks, seconds, per_process)]
                        * processes,
                    )
                    cpu_after = cpu_seconds(pids[name])
                    if cpu_before is None or cpu_after is None or side["cpu"] is None:
                        side["cpu"] = None
                    else:
                        side["cpu"] += cpu_after - cpu_before
                    served = sum(len(latencies) for latencies, _, _ in runs)
                    elapsed = max(elapsed for _, _, elapsed in runs)
                    for latencies, errors, _ in runs:
                        side["latencies"] += latencies
                        side["errors"] += errors
                    side["seconds"] += elapsed
                    side["rounds"].append(served / elapsed)
    finally:
        server.stop()
    return _result(
        sides,
        settings=server_settings(),
        load=(load_start, load_average()),
        parameters={
            "processes": processes,
            "tasks": tasks,
            "rounds": rounds,
            "seconds": seconds,
        },
    )


def _result(
    sides: dict[str, dict[str, Any]],
    *,
    settings: dict[str, Any],
    load: tuple[list[float] | None, list[float] | None],
    parameters: dict[str, Any],
) -> dict[str, Any]:
    rates = {
        name: len(side["latencies"]) / side["seconds"] for name, side in sides.items()
    }
    ratio = rates["sandbox"] / rates["baseline"]
    stats = {name: summary_ms(side["latencies"]) for name, side in sides.items()}
    errors = sum(side["errors"] for side in sides.values())
    cpu_ms = {
        name: None
        if side["cpu"] is None
        else side["cpu"] * 1000 / max(len(side["latencies"]) + side["errors"], 1)
        for name, side in sides.items()
    }
    served = (
        f"uvicorn {settings['uvicorn']}, {settings['workers']} worker, "
        f"loop {settings['loop']}, http {settings['http']}"
    )
    print(f"cores: {cores()}  both servers: {served}")
    print(
        f"clients: {parameters['processes']} processes x {parameters['tasks']} tasks, "
        f"{parameters['rounds']} rounds of {parameters['seconds']:g}s a side, "
        "alternating (short rounds: other work shares the machine)"
    )
    titles = {"sandbox": "sandbox GET /2/users/me", "baseline": "bare uvicorn endpoint"}
    for name, side in sides.items():
        print(
            f"{titles[name]}: {rates[name]:,.0f} requests/s, {side['errors']} errors, "
            f"{format_ms(stats[name])}"
        )
    by_round = [
        subject / baseline
        for subject, baseline in zip(
            sides["sandbox"]["rounds"], sides["baseline"]["rounds"], strict=True
        )
    ]
    print("sandbox / baseline by round: " + " ".join(f"{r:.2f}" for r in by_round))
    print(f"sandbox / baseline: {ratio:.2f} (goal >= {GOAL})")
    # Requests a core of the server can serve, the sandbox's against the baseline's:
    # the rates above also hold the clients' CPU, which bounds both on a few cores.
    capacity = None
    if cpu_ms["sandbox"] and cpu_ms["baseline"]:
        capacity = cpu_ms["baseline"] / cpu_ms["sandbox"]
        print(
            f"server CPU per request: sandbox {cpu_ms['sandbox']:.3f} ms, baseline "
            f"{cpu_ms['baseline']:.3f} ms: per core of its server, the sandbox serves "
            f"{capacity:.2f} of the baseline's requests (the rates above share the "
            "cores with the clients, whose CPU bounds the baseline's)"
        )
    loads = " -> ".join("?" if avg is None else f"{avg[0]:.1f}" for avg in load)
    print(
        f"sandbox alone: {rates['sandbox']:,.0f} requests/s (goal >= "
        f"{QUIET_MACHINE_GOAL:,} on a quiet machine, not judged here; "
        f"load average {loads})"
    )
    figures: dict[str, Figure] = {
        "sandbox / baseline": higher(ratio, ""),
        # The sandbox's figures keep the names earlier runs gave them.
        "throughput": higher(rates["sandbox"], "requests/s"),
        "requests": count(stats["sandbox"]["n"]),
        "failed": lower(sides["sandbox"]["errors"], ""),
        "elapsed": count(sides["sandbox"]["seconds"], "s"),
        **{
            f"latency {name}": lower(stats["sandbox"][name], "ms")
            for name in ("median", "p95", "p99")
        },
        "server cpu per request": lower(cpu_ms["sandbox"], "ms"),
        "baseline throughput": higher(rates["baseline"], "requests/s"),
        "baseline requests": count(stats["baseline"]["n"]),
        "baseline failed": lower(sides["baseline"]["errors"], ""),
        **{
            f"baseline latency {name}": lower(stats["baseline"][name], "ms")
            for name in ("median", "p95", "p99")
        },
        "baseline server cpu per request": lower(cpu_ms["baseline"], "ms"),
        "sandbox / baseline, per core of the server": higher(capacity, ""),
    }
    return {
        "benchmark": "sandbox",
        "subject": {**stats["sandbox"], "rps": rates["sandbox"]},
        "baseline": {**stats["baseline"], "rps": rates["baseline"]},
        "value": ratio,
        "unit": (
            f"of the baseline's requests/s ({rates['sandbox']:,.0f} vs "
            f"{rates['baseline']:,.0f})"
        ),
        "goal": GOAL,
        "goal_text": (
            f">= {GOAL:g} of a bare uvicorn endpoint's requests/s, no errors "
            f"(and >= {QUIET_MACHINE_GOAL:,} requests/s on a quiet machine, "
            "reported, not judged)"
        ),
        "goal_figure": "sandbox / baseline",
        "ratio_to_goal": ratio / GOAL,
        "quiet_machine_goal": QUIET_MACHINE_GOAL,
        "ok": ratio >= GOAL and not errors,
        "parameters": {**parameters, "server": served},
        "figures": figures,
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
    parser.add_argument("--quick", action="store_true", help="3 rounds of 1 s")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="per side a round")
    parser.add_argument(
        "--max-requests",
        type=int,
        default=200_000,
        help="per side, over all its rounds",
    )
    parser.add_argument("--processes", type=int, default=cores())
    parser.add_argument("--tasks", type=int, default=4, help="per client process")
    parser.add_argument(
        "--quiet-server", action="store_true", help="no request log lines"
    )
    parser.add_argument(
        "--serve-baseline",
        type=int,
        metavar="PORT",
        help="serve the bare endpoint on PORT and nothing else (the benchmark starts "
        "it so)",
    )
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return 0
    rounds, seconds = (3, 1.0) if args.quick else (args.rounds, args.seconds)
    options = {
        "rounds": rounds,
        "seconds": seconds,
        "processes": args.processes,
        "tasks": args.tasks,
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
