"""`python -m bench.compare` over the files `bench.run_all` writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import ROOT
from bench.results import count, higher, lower, read_run, run_info, write_run
from bench.run_all import parse_result
from sandbox.testing import Sandbox
from tests.bench.test_sandbox_bench import tiny_run


def _compare(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench.compare", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def _rows(output: str) -> dict[str, list[str]]:
    """The compare tables' rows by figure: old, new, new/old, better when, verdict."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 6:
            rows[cells[0]] = cells[1:]
    return rows


def _feed(median_ms: float, speed_up: float, samples: int) -> dict[str, object]:
    """A result as the feed benchmark reports it (`bench.common.report`)."""
    return {
        "benchmark": "feed",
        "goal": 3.0,
        "goal_text": "Redis >= 3x faster than the ORM (median)",
        "goal_figure": "speed-up median",
        "ok": speed_up >= 3.0,
        "parameters": {"reads": 1000},
        "figures": {
            "redis page median": lower(median_ms, "ms"),
            "speed-up median": higher(speed_up, "x"),
            "redis page n": count(samples),
        },
    }


def _run(directory: Path, *results: dict[str, object]) -> Path:
    _, latest = write_run(run_info(quick=True, args=["--quick"]), results, directory)
    return latest


def test_compare_says_which_figures_got_better_or_worse(tmp_path):
    old = _run(tmp_path / "old", _feed(median_ms=0.40, speed_up=3.3, samples=1000))
    crashed = parse_result("share", "Traceback (most recent call last): ...", 3)
    new = _run(
        tmp_path / "new", _feed(median_ms=0.20, speed_up=3.2, samples=900), crashed
    )

    done = _compare(old, new)

    assert done.returncode == 0, done.stderr
    rows = _rows(done.stdout)
    # Half the time: lower is better.
    assert rows["redis page median (ms)"] == ["0.4", "0.2", "0.50", "lower", "better"]
    # 3% down is within the default 5% tolerance; with none, it is worse.
    assert rows["speed-up median (x)"] == ["3.30", "3.20", "0.97", "higher", "same"]
    assert rows["redis page n"] == ["1,000", "900", "0.90", "-", ""]
    strict = _rows(_compare(old, new, "--tolerance", "0").stdout)
    assert strict["speed-up median (x)"][-1] == "worse"
    assert "feed: goal Redis >= 3x faster than the ORM (median); met: yes -> yes" in (
        done.stdout
    )
    # A benchmark that crashed in the new run is named, with how it ended.
    assert "share: goal -; met: not run -> error (exit 3, no result line)" in (
        done.stdout
    )


def test_compare_turns_a_faster_run_into_better_throughput(tmp_path):
    old = _run(tmp_path / "old", _feed(median_ms=0.40, speed_up=2.0, samples=1000))
    new = _run(tmp_path / "new", _feed(median_ms=0.80, speed_up=4.0, samples=1000))

    done = _compare(old, new)

    rows = _rows(done.stdout)
    assert rows["speed-up median (x)"] == ["2", "4", "2.00", "higher", "better"]
    assert rows["redis page median (ms)"][2:] == ["2.00", "lower", "worse"]
    assert "met: no -> yes" in done.stdout
    assert "goals met: old 0 of 1, new 1 of 1; figures better 1, worse 1" in (
        done.stdout
    )


def test_run_all_writes_latest_and_a_timestamped_copy(tmp_path):
    stamped, latest = write_run(
        run_info(quick=False, args=[]),
        [_feed(median_ms=0.4, speed_up=3.3, samples=10)],
        tmp_path,
    )

    assert latest == tmp_path / "latest.json"
    assert stamped.parent == tmp_path
    assert stamped.read_text() == latest.read_text()
    document = read_run(latest)
    assert document["run"]["cores"] >= 1
    assert document["run"]["quick"] is False
    assert document["benchmarks"]["feed"]["met"] is True
    assert document["benchmarks"]["feed"]["goal"]["figure"] == "speed-up median"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        ("{", "not JSON"),
        ("[1, 2]", "not a bench results file"),
        ('{"schema": 99, "benchmarks": {}, "run": {}}', "results schema 99"),
        (
            '{"schema": 1, "run": {}, "benchmarks": {"feed": {"figures": '
            '{"median": {"value": "fast", "unit": "ms", "better": "lower"}}}}}',
            "feed / median is not a figure",
        ),
    ],
)
def test_compare_explains_a_missing_or_bad_file_in_one_line(tmp_path, content, reason):
    good = _run(tmp_path / "good", _feed(median_ms=0.4, speed_up=3.3, samples=10))
    bad = tmp_path / "old.json"
    if content is not None:
        bad.write_text(content)

    done = _compare(bad, good)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"bench.compare: {bad}: {reason}")
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_a_real_benchmarks_figures_reach_compare(sandbox: Sandbox, tmp_path):
    """bench.sandbox, briefly, against the test sandbox: its result line goes
    through run_all's reader and writer, and compare reads the file."""
    _, result = tiny_run(sandbox)
    latest = _run(tmp_path, result)

    compared = _compare(latest, latest)

    assert compared.returncode == 0, compared.stderr
    rows = _rows(compared.stdout)
    assert rows["throughput (requests/s)"][2:] == ["1.00", "higher", "same"]
    assert rows["latency p95 (ms)"][3] == "lower"
    assert json.loads(latest.read_text())["benchmarks"]["sandbox"]["goal"]["text"]
