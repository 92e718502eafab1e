"""The results file: what `bench.run_all` writes and `bench.compare` reads.

A benchmark's result (the line `bench.common.report` prints) carries its `figures`:
every number it measured, each with its unit and whether lower or higher is better
(None for numbers that are neither, such as how many samples were taken), and the
`parameters` it ran with. A file holds one run, its benchmarks keyed by module name:

    {"schema": 1,
     "run": {"date": "2026-11-29T10:15:00Z", "finished", "cores", "load_start":
             [1m, 5m, 15m], "load_end", "commit", "dirty", "python", "quick",
             "args"},
     "benchmarks": {
       "feed": {"title": "feed",
                "figures": {"redis page median":
                            {"value": 0.41, "unit": "ms", "better": "lower"}, ...},
                "parameters": {"reads": 1000, ...},
                "goal": {"text": "...", "figure": "speed-up (median)", "target": 3},
                "met": true, "error": null, "exit_code": 0, "seconds": 21.3,
                "load_start": [...], "load_end": [...]},
       ...}}

A value that could not be measured (no samples) is null.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypedDict

from bench.common import ROOT, cores

SCHEMA = 1
RESULTS_DIR = ROOT / ".data" / "bench"
LATEST = "latest.json"

Better = Literal["lower", "higher"] | None


class Figure(TypedDict):
    value: float | None
    unit: str
    better: Better


class Goal(TypedDict):
    text: str
    figure: str | None
    target: float | None


class Entry(TypedDict):
    title: str
    figures: dict[str, Figure]
    parameters: dict[str, Any]
    goal: Goal
    met: bool
    error: str | None
    exit_code: int | None
    seconds: float | None
    load_start: list[float] | None
    load_end: list[float] | None


class RunInfo(TypedDict):
    date: str
    finished: str | None
    cores: int
    load_start: list[float] | None
    load_end: list[float] | None
    commit: str | None
    dirty: bool | None
    python: str
    quick: bool
    args: list[str]


class ResultsFileError(Exception):
    """A results file that is missing or not one `bench.run_all` wrote."""


def _figure(value: float | None, unit: str, better: Better) -> Figure:
    if value is not None and not math.isfinite(value):
        value = None
    return {"value": value, "unit": unit, "better": better}


def lower(value: float | None, unit: str) -> Figure:
    return _figure(value, unit, "lower")


def higher(value: float | None, unit: str) -> Figure:
    return _figure(value, unit, "higher")


def count(value: float | None, unit: str = "") -> Figure:
    """A number that is neither better nor worse when it moves (samples, rows)."""
    return _figure(value, unit, None)


def timing(label: str, stats: Mapping[str, float]) -> dict[str, Figure]:
    """The figures of a `bench.common.summary_ms`: median, p95, p99 and n."""
    figures = {
        f"{label} {name}": lower(stats[name], "ms") for name in ("median", "p95", "p99")
    }
    figures[f"{label} n"] = count(stats["n"])
    return figures


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def run_info(*, quick: bool, args: list[str]) -> RunInfo:
    """The run's metadata, taken when it starts (`finish` adds the end)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": _now(),
        "finished": None,
        "cores": cores(),
        "load_start": load_average(),
        "load_end": None,
        "commit": _git("rev-parse", "HEAD"),
        "dirty": None if status is None else bool(status),
        "python": platform.python_version(),
        "quick": quick,
        "args": args,
    }


def entry(result: Mapping[str, Any]) -> Entry:
    """A benchmark's result (as it reported it, plus what run_all adds) in the
    file's shape."""
    return {
        "title": result["benchmark"],
        "figures": dict(result.get("figures", {})),
        "parameters": dict(result.get("parameters", {})),
        "goal": {
            "text": result.get("goal_text", ""),
            "figure": result.get("goal_figure"),
            "target": result.get("goal"),
        },
        "met": bool(result.get("ok")),
        "error": result.get("error"),
        "exit_code": result.get("exit_code"),
        "seconds": result.get("seconds"),
        "load_start": result.get("load_start"),
        "load_end": result.get("load_end"),
    }


def write_run(
    info: RunInfo, results: Sequence[Mapping[str, Any]], directory: Path = RESULTS_DIR
) -> tuple[Path, Path]:
    """Write the run as `<UTC start>.json` and `latest.json` in `directory`;
    returns both paths."""
    run: dict[str, Any] = {**info, "finished": _now()}
    if run["load_end"] is None:
        run["load_end"] = load_average()
    document = {
        "schema": SCHEMA,
        "run": run,
        "benchmarks": {
            result.get("script", result["benchmark"]): entry(result)
            for result in results
        },
    }
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    stamp = run["date"].replace("-", "").replace(":", "")
    stamped = directory / f"{stamp}.json"
    stamped.write_text(text)
    latest = directory / LATEST
    partial = directory / f".{LATEST}.tmp"
    partial.write_text(text)
    # A reader of latest.json never sees a half-written file.
    partial.replace(latest)
    return stamped, latest


def read_run(path: Path) -> dict[str, Any]:
    """A results file, checked enough that `bench.compare` can read every part it
    uses; raises ResultsFileError with a one-line reason."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ResultsFileError(f"{path}: is a directory, not a results file") from None
    except OSError as error:
        raise ResultsFileError(f"{path}: cannot read it ({error.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsFileError(f"{path}: not JSON ({error})") from None
    if not isinstance(document, dict) or "benchmarks" not in document:
        raise ResultsFileError(f"{path}: not a bench results file (no 'benchmarks')")
    if document.get("schema") != SCHEMA:
        raise ResultsFileError(
            f"{path}: results schema {document.get('schema')!r}, this compare reads "
            f"{SCHEMA}"
        )
    benchmarks = document["benchmarks"]
    if not isinstance(benchmarks, dict) or not all(
        isinstance(item, dict) and isinstance(item.get("figures"), dict)
        for item in benchmarks.values()
    ):
        raise ResultsFileError(f"{path}: a benchmark without its figures")
    for name, item in benchmarks.items():
        for figure, value in item["figures"].items():
            if not _is_figure(value):
                raise ResultsFileError(f"{path}: {name} / {figure} is not a figure")
        if not isinstance(item.get("goal", {}), dict) or not isinstance(
            item.get("parameters", {}), dict
        ):
            raise ResultsFileError(f"{path}: {name} has a malformed goal or parameters")
    run = document.get("run")
    if not isinstance(run, dict) or not all(
        _is_load(run.get(key)) for key in ("load_start", "load_end")
    ):
        raise ResultsFileError(f"{path}: no run metadata ('run')")
    return document


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_figure(value: object) -> bool:
    return (
        isinstance(value, dict)
        and value.get("better") in ("lower", "higher", None)
        and isinstance(value.get("unit"), str)
        and (value.get("value") is None or _is_number(value.get("value")))
    )


def _is_load(value: object) -> bool:
    return value is None or (
        isinstance(value, list) and bool(value) and all(map(_is_number, value))
    )
