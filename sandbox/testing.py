"""Run the sandbox as a real process, and drive it over HTTP: for tests, benchmarks
and the soak.

    with SandboxProcess() as process:
        handle = Sandbox(process.url)
        handle.fault("POST /minter/mint", hang=2, when="after")
        ...
        assert len(handle.mints()) == 1

The tests' fixtures (`sandbox`, `sandbox_server`) are in tests/sandbox_fixtures.py.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from devprocs import Process, free_port

BASE_DIR = Path(__file__).resolve().parent.parent

# The app registration and minter secret of every sandbox started here; whoever
# starts one points the app at these (the `sandbox` fixture, the soak, the
# benchmarks' settings). `make run`'s sandbox has the site's own (docs/sandbox.md).
CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret"
MINTER_SECRET = "test-minter-secret"
# The app-only Bearer token (X_BEARER_TOKEN) reads such as GET /2/tweets/:id accept.
APP_BEARER_TOKEN = "test-app-bearer-token"
# Django's test client serves the site as http://testserver.
CALLBACK_URL = "http://testserver/auth/x/callback"
SCOPES = (
    "tweet.read",
    "tweet.write",
    "users.read",
    "like.read",
    "like.write",
    "offline.access",
)


class SandboxProcess:
    """`python -m sandbox` on a free loopback port, with its own state file."""

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
        self._process: Process | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "sandbox",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--state-file", str(self.state_file),
            "--client-id", CLIENT_ID,
            "--callback-url", CALLBACK_URL,
            *self.args,
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> SandboxProcess:
        # Secrets in the environment: a command line is readable by every user.
        env = {
            **os.environ,
            "SANDBOX_CLIENT_SECRET": CLIENT_SECRET,
            "SANDBOX_MINTER_SECRET": MINTER_SECRET,
            "SANDBOX_APP_BEARER_TOKEN": APP_BEARER_TOKEN,
        }
        self._process = Process(
            "the sandbox", self.command(), log_path=self.log_file, env=env, cwd=BASE_DIR
        ).start()
        try:
            self._process.wait_ready(self._answers, timeout=timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        return httpx.get(f"{self.url}/_control/ping", timeout=1).status_code == 200

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the sandbox saves its state), then wait; kill if it lingers."""
        process, self._process = self._process, None
        if process is not None:
            process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to save, as after a crash."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()

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

    def __init__(
        self,
        url: str,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        callback_url: str = CALLBACK_URL,
        minter_secret: str = MINTER_SECRET,
        app_bearer_token: str = APP_BEARER_TOKEN,
    ) -> None:
        """The registration defaults to that of the processes started here."""
        self.url = url.rstrip("/")
        self.authorize_url = f"{self.url}/i/oauth2/authorize"
        self.api_base = f"{self.url}/2"
        self.token_url = f"{self.api_base}/oauth2/token"
        self.revoke_url = f"{self.api_base}/oauth2/revoke"
        self.minter_url = f"{self.url}/minter"
        self.client_id, self.client_secret = client_id, client_secret
        self.callback_url, self.minter_secret = callback_url, minter_secret
        self.app_bearer_token = app_bearer_token
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
        callback_urls, rate_window, rate_limits, timeline_lag_reads."""
        return self._control("POST", "/config", settings)

    def ignore_idempotency_keys(self, ignore: bool = True) -> None:
        """Make the minter mint on every accepted request, as the real one does
        (`ignore=False`: a repeated Idempotency-Key gets the first answer)."""
        self.configure(minter_ignores_idempotency_key=ignore)

    def set_timeline_lag(self, reads: int) -> None:
        """Leave each new retweet out of its author's next `reads` timeline reads,
        as X's timelines lag behind its writes."""
        self.configure(timeline_lag_reads=reads)

    def undo_retweet(self, account: str, tweet_id: str) -> bool:
        """`account` (a key or an id) takes back its retweet of `tweet_id`, as in
        X's app; False when there was none."""
        body = {"account": account, "tweet_id": tweet_id}
        return self._control("POST", "/retweets/undo", body)["undone"]

    def undo_like(self, account: str, tweet_id: str) -> bool:
        """`account` (a key or an id) takes back its like of `tweet_id`, as in X's
        app; False when there was none."""
        body = {"account": account, "tweet_id": tweet_id}
        return self._control("POST", "/likes/undo", body)["undone"]

    def undone_retweets(self) -> list[dict[str, Any]]:
        """Every retweet undone since the last reset: `{user_id, tweet_id,
        retweet_id, at}`."""
        return self._control("GET", "/undone_retweets")

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

    def pending_faults(self) -> list[dict[str, Any]]:
        """Faults injected that have not struck yet."""
        return self._control("GET", "/faults")

    def create_tweet(
        self, text: str = "", *, author: str = "blockster", **fields: Any
    ) -> dict[str, Any]:
        """A new post (by the publisher unless `author` says otherwise); returns
        `{id, author_id, text, created_at, public_metrics, url, ...}`."""
        return self._control(
            "POST", "/tweets", {"text": text, "author": author, **fields}
        )

    def delete_tweet(self, tweet_id: str) -> int:
        """The author deletes the post on X: lookups and retweets no longer find
        it, and its retweets leave every timeline, as on X; answers how many left
        (`removed_retweets()` lists them; they are no reader's undo)."""
        return self._control("DELETE", f"/tweets/{tweet_id}")["retweets_removed"]

    def removed_retweets(self) -> list[dict[str, Any]]:
        """Every retweet that left X with its deleted original since the last
        reset: `{user_id, tweet_id, retweet_id, at}`."""
        return self._control("GET", "/removed_retweets")

    def create_account(self, key: str, **fields: Any) -> dict[str, Any]:
        return self._control("POST", "/accounts", {"key": key, **fields})

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
