"""The sandbox (emulated X and minter) as the tests use it: one process per test
session, reset before each test, with Django's settings pointing at it.

    from tests.sandbox_fixtures import sandbox, sandbox_server  # (in conftest.py)

    def test_something(sandbox):
        sandbox.fault("POST /minter/mint", hang=2, when="after")
        ...
        assert len(sandbox.mints()) == 1
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.testing import Sandbox, SandboxProcess


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
    settings.X_BEARER_TOKEN = handle.app_bearer_token
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
