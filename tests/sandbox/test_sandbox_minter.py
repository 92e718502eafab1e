from __future__ import annotations

import re

import httpx
import pytest

WALLET = "0x" + "a1" * 20


@pytest.fixture
def minter(sandbox):
    client = httpx.Client(
        base_url=sandbox.minter_url,
        headers={"Authorization": f"Bearer {sandbox.minter_secret}"},
        timeout=10,
    )
    yield client
    client.close()


def mint_body(**changes):
    return {
        "walletAddress": WALLET,
        "amount": 250,
        "userId": 7,
        "postId": 12,
        **changes,
    }


def test_mint_answers_like_the_real_service(sandbox, minter):
    first = minter.post("/mint", json=mint_body())
    assert first.status_code == 200
    body = first.json()
    assert body["success"] is True
    assert re.fullmatch(r"0x[0-9a-f]{64}", body["transactionHash"])
    assert body["walletAddress"] == WALLET
    assert body["amountMinted"] == 250
    assert body["newBalance"] == "250.0"
    assert (body["userId"], body["postId"]) == (7, 12)

    second = minter.post("/mint", json=mint_body(amount=12.5)).json()
    assert second["blockNumber"] > body["blockNumber"]
    assert second["transactionHash"] != body["transactionHash"]
    assert second["newBalance"] == "262.5"
    assert len(sandbox.mints()) == 2


def test_balances_are_kept_per_address(minter):
    minter.post("/mint", json=mint_body(amount=3))
    minter.post("/mint", json=mint_body(walletAddress=WALLET.upper().replace("X", "x")))
    answer = minter.get(f"/balance/{WALLET}")
    assert answer.status_code == 200
    assert answer.json() == {
        "address": WALLET,
        "balance": "253.0",
        "balanceWei": str(253 * 10**18),
    }
    empty = minter.get("/balance/0x" + "00" * 20).json()
    assert (empty["balance"], empty["balanceWei"]) == ("0.0", "0")
    assert minter.get("/balance/not-an-address").json() == {
        "error": "Invalid wallet address format"
    }


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "Missing or invalid authorization header"),
        (
            {"Authorization": "Basic abc"},
            401,
            "Missing or invalid authorization header",
        ),
        ({"Authorization": "Bearer wrong"}, 403, "Invalid API secret"),
    ],
)
def test_mint_auth_errors(sandbox, headers, status, error):
    answer = httpx.post(f"{sandbox.minter_url}/mint", json=mint_body(), headers=headers)
    assert answer.status_code == status
    assert answer.json() == {"error": error}
    assert sandbox.mints() == []


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"walletAddress": None}, "walletAddress is required"),
        ({"walletAddress": ""}, "walletAddress is required"),
        ({"amount": None}, "amount must be a positive number"),
        ({"amount": 0}, "amount must be a positive number"),
        ({"amount": -5}, "amount must be a positive number"),
        ({"amount": "lots"}, "amount must be a positive number"),
        ({"amount": True}, "amount must be a positive number"),
        ({"walletAddress": "0x123"}, "Invalid wallet address format"),
        ({"walletAddress": "a1" * 21}, "Invalid wallet address format"),
    ],
)
def test_mint_validation_errors(sandbox, minter, changes, error):
    body = {k: v for k, v in mint_body(**changes).items() if v is not None}
    answer = minter.post("/mint", json=body)
    assert answer.status_code == 400
    assert answer.json() == {"error": error}
    assert sandbox.mints() == []


def test_same_idempotency_key_returns_the_first_answer_and_mints_once(sandbox, minter):
    sandbox.ignore_idempotency_keys(False)
    headers = {"Idempotency-Key": "share-reward-41"}
    first = minter.post("/mint", json=mint_body(), headers=headers)
    again = minter.post("/mint", json=mint_body(), headers=headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(sandbox.mints()) == 1
    assert sandbox.mints()[0]["idempotencyKey"] == "share-reward-41"

    other = minter.post("/mint", json=mint_body(), headers={"Idempotency-Key": "42"})
    assert other.json()["transactionHash"] != first.json()["transactionHash"]
    assert len(sandbox.mints()) == 2


def test_a_refused_mint_does_not_claim_its_idempotency_key(sandbox, minter):
    sandbox.ignore_idempotency_keys(False)
    headers = {"Idempotency-Key": "share-reward-43"}
    assert minter.post(
        "/mint", json=mint_body(amount=0), headers=headers
    ).status_code == (400)
    assert minter.post("/mint", json=mint_body(), headers=headers).status_code == 200
    assert len(sandbox.mints()) == 1


def test_a_minter_ignoring_keys_mints_every_request_and_records_the_key(
    sandbox, minter
):
    headers = {"Idempotency-Key": "share-reward-44"}
    first = minter.post("/mint", json=mint_body(), headers=headers)
    again = minter.post("/mint", json=mint_body(), headers=headers)
    assert "idempotent-replayed" not in again.headers
    assert again.json()["transactionHash"] != first.json()["transactionHash"]
    assert [m["idempotencyKey"] for m in sandbox.mints()] == ["share-reward-44"] * 2
    assert again.json()["newBalance"] == "500.0"


def test_the_minter_mode_is_switched_through_the_control_api_and_reset(sandbox):
    assert sandbox.state()["config"]["minter_ignores_idempotency_key"] is True
    sandbox.ignore_idempotency_keys(False)
    assert sandbox.state()["config"]["minter_ignores_idempotency_key"] is False
    refused = sandbox.http.post(
        "/_control/config", json={"minter_ignores_idempotency_key": "yes"}
    )
    assert refused.status_code == 400
    sandbox.reset()  # back to the mode the server was started in
    assert sandbox.state()["config"]["minter_ignores_idempotency_key"] is True
