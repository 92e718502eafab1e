from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.testing import Sandbox


class Reader:
    """A sandbox account connected with the product's scopes, and an API client."""

    def __init__(self, handle: Sandbox, account: str) -> None:
        self.tokens: dict[str, Any] = handle.connect(account)
        self.id: str = handle.account(account)["id"]
        self.api = httpx.Client(
            base_url=handle.api_base,
            headers={"Authorization": f"Bearer {self.tokens['access_token']}"},
            timeout=10,
        )


@pytest.fixture
def reader(sandbox: Sandbox) -> Iterator[Reader]:  # noqa: F811
    user = Reader(sandbox, "reader")
    yield user
    user.api.close()


@pytest.fixture
def creator(sandbox: Sandbox) -> Iterator[Reader]:  # noqa: F811
    user = Reader(sandbox, "creator")
    yield user
    user.api.close()


@pytest.fixture
def campaign_tweet(sandbox: Sandbox) -> dict[str, Any]:  # noqa: F811
    return sandbox.create_tweet("Read the DeFi wallet guide on Blockster")
