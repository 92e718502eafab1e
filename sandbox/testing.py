"""Run the sandbox as a real process for tests, and drive it over HTTP.

    from sandbox.testing import sandbox, sandbox_server  # noqa: F401  (in conftest.py)

    def test_something(sandbox):
        sandbox.fault("POST /minter/mint", hang=2, when="after")
        ...
        assert len(sandbox.mints()) == 1

`sandbox_server` is one process per test session (so one per xdist worker); `sandbox`
resets its state before each test and points Django's X and minter settings at it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from blockster.devstack import free_port

BASE_DIR = Path(__file__).resolve().parent.parent

CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"
MINTER_SECRET = "sandbox-minter-secret"
# Django's test client serves the site as http://testserver.
CALLBACK_URL = "http://testserver/auth/x/callback"
SCOPES = ("tweet.read", "tweet.write", "users.read", "like.write", "offline.access")


class SandboxProcess:
    """`manage.py run_sandbox` on a free loopback port, with its own state file."""

    def __init__(
        self,
        *,
        state_file: Path | None = None,
        port: int | None = None,
        args: Sequence[str] = (),
        log_file: Path | None = None,
    ) -> None:
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if state_file is None or log_file is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="sandbox-")
            directory = Path(self._tempdir.name)
            state_file = state_file or directory / "state.json"
            log_file = log_file or directory / "sandbox.log"
        self.state_file = state_file
        self.log_file = log_file
        self.port = port or free_port()
        self.args = list(args)
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, str(BASE_DIR / "manage.py"), "run_sandbox",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--state-file", str(self.state_file),
            "--client-id", CLIENT_ID,
            "--client-secret", CLIENT_SECRET,
            "--minter-secret", MINTER_SECRET,
            "--callback-url", CALLBACK_URL,
            *self.args,
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> SandboxProcess:
        # The sandbox app is installed only with DEBUG on.
        env = {**os.environ, "DEBUG": "1"}
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(  # noqa: S603
                self.command(), cwd=BASE_DIR, env=env, stdout=log, stderr=log
            )
        self._wait_until_ready(timeout)
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"the sandbox exited with {self._process.returncode}:\n"
                    + self.log_file.read_text()[-3000:]
                )
            try:
                if httpx.get(f"{self.url}/_control/ping", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the sandbox did not start within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the sandbox saves its state), then wait; kill if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL: no chance to save, as after a crash."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def cleanup(self) -> None:
        self.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Sandbox:
    """A handle on a running sandbox: its URLs, credentials and control helpers."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.authorize_url = f"{self.url}/i/oauth2/authorize"
        self.api_base = f"{self.url}/2"
        self.token_url = f"{self.api_base}/oauth2/token"
        self.revoke_url = f"{self.api_base}/oauth2/revoke"
        self.minter_url = f"{self.url}/minter"
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.callback_url = CALLBACK_URL
        self.minter_secret = MINTER_SECRET
        self.http = httpx.Client(base_url=self.url, timeout=10)

    # --- control API ------------------------------------------------------------------

    def _control(self, method: str, path: str, json: Any = None) -> Any:
        response = self.http.request(method, f"/_control{path}", json=json)
        if response.status_code >= 400:
            raise AssertionError(
                f"sandbox control {method} {path}: "
                f"{response.status_code} {response.text}"
            )
        return response.json()

    def reset(self) -> None:
        self._control("POST", "/reset")

    def state(self) -> dict[str, Any]:
        return self._control("GET", "/state")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change runtime settings: plan, rate_profile, access_token_ttl, code_ttl,
        callback_urls, rate_window, rate_limits."""
        return self._control("POST", "/config", settings)

    def ignore_idempotency_keys(self, ignore: bool = True) -> None:
        """Make the minter mint on every accepted request, as the real one does
        (`ignore=False`: a repeated Idempotency-Key gets the first answer)."""
        self.configure(minter_ignores_idempotency_key=ignore)

    def mint_requests(self) -> int:
        """How many `POST /minter/mint` requests the minter has handled since the
        last reset, whatever it answered (a request still held by a `hang` fault
        counts once it ends)."""
        totals = self.requests(limit=0)["by_route"]
        return int(totals.get("POST /minter/mint", {}).get("requests", 0))

    def set_plan(self, plan: str) -> None:
        self.configure(plan=plan)

    def set_rate_profile(
        self,
        profile: str,
        *,
        window: float | None = None,
        limits: dict[str, int] | None = None,
    ) -> None:
        """`limits` maps endpoints (`retweet`, `like`, `users_me`, ...) to a count."""
        self.configure(
            rate_profile=profile,
            rate_window=window,
            rate_limits={k: {"limit": v} for k, v in (limits or {}).items()},
        )

    def reset_rate_limits(self) -> None:
        self._control("POST", "/rate-limits/reset")

    def fault(
        self,
        route: str,
        *,
        status: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        hang: float | None = None,
        drop: bool = False,
        when: str | None = None,
        times: int | None = 1,
    ) -> dict[str, Any]:
        """Make the next `times` calls of `route` ("POST /minter/mint") misbehave.

        `status=503` answers that status (X's or the minter's body unless `body` is
        given); `hang=S` holds the request S seconds; `drop=True` cuts the answer
        after its headers. `when="before"|"after"` the route's action; see
        sandbox/faults.py. `times=None` lasts until `clear_faults()`.
        """
        kind = "drop" if drop else "hang" if hang is not None else "status"
        spec: dict[str, Any] = {"route": route, "kind": kind, "times": times}
        optional = {
            "status": status,
            "body": body,
            "headers": headers,
            "seconds": hang,
            "when": when,
        }
        spec.update({k: v for k, v in optional.items() if v is not None})
        return self._control("POST", "/faults", spec)

    def clear_faults(self) -> None:
        self._control("DELETE", "/faults")

    def create_tweet(
        self, text: str = "", *, author: str = "blockster", **fields: Any
    ) -> dict[str, Any]:
        """A new post (by the publisher unless `author` says otherwise); returns
        `{id, author_id, text, created_at, public_metrics, url, ...}`."""
        return self._control(
            "POST", "/tweets", {"text": text, "author": author, **fields}
        )

    def create_account(self, key: str, **fields: Any) -> dict[str, Any]:
        return self._control("POST", "/accounts", {"key": key, **fields})

    def update_account(self, ref: str, **fields: Any) -> dict[str, Any]:
        return self._control("PATCH", f"/accounts/{ref}", fields)

    def expire_tokens(self, account: str | None = None, *, kind: str = "access") -> int:
        body = {"kind": kind, **({"account": account} if account else {})}
        return self._control("POST", "/tokens/expire", body)["expired"]

    def revoke_tokens(self, account: str | None = None, *, kind: str = "all") -> int:
        body = {"kind": kind, **({"account": account} if account else {})}
        return self._control("POST", "/tokens/revoke", body)["revoked"]

    def advance_clock(self, seconds: float) -> None:
        self._control("POST", "/clock", {"seconds": seconds})

    def account(self, key: str) -> dict[str, Any]:
        accounts = self._control("GET", "/accounts")
        return next(a for a in accounts if key in (a["key"], a["id"]))

    def tokens(self) -> list[dict[str, Any]]:
        return self._control("GET", "/tokens")

    def retweets(self) -> list[dict[str, Any]]:
        return self._control("GET", "/retweets")

    def likes(self) -> list[dict[str, Any]]:
        return self._control("GET", "/likes")

    def mints(self) -> list[dict[str, Any]]:
        return self._control("GET", "/mints")

    def balances(self) -> dict[str, dict[str, str]]:
        return self._control("GET", "/balances")

    def requests(self, limit: int | None = None) -> dict[str, Any]:
        """`{total_requests, total_cost_usd, by_route, log}`."""
        suffix = f"?limit={limit}" if limit is not None else ""
        return self._control("GET", f"/requests{suffix}")

    # --- OAuth as a user would do it --------------------------------------------------

    def authorize(
        self, authorize_url: str, *, account: str = "reader", cancel: bool = False
    ) -> str:
        """Open the consent page at `authorize_url`, pick `account`, press Authorize
        (or Cancel); return the redirect Location (`...?state=...&code=...`)."""
        page = self.http.get(authorize_url)
        if page.status_code != 200:
            raise AssertionError(f"consent page: {page.status_code} {page.text[:500]}")
        form = dict(parse_qsl(urlsplit(authorize_url).query, keep_blank_values=True))
        form.update(account=account, decision="cancel" if cancel else "authorize")
        answer = self.http.post("/i/oauth2/authorize", data=form)
        if answer.status_code != 302:
            raise AssertionError(f"consent: {answer.status_code} {answer.text[:500]}")
        return answer.headers["location"]

    def connect(
        self, account: str = "reader", *, scopes: Sequence[str] = SCOPES
    ) -> dict[str, Any]:
        """The whole flow for `account`; returns X's token response
        (`access_token`, `refresh_token`, `expires_in`, `scope`, `token_type`)."""
        verifier, challenge = pkce_pair()
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.callback_url,
            "scope": " ".join(scopes),
            "state": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        url = str(httpx.URL(self.authorize_url, params=query))
        location = self.authorize(url, account=account)
        code = dict(parse_qsl(urlsplit(location).query))["code"]
        response = self.http.post(
            self.token_url,
            data={
                "code": code,
                "grant_type": "authorization_code",
                "redirect_uri": self.callback_url,
                "code_verifier": verifier,
            },
            auth=(self.client_id, self.client_secret),
        )
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxProcess]:
    """One sandbox process for the session (each xdist worker gets its own)."""
    # Production's minter: every accepted request mints (see the `sandbox` fixture).
    process = SandboxProcess(args=["--quiet", "--minter-ignores-idempotency-key"])
    process.start()
    try:
        yield process
    finally:
        process.cleanup()


@pytest.fixture
def sandbox(sandbox_server: SandboxProcess, settings: Any) -> Iterator[Sandbox]:
    """The running sandbox, freshly reset, with Django's settings pointing at it.

    Its minter ignores Idempotency-Key, as production's does, and the app is told so
    (`BUX_MINTER_IDEMPOTENT` off): a second mint request for one reward shows as a
    second mint. `idempotent_minter` switches both for a test.
    """
    handle = Sandbox(sandbox_server.url)
    handle.reset()
    settings.X_AUTHORIZE_URL = handle.authorize_url
    settings.X_API_BASE = handle.api_base
    settings.X_CLIENT_ID = handle.client_id
    settings.X_CLIENT_SECRET = handle.client_secret
    settings.X_CALLBACK_URL = handle.callback_url
    settings.BUX_MINTER_URL = handle.minter_url
    settings.BUX_MINTER_SECRET = handle.minter_secret
    settings.BUX_MINTER_IDEMPOTENT = False
    # Profile pictures come from the sandbox, as from X's image host in production.
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    settings.CONTENT_SECURITY_POLICY = {
        **settings.CONTENT_SECURITY_POLICY,
        "DIRECTIVES": {
            **directives,
            "img-src": [
                handle.url if source == settings.X_PROFILE_IMAGE_ORIGIN else source
                for source in directives["img-src"]
            ],
        },
    }
    settings.X_PROFILE_IMAGE_ORIGIN = handle.url
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture
def idempotent_minter(sandbox: Sandbox, settings: Any) -> Sandbox:
    """The sandbox minter honouring Idempotency-Key, and the app relying on it."""
    sandbox.ignore_idempotency_keys(False)
    settings.BUX_MINTER_IDEMPOTENT = True
    return sandbox
