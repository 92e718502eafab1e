from __future__ import annotations

TOO_MANY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}


def test_rate_limit_counts_down_to_429_and_recovers_after_the_reset(sandbox, reader):
    sandbox.set_rate_profile("pay-per-use", window=60, limits={"users_me": 3})
    remaining = [reader.api.get("/users/me").headers["x-rate-limit-remaining"]]
    remaining += [reader.api.get("/users/me").headers["x-rate-limit-remaining"]]
    remaining += [reader.api.get("/users/me").headers["x-rate-limit-remaining"]]
    assert remaining == ["2", "1", "0"]

    refused = reader.api.get("/users/me")
    assert refused.status_code == 429
    assert refused.json() == TOO_MANY
    assert refused.headers["x-rate-limit-limit"] == "3"
    assert refused.headers["x-rate-limit-remaining"] == "0"
    reset_at = int(refused.headers["x-rate-limit-reset"])
    assert reset_at >= sandbox.state()["now"]

    sandbox.advance_clock(61)
    recovered = reader.api.get("/users/me")
    assert recovered.status_code == 200
    assert recovered.headers["x-rate-limit-remaining"] == "2"
    assert int(recovered.headers["x-rate-limit-reset"]) > reset_at


def test_windows_are_per_user_and_per_endpoint(sandbox, reader, creator):
    sandbox.set_rate_profile("pay-per-use", limits={"users_me": 1})
    assert reader.api.get("/users/me").status_code == 200
    assert reader.api.get("/users/me").status_code == 429
    assert creator.api.get("/users/me").status_code == 200
    assert reader.api.get(f"/users/{reader.id}").status_code == 200


def test_default_profile_has_the_current_table(reader, campaign_tweet):
    answer = reader.api.post(
        f"/users/{reader.id}/retweets", json={"tweet_id": campaign_tweet["id"]}
    )
    assert answer.headers["x-rate-limit-limit"] == "50"
    like = reader.api.post(
        f"/users/{reader.id}/likes", json={"tweet_id": campaign_tweet["id"]}
    )
    assert like.headers["x-rate-limit-limit"] == "50"
    assert like.headers["x-user-limit-24hour-limit"] == "1000"
    assert like.headers["x-user-limit-24hour-remaining"] == "999"
    assert reader.api.get(f"/users/{reader.id}").headers["x-rate-limit-limit"] == "900"


def test_free_profile_allows_one_retweet_per_window(sandbox, reader):
    sandbox.set_rate_profile("free")
    first, second = (sandbox.create_tweet(f"post {n}")["id"] for n in range(2))
    path = f"/users/{reader.id}/retweets"
    assert reader.api.post(path, json={"tweet_id": first}).status_code == 200
    refused = reader.api.post(path, json={"tweet_id": second})
    assert refused.status_code == 429
    assert sandbox.retweets()[0]["tweet_id"] == first


def test_basic_profile_counts_users_me_per_day(sandbox, reader):
    sandbox.set_rate_profile("basic")
    answer = reader.api.get("/users/me")
    assert answer.headers["x-rate-limit-limit"] == "100"
    reset_in = int(answer.headers["x-rate-limit-reset"]) - sandbox.state()["now"]
    assert 86000 < reset_in <= 86401


def test_unknown_profile_is_refused(sandbox):
    answer = sandbox.http.post("/_control/config", json={"rate_profile": "gold"})
    assert answer.status_code == 400
