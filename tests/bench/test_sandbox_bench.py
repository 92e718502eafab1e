"""bench.sandbox: its baseline is served as the sandbox is, and a tiny run reports
the ratio with both sides' figures (no timing is judged here)."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import uvicorn

import sandbox.__main__ as sandbox_main
from bench import sandbox as bench_sandbox
from bench.common import ROOT
from bench.run_all import parse_result
from sandbox.testing import Sandbox


def test_the_baseline_runs_with_the_sandboxs_uvicorn_options(monkeypatch):
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    monkeypatch.setattr(sandbox_main, "create_app", lambda config: object())
    monkeypatch.setattr(logging, "basicConfig", lambda **options: None)

    sandbox_main.main(
        [
            "--port=8123",
            "--client-id=id",
            "--client-secret=secret",
            "--minter-secret=minter",
            "--callback-url=http://testserver/auth/x/callback",
        ]
    )
    bench_sandbox.serve_baseline(8124)

    served, baseline = calls
    assert (served.pop("port"), baseline.pop("port")) == (8123, 8124)
    assert served == baseline


def tiny_run(sandbox: Sandbox) -> tuple[subprocess.CompletedProcess[str], Any]:
    """bench.sandbox for a fraction of a second against the test sandbox: the
    finished process and the result line as run_all reads it."""
    done = subprocess.run(  # noqa: S603 - our own module
        [
            sys.executable,
            "-m",
            "bench.sandbox",
            f"--url={sandbox.url}",
            f"--client-id={sandbox.client_id}",
            f"--client-secret={sandbox.client_secret}",
            "--rounds=2",
            "--seconds=0.2",
            "--processes=1",
            "--tasks=1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # Exit 1 is a missed goal; what matters here is the result's shape.
    assert done.returncode in (0, 1), done.stderr
    result = parse_result("sandbox", done.stdout, done.returncode)
    assert "error" not in result
    return done, result


def test_a_tiny_run_reports_the_ratio_and_both_sides(sandbox: Sandbox):
    done, result = tiny_run(sandbox)

    assert result["goal"] == bench_sandbox.GOAL
    assert result["goal_figure"] == "sandbox / baseline"
    figures = result["figures"]
    for name in ("throughput", "baseline throughput", "sandbox / baseline"):
        assert figures[name]["better"] == "higher"
        assert figures[name]["value"] > 0
    assert figures["failed"]["value"] == figures["baseline failed"]["value"] == 0
    assert result["subject"]["n"] > 0
    assert result["baseline"]["n"] > 0
    assert result["parameters"]["rounds"] == 2
    assert "on a quiet machine" in done.stdout
