"""The settings page shows the wallet's BUX balance from the minter's
`GET /balance/:address` (the sandbox's over real HTTP), cached for a minute; a minter
that does not answer makes it say "Balance unavailable", never an error page."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from rewards.minter import MinterClient
from sandbox.testing import Sandbox, SandboxProcess

BALANCE_ROUTE = "GET /minter/balance/:address"
UNAVAILABLE = "Balance unavailable: the BUX minter is not answering right now."


def mint_to(wallet: str, amount: int) -> None:
    """BUX minted to the wallet through the product's own minter client."""
    MinterClient.from_settings().mint(
        wallet_address=wallet,
        amount=Decimal(amount),
        user_id=1,
        post_id=1,
        idempotency_key=f"test-{wallet}-{amount}",
    )


def balance_requests(sandbox: Sandbox) -> int:
    totals = sandbox.requests(limit=0)["by_route"]
    return int(totals.get(BALANCE_ROUTE, {}).get("requests", 0))


@pytest.fixture
def reader_client(client, reader):
    client.force_login(reader)
    return client


def test_the_settings_page_shows_the_wallets_balance(
    sandbox, reader, reader_client, page_text
):
    mint_to(reader.wallet_address, 250)
    mint_to(reader.wallet_address, 1000)

    response = reader_client.get("/settings/")

    assert response.status_code == 200
    text = page_text(response)
    assert "BUX balance 1,250 BUX" in text
    assert f"In {reader.wallet_address} , as the BUX minter reads it on chain" in text
    assert "Balance unavailable" not in text


def test_a_new_wallet_shows_a_zero_balance(sandbox, reader_client, page_text):
    assert "BUX balance 0 BUX" in page_text(reader_client.get("/settings/"))


def test_the_balance_is_read_from_the_minter_once_a_minute(
    sandbox, reader, reader_client, page_text
):
    mint_to(reader.wallet_address, 250)
    first = reader_client.get("/settings/")
    mint_to(reader.wallet_address, 100)
    sandbox.fault(BALANCE_ROUTE, status=500)

    second = reader_client.get("/settings/")

    assert "250 BUX" in page_text(first)
    # From the cache: the new mint shows within the minute, the minter was asked once.
    assert "250 BUX" in page_text(second)
    assert balance_requests(sandbox) == 1


def test_a_reader_without_a_wallet_is_told_how_to_add_one(
    sandbox, owner, client, page_text
):
    client.force_login(owner)

    text = page_text(client.get("/settings/"))

    assert "No wallet yet. Add your wallet address above and save" in text
    assert "Balance unavailable" not in text
    assert balance_requests(sandbox) == 0


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"status": 503},
        # A proxy's HTML error page in front of the minter.
        {"status": 502},
        {"status": 404, "body": "<html><body>Not Found</body></html>"},
        {"status": 200, "body": "<html><body>maintenance</body></html>"},
        {"status": 200, "body": {"address": "0x0", "balance": "lots"}},
        {"status": 200, "body": {"address": "0x0", "balance": "-5.0"}},
        {"status": 200, "body": {"address": "0x0", "balance": 250}},
        {"status": 200, "body": {"address": "0x0"}},
        {"status": 200, "body": ["250.0"]},
        {"drop": True},
        {"hang": 3},
    ],
    ids=lambda fault: ":".join(f"{k}={v}"[:30] for k, v in fault.items()),
)
def test_a_minter_without_a_balance_makes_the_page_say_unavailable(
    sandbox, reader, reader_client, settings, page_text, fault
):
    settings.BUX_MINTER_BALANCE_TIMEOUT = 0.5
    mint_to(reader.wallet_address, 250)
    sandbox.fault(BALANCE_ROUTE, **fault)

    response = reader_client.get("/settings/")

    assert response.status_code == 200
    text = page_text(response)
    assert UNAVAILABLE in text
    assert "250 BUX" not in text
    # The rest of the page works as always.
    assert "Wallet address" in text and "X account" in text


def test_an_unavailable_balance_is_asked_for_again_on_the_next_visit(
    sandbox, reader, reader_client, page_text
):
    mint_to(reader.wallet_address, 250)
    sandbox.fault(BALANCE_ROUTE, status=500)

    during = reader_client.get("/settings/")
    after = reader_client.get("/settings/")

    assert UNAVAILABLE in page_text(during)
    assert "250 BUX" in page_text(after)


def test_a_stopped_minter_makes_the_page_say_unavailable(
    db, client, reader, other_user, settings, page_text
):
    other_user.wallet_address = "0x" + "ab" * 20
    other_user.save()
    with SandboxProcess(args=["--quiet"]) as process:
        minter = Sandbox(process.url)
        settings.BUX_MINTER_URL = minter.minter_url
        settings.BUX_MINTER_SECRET = minter.minter_secret
        mint_to(reader.wallet_address, 250)
        client.force_login(reader)
        before = client.get("/settings/")
        minter.close()
        process.stop()

        readers_page = client.get("/settings/")
        client.force_login(other_user)
        others_page = client.get("/settings/")

    assert "250 BUX" in page_text(before)
    # Read a moment ago: still shown from the cache.
    assert "250 BUX" in page_text(readers_page)
    assert others_page.status_code == 200
    assert UNAVAILABLE in page_text(others_page)


def test_the_balance_shows_while_the_cache_is_down(
    owned_redis, sandbox, reader, client, page_text
):
    mint_to(reader.wallet_address, 250)
    client.force_login(reader)

    with owned_redis.down():
        first = client.get("/settings/")
        second = client.get("/settings/")

    assert first.status_code == 200
    assert "250 BUX" in page_text(first)
    assert "250 BUX" in page_text(second)
    # No cache: the minter is asked on every visit.
    assert balance_requests(sandbox) == 2


def test_a_refused_secret_is_logged_without_the_secret(
    sandbox, reader, reader_client, settings, page_text, caplog
):
    settings.BUX_MINTER_SECRET = "not-the-minters-secret"

    with caplog.at_level(logging.WARNING, logger="rewards"):
        response = reader_client.get("/settings/")

    assert UNAVAILABLE in page_text(response)
    assert "minter answered 403: Invalid API secret" in caplog.text
    assert "not-the-minters-secret" not in caplog.text
    assert reader.wallet_address not in caplog.text
