"""Compare two benchmark runs: every figure, old and new, and the ratio new/old.

    .venv/bin/python -m bench.compare .data/bench/20261129T101500Z.json \\
        .data/bench/latest.json
    .venv/bin/python -m bench.compare OLD NEW --tolerance 10

Reads the files `bench.run_all` writes. For each benchmark: its goal and whether
each run met it, then one row a figure with old, new, new/old, whether lower or
higher is better, and the verdict: "better" or "worse" when the figure moved by
more than the tolerance (default 5%), "same" otherwise, and nothing for counts
that are neither better nor worse. Exits 2 when a file is missing or not a
results file.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.results import ResultsFileError, read_run

TOLERANCE_PERCENT = 5.0
HEADER = ("figure", "old", "new", "new/old", "better when", "verdict")


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def ratio(old: float | None, new: float | None) -> str:
    if old is None or new is None or old <= 0 or new < 0:
        return "-"
    return f"{new / old:.2f}"


def verdict(
    old: float | None, new: float | None, better: str | None, tolerance: float
) -> str:
    """better / worse / same for the figure's direction; "" when it has none."""
    if old is None or new is None:
        return ""
    change = new - old
    moved = abs(change) > tolerance * abs(old) if old else change != 0
    if not moved:
        return "same"
    if better is None:
        return ""
    improved = change < 0 if better == "lower" else change > 0
    return "better" if improved else "worse"


def rows(
    old: dict[str, Any], new: dict[str, Any], tolerance: float
) -> list[tuple[str, ...]]:
    """One row a figure of either run, in the new run's order, then any the
    new run no longer has."""
    names = list(new["figures"]) + [
        n for n in old["figures"] if n not in new["figures"]
    ]
    lines: list[tuple[str, ...]] = []
    for name in names:
        before, after = old["figures"].get(name), new["figures"].get(name)
        figure = after or before
        unit = f" ({figure['unit']})" if figure["unit"] else ""
        old_value = before["value"] if before else None
        new_value = after["value"] if after else None
        if before is None:
            judged = "only in new"
        elif after is None:
            judged = "only in old"
        else:
            judged = verdict(old_value, new_value, figure["better"], tolerance)
        lines.append(
            (
                name + unit,
                number(old_value),
                number(new_value),
                ratio(old_value, new_value),
                figure["better"] or "-",
                judged,
            )
        )
    return lines


def render(lines: list[tuple[str, ...]]) -> str:
    widths = [max(len(line[i]) for line in (HEADER, *lines)) for i in range(6)]
    left = (0, 4, 5)  # text columns; the numbers are right-aligned

    def row(cells: tuple[str, ...]) -> str:
        padded = (
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([row(HEADER), rule, *map(row, lines)])


def _met(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "not run"
    if entry.get("error"):
        error = entry["error"]
        return f"error ({error[:97] + '...' if len(error) > 100 else error})"
    return "yes" if entry.get("met") else "no"


def describe(run: dict[str, Any]) -> str:
    info = run["run"]
    commit = (info.get("commit") or "unknown commit")[:10]
    if info.get("dirty"):
        commit += " (with uncommitted changes)"
    loads = [info.get("load_start"), info.get("load_end")]
    load = " -> ".join(f"{value[0]:.2f}" if value else "?" for value in loads)
    return (
        f"{info.get('date', '?')}, {commit}, {info.get('cores', '?')} cores, "
        f"load {load}, Python {info.get('python', '?')}, "
        f"{'quick' if info.get('quick') else 'full'}"
    )


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What makes the two runs' figures less comparable."""
    notes = []
    for key in ("cores", "quick"):
        if old["run"].get(key) != new["run"].get(key):
            notes.append(f"{key}: {old['run'].get(key)} -> {new['run'].get(key)}")
    return notes


def section(
    name: str,
    old_entry: dict[str, Any] | None,
    new_entry: dict[str, Any] | None,
    tolerance: float,
) -> tuple[list[str], list[tuple[str, ...]]]:
    """One benchmark's heading and table, and its rows (for the totals)."""
    entry = new_entry or old_entry or {}
    goal = entry.get("goal", {}).get("text") or "-"
    out = [
        "",
        f"{entry.get('title', name)}: goal {goal}; "
        f"met: {_met(old_entry)} -> {_met(new_entry)}",
    ]
    old_parameters = (old_entry or {}).get("parameters", {})
    new_parameters = (new_entry or {}).get("parameters", {})
    if old_parameters and new_parameters and old_parameters != new_parameters:
        out.append(f"parameters: {old_parameters} -> {new_parameters}")
    empty: dict[str, Any] = {"figures": {}}
    lines = rows(old_entry or empty, new_entry or empty, tolerance)
    out.append(render(lines) if lines else "(no figures)")
    return out, lines


def compare(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> str:
    out = [f"old: {describe(old)}", f"new: {describe(new)}"]
    notes = differences(old, new)
    if notes:
        out.append("the runs differ in " + "; ".join(notes))
    out.append(
        f"verdict: better/worse when a figure moved by more than "
        f"{tolerance * 100:g}%, else same"
    )
    before, after = old["benchmarks"], new["benchmarks"]
    verdicts: Counter[str] = Counter()
    for name in list(after) + [n for n in before if n not in after]:
        text, lines = section(name, before.get(name), after.get(name), tolerance)
        out += text
        verdicts.update(line[-1] for line in lines)
    met = [sum(bool(e.get("met")) for e in run.values()) for run in (before, after)]
    out += [
        "",
        f"goals met: old {met[0]} of {len(before)}, new {met[1]} of {len(after)}; "
        f"figures better {verdicts['better']}, worse {verdicts['worse']}, "
        f"same {verdicts['same']}",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("old", type=Path, help="the earlier run's JSON")
    parser.add_argument("new", type=Path, help="the later run's JSON")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=TOLERANCE_PERCENT,
        metavar="PERCENT",
        help=f"a smaller move is 'same' (default {TOLERANCE_PERCENT:g})",
    )
    args = parser.parse_args(argv)
    try:
        old, new = read_run(args.old), read_run(args.new)
    except ResultsFileError as error:
        print(f"bench.compare: {error}", file=sys.stderr)
        return 2
    print(compare(old, new, args.tolerance / 100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
