"""`make test` finds Chromium as the journeys do, and says what to install when it
cannot install it itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import chromium

ROOT = Path(__file__).resolve().parent.parent


def fake_executable(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_chromium_variable_wins_over_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = fake_executable(tmp_path, "chromium")
    chosen = fake_executable(tmp_path, "my-chromium")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CHROMIUM", str(chosen))

    assert chromium.find_chromium() == str(chosen)
    monkeypatch.delenv("CHROMIUM")
    assert chromium.find_chromium() == str(on_path)


def test_chromium_browser_is_found_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = fake_executable(tmp_path, "chromium-browser")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CHROMIUM", raising=False)

    assert chromium.find_chromium() == str(found)


def run_ensure(tmp_path: Path, *, path: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "CHROMIUM"}
    environment.update(PATH=path, **env)
    return subprocess.run(
        [sys.executable, "-m", "tests.e2e.chromium"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_without_chromium_and_without_apt_it_names_the_package(tmp_path: Path) -> None:
    done = run_ensure(tmp_path, path=str(tmp_path))

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "install Debian's 'chromium' package" in lines[0]


def test_a_chromium_variable_that_is_not_executable_is_refused(tmp_path: Path) -> None:
    done = run_ensure(tmp_path, path=str(tmp_path), CHROMIUM=str(tmp_path / "nope"))

    assert done.returncode == 1
    assert "is not an executable" in done.stderr


def test_with_chromium_present_it_installs_nothing(tmp_path: Path) -> None:
    fake_executable(tmp_path, "chromium")

    done = run_ensure(tmp_path, path=str(tmp_path))

    assert done.returncode == 0
    assert done.stdout == done.stderr == ""
