from __future__ import annotations

import time

import httpx
import pytest

WALLET = "0x" + "b2" * 20
BALANCE = "GET /minter/balance/:address"


def mint(sandbox, *, timeout: float = 5.0, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {sandbox.minter_secret}"}
    if key:
        headers["Idempotency-Key"] = key
    return httpx.post(
        f"{sandbox.minter_url}/mint",
        json={"walletAddress": WALLET, "amount": 10, "userId": 1, "postId": 2},
        headers=headers,
        timeout=timeout,
    )


def wait_for_request(sandbox, route: str, status: int) -> None:
    """Until the sandbox has finished a request with that status on that route."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = sandbox.requests(limit=20)["log"]
        if any(r["route"] == route and r["status"] == status for r in log):
            return
        time.sleep(0.02)
    raise AssertionError(f"no {status} on {route}")


@pytest.mark.parametrize(
    ("status", "title"),
    [
        (429, "Too Many Requests"),
        (403, "Forbidden"),
        (500, "Internal Server Error"),
        (503, "Service Unavailable"),
        (402, "CreditsDepleted"),
    ],
)
def test_status_fault_answers_the_next_calls_then_normal_again(
    sandbox, reader, status, title
):
    sandbox.fault("GET /2/users/me", status=status, times=2)
    for _ in range(2):
        answer = reader.api.get("/users/me")
        assert answer.status_code == status
        assert answer.json()["title"] == title
        assert "x-rate-limit-limit" in answer.headers
    assert reader.api.get("/users/me").status_code == 200


def test_injected_429_says_the_window_is_spent(sandbox, reader):
    sandbox.fault("GET /2/users/me", status=429)
    answer = reader.api.get("/users/me")
    assert answer.headers["x-rate-limit-remaining"] == "0"
    assert answer.json() == {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }


def test_402_credits_depleted_body(sandbox, reader):
    sandbox.fault("POST /2/users/:id/retweets", status=402)
    answer = reader.api.post(f"/users/{reader.id}/retweets", json={"tweet_id": "1"})
    assert answer.json()["type"] == (
        "https://api.twitter.com/2/problems/credits-depleted"
    )


def test_spent_credits_answer_402_to_every_api_call_until_topped_up(
    sandbox, reader, campaign_tweet
):
    # One retweet's worth ($0.015) of credit: the retweet spends it.
    sandbox.configure(credits_micros=15_000)
    retweet = f"/users/{reader.id}/retweets"
    assert reader.api.post(retweet, json={"tweet_id": campaign_tweet["id"]}).is_success

    refused = [
        reader.api.get("/users/me"),
        reader.api.post(
            f"/users/{reader.id}/likes", json={"tweet_id": campaign_tweet["id"]}
        ),
    ]
    assert [answer.status_code for answer in refused] == [402, 402]
    assert refused[0].json()["title"] == "CreditsDepleted"
    assert sandbox.likes() == []
    sandbox.configure(credits_micros=None)
    assert reader.api.get("/users/me").is_success


def test_fault_with_a_custom_body_and_headers(sandbox, reader):
    sandbox.fault(
        "GET /2/users/me",
        status=429,
        body={"title": "UsageCapExceeded"},
        headers={"retry-after": "30"},
    )
    answer = reader.api.get("/users/me")
    assert answer.json() == {"title": "UsageCapExceeded"}
    assert answer.headers["retry-after"] == "30"


def test_a_status_fault_before_the_action_leaves_no_trace(
    sandbox, reader, campaign_tweet
):
    sandbox.fault("POST /2/users/:id/retweets", status=503)
    answer = reader.api.post(
        f"/users/{reader.id}/retweets", json={"tweet_id": campaign_tweet["id"]}
    )
    assert answer.status_code == 503
    assert sandbox.retweets() == []


def test_a_status_fault_after_the_action_hides_its_success(sandbox):
    sandbox.ignore_idempotency_keys(False)
    sandbox.fault("POST /minter/mint", status=500, when="after")
    answer = mint(sandbox, key="reward-9")
    assert answer.status_code == 500
    assert answer.json()["error"] == "Failed to mint tokens"
    assert len(sandbox.mints()) == 1
    # The retry with the same key learns the real outcome and mints nothing more.
    retry = mint(sandbox, key="reward-9")
    assert retry.status_code == 200
    assert retry.json()["transactionHash"] == sandbox.mints()[0]["transactionHash"]
    assert len(sandbox.mints()) == 1


@pytest.mark.parametrize("status", [500, 504])
def test_a_keyless_minter_answering_5xx_after_minting_mints_again_on_retry(
    sandbox, status
):
    sandbox.fault("POST /minter/mint", status=status, when="after")
    answer = mint(sandbox, key="reward-10")
    assert answer.status_code == status
    assert len(sandbox.mints()) == 1
    # The real minter has no idempotency: the same request mints a second time.
    assert mint(sandbox, key="reward-10").status_code == 200
    assert len(sandbox.mints()) == 2
    assert sandbox.mint_requests() == 2


def test_a_504_comes_from_the_proxy_as_an_html_page(sandbox):
    sandbox.fault("POST /minter/mint", status=504)
    answer = mint(sandbox)
    assert answer.status_code == 504
    assert answer.headers["content-type"].startswith("text/html")
    assert "504 Gateway Time-out" in answer.text
    assert sandbox.mints() == []


def test_minter_hang_after_minting_times_out_with_exactly_one_mint(sandbox):
    sandbox.fault("POST /minter/mint", hang=3, when="after")
    with pytest.raises(httpx.ReadTimeout):
        mint(sandbox, timeout=0.3)
    assert len(sandbox.mints()) == 1
    assert mint(sandbox).status_code == 200
    assert len(sandbox.mints()) == 2


def test_hang_before_the_action_never_acts_when_the_client_gives_up(
    sandbox, reader, campaign_tweet
):
    sandbox.fault("POST /2/users/:id/retweets", hang=3)
    with pytest.raises(httpx.ReadTimeout):
        reader.api.post(
            f"/users/{reader.id}/retweets",
            json={"tweet_id": campaign_tweet["id"]},
            timeout=0.3,
        )
    wait_for_request(sandbox, "/2/users/:id/retweets", 499)
    assert sandbox.retweets() == []


def test_a_short_hang_is_a_slow_but_normal_answer(sandbox):
    sandbox.fault("POST /minter/mint", hang=0.3)
    started = time.monotonic()
    answer = mint(sandbox, timeout=5)
    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.3
    assert len(sandbox.mints()) == 1


def test_drop_cuts_the_answer_after_the_action(sandbox, reader, campaign_tweet):
    sandbox.fault("POST /2/users/:id/retweets", drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        reader.api.post(
            f"/users/{reader.id}/retweets", json={"tweet_id": campaign_tweet["id"]}
        )
    assert len(sandbox.retweets()) == 1
    # Next call is normal again: X now says it is a duplicate.
    again = reader.api.post(
        f"/users/{reader.id}/retweets", json={"tweet_id": campaign_tweet["id"]}
    )
    assert again.status_code == 400


def test_drop_before_the_action(sandbox):
    sandbox.fault("POST /minter/mint", drop=True, when="before")
    with pytest.raises(httpx.RemoteProtocolError):
        mint(sandbox)
    assert sandbox.mints() == []


def balance(sandbox) -> httpx.Response:
    headers = {"Authorization": f"Bearer {sandbox.minter_secret}"}
    return httpx.get(f"{sandbox.minter_url}/balance/{WALLET}", headers=headers)


def test_fault_lasting_until_cleared(sandbox):
    sandbox.fault(BALANCE, status=503, times=None)
    for _ in range(3):
        assert balance(sandbox).status_code == 503
    sandbox.clear_faults()
    assert balance(sandbox).status_code == 200


def test_faults_queue_in_order(sandbox):
    sandbox.fault(BALANCE, status=500)
    sandbox.fault(BALANCE, status=503)
    statuses = [balance(sandbox).status_code for _ in range(3)]
    assert statuses == [500, 503, 200]


@pytest.mark.parametrize(
    "spec",
    [
        {"route": "POST /2/users/:id/follow", "status": 500},
        {"route": "/minter/mint", "status": 500},
        {"route": "POST /minter/mint", "status": 99},
        {"route": "POST /minter/mint", "kind": "hang"},
        {"route": "POST /minter/mint", "status": 500, "when": "during"},
        {"route": "POST /minter/mint", "status": 500, "times": 0},
    ],
)
def test_bad_fault_specs_are_refused(sandbox, spec):
    answer = sandbox.http.post("/_control/faults", json=spec)
    assert answer.status_code == 400
    assert sandbox.state()["faults"] == []


def test_route_patterns_accept_braces(sandbox, reader):
    answer = sandbox.http.post(
        "/_control/faults",
        json={"method": "get", "route": "/2/users/{id}/tweets", "status": 500},
    )
    assert answer.status_code == 201
    assert reader.api.get(f"/users/{reader.id}/tweets").status_code == 500
