from __future__ import annotations

import httpx


def test_reset_clears_everything(sandbox, reader, campaign_tweet):
    reader.api.post(
        f"/users/{reader.id}/retweets", json={"tweet_id": campaign_tweet["id"]}
    )
    httpx.post(
        f"{sandbox.minter_url}/mint",
        json={"walletAddress": "0x" + "c3" * 20, "amount": 5},
        headers={"Authorization": f"Bearer {sandbox.minter_secret}"},
    )
    sandbox.fault("GET /2/users/me", status=500)
    sandbox.configure(plan="self-serve", access_token_ttl=5)
    sandbox.advance_clock(100)

    sandbox.reset()

    state = sandbox.state()
    assert state["tokens"] == state["retweets"] == state["mints"] == []
    assert state["faults"] == [] and state["balances"] == {}
    assert state["requests"]["total_requests"] == 0
    assert state["config"]["plan"] == "enterprise"
    assert state["config"]["access_token_ttl"] == 7200
    assert state["config"]["clock_offset"] == 0
    assert campaign_tweet["id"] not in {
        t["id"] for t in sandbox.http.get("/_control/tweets").json()
    }
    assert reader.api.get("/users/me").status_code == 401


def test_created_tweet_is_served_by_the_api(sandbox, reader):
    tweet = sandbox.create_tweet("Campaign post", like_count=3)
    assert tweet["url"] == f"https://x.com/BlocksterCom/status/{tweet['id']}"
    data = reader.api.get(
        f"/tweets/{tweet['id']}", params={"tweet.fields": "author_id,public_metrics"}
    ).json()["data"]
    assert data["author_id"] == sandbox.account("blockster")["id"]
    assert data["public_metrics"]["like_count"] == 3


def test_created_tweet_with_a_chosen_id_and_author(sandbox):
    tweet = sandbox.create_tweet("Mine", author="creator", id="1999999999999999999")
    assert tweet["id"] == "1999999999999999999"
    assert tweet["author_id"] == sandbox.account("creator")["id"]
    taken = sandbox.http.post(
        "/_control/tweets", json={"id": "1999999999999999999", "text": "again"}
    )
    assert taken.status_code == 400
    later = sandbox.create_tweet("Later")
    assert int(later["id"]) > int(tweet["id"])


def test_accounts_can_be_created_with_valid_fields(sandbox):
    account = sandbox.create_account(
        "whale", username="whale_watch", followers_count=5_000_000
    )
    assert account["public_metrics"]["followers_count"] == 5_000_000
    tokens = sandbox.connect("whale")
    me = httpx.get(
        f"{sandbox.api_base}/users/me",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()["data"]
    assert me["username"] == "whale_watch"
    bad = sandbox.http.post(
        "/_control/accounts", json={"key": "minnow", "followers_count": -1}
    )
    assert bad.status_code == 400


def test_configuration_is_validated(sandbox):
    for change in (
        {"plan": "gold"},
        {"access_token_ttl": 0},
        {"code_ttl": "soon"},
        {"rate_limits": {"teleport": {"limit": 1}}},
        {"nonsense": 1},
    ):
        assert sandbox.http.post("/_control/config", json=change).status_code == 400


def test_registered_callbacks_can_change_at_runtime(sandbox):
    sandbox.configure(callback_urls=["http://127.0.0.1:8123/auth/x/callback"])
    sandbox.callback_url = "http://127.0.0.1:8123/auth/x/callback"
    assert "access_token" in sandbox.connect("reader")


def test_routes_are_listed_for_fault_injection(sandbox):
    routes = {
        f"{r['method']} {r['route']}"
        for r in sandbox.http.get("/_control/routes").json()
    }
    assert {
        "POST /2/oauth2/token",
        "GET /2/users/me",
        "POST /2/users/:id/retweets",
        "POST /minter/mint",
    } <= routes


def test_index_page_and_avatars(sandbox):
    page = sandbox.http.get("/")
    assert page.status_code == 200 and "danareadscrypto" in page.text
    avatar = sandbox.http.get(f"/avatars/{sandbox.account('reader')['id']}.svg")
    assert avatar.headers["content-type"].startswith("image/svg+xml")


def test_unknown_routes_answer_like_x(sandbox):
    answer = sandbox.http.get("/2/spaces/1")
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["message"] == "Sorry, that page does not exist"
