"""How the sandbox is started: `python -m sandbox` with the registration it is given,
and `manage.py run_sandbox` giving it the site's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from devprocs import Process, free_port
from sandbox.testing import Sandbox
from tests.production import production_environ

ROOT = Path(__file__).resolve().parents[2]
SITE = {
    "X_CLIENT_ID": "site-client-id",
    "X_CLIENT_SECRET": "site-client-secret",
    "X_BEARER_TOKEN": "site-app-bearer-token",
    "X_CALLBACK_URL": "http://testserver/auth/x/callback",
    "BUX_MINTER_SECRET": "site-minter-secret",
}


def _environment(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX")}
    return {**env, **changes}


def test_run_sandbox_registers_the_sites_settings(tmp_path):
    port = free_port()
    command = [
        sys.executable, "manage.py", "run_sandbox",
        "--port", str(port), "--state-file", "", "--quiet",
    ]  # fmt: skip
    server = Process(
        "run_sandbox",
        command,
        log_path=tmp_path / "sandbox.log",
        env=_environment(DEBUG="1", **SITE),
        cwd=ROOT,
    ).start()
    handle = Sandbox(
        f"http://127.0.0.1:{port}",
        client_id=SITE["X_CLIENT_ID"],
        client_secret=SITE["X_CLIENT_SECRET"],
        callback_url=SITE["X_CALLBACK_URL"],
        minter_secret=SITE["BUX_MINTER_SECRET"],
        app_bearer_token=SITE["X_BEARER_TOKEN"],
    )
    try:
        server.wait_ready(lambda: handle.state() is not None, timeout=30)
        assert server.popen is not None
        command_line = Path(f"/proc/{server.popen.pid}/cmdline").read_bytes()

        tokens = handle.connect("reader")
        minted = httpx.post(
            f"{handle.minter_url}/mint",
            json={"walletAddress": "0x" + "ab" * 20, "amount": 5},
            headers={"Authorization": f"Bearer {SITE['BUX_MINTER_SECRET']}"},
        )
        tweet = httpx.get(
            f"{handle.api_base}/tweets/1865000000000036000",
            headers={"Authorization": f"Bearer {SITE['X_BEARER_TOKEN']}"},
        )
    finally:
        handle.close()
        server.stop()

    assert tokens["access_token"]
    assert minted.status_code == 200
    assert tweet.json()["data"]["id"] == "1865000000000036000"
    # The command became the sandbox itself, so make run's SIGTERM reaches the server
    # (which saves its state); the secrets were never on its command line.
    assert b"-m\0sandbox\0" in command_line
    assert b"secret" not in command_line


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own commands
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_sandbox_refuses_with_debug_off():
    done = _run(["manage.py", "run_sandbox"], production_environ())

    assert done.returncode == 1
    assert "the sandbox is a development tool: set DEBUG=1" in done.stderr


def test_run_sandbox_names_the_settings_it_lacks():
    unset = dict.fromkeys(
        ("X_CLIENT_ID", "X_CLIENT_SECRET", "X_BEARER_TOKEN", "BUX_MINTER_SECRET"), ""
    )
    done = _run(
        ["manage.py", "run_sandbox"], _environment(DEBUG="1", SANDBOX="0", **unset)
    )

    assert done.returncode == 1
    assert (
        "X_CLIENT_ID, X_CLIENT_SECRET, X_BEARER_TOKEN, BUX_MINTER_SECRET not set"
        in done.stderr
    )
    assert "SANDBOX=1" in done.stderr


def test_the_sandbox_has_no_registration_of_its_own():
    done = _run(["-m", "sandbox"], _environment())

    assert done.returncode == 2
    for option in ("--client-id", "--client-secret", "--minter-secret"):
        assert option in done.stderr
    assert "manage.py run_sandbox" in done.stderr
