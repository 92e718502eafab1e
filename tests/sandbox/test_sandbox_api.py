from __future__ import annotations

import pytest

from sandbox.testing import Sandbox

FORBIDDEN = {
    "title": "Forbidden",
    "type": "about:blank",
    "status": 403,
    "detail": "You are not permitted to perform this action.",
}
INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"
TIMELINE_FIELDS = {"tweet.fields": "public_metrics,referenced_tweets,created_at"}


def test_users_me_answers_the_token_user_with_rate_limit_headers(reader):
    answer = reader.api.get(
        "/users/me", params={"user.fields": "profile_image_url,name,username"}
    )
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["id"] == reader.id
    assert data["username"] == "danareadscrypto"
    assert data["profile_image_url"].endswith(".svg")
    assert answer.headers["x-rate-limit-limit"] == "75"
    assert answer.headers["x-rate-limit-remaining"] == "74"
    assert int(answer.headers["x-rate-limit-reset"]) > 0


def test_default_fields_only_without_user_fields(reader):
    data = reader.api.get("/users/me").json()["data"]
    assert set(data) == {"id", "name", "username"}


def test_unknown_field_is_an_invalid_request(reader):
    answer = reader.api.get("/users/me", params={"user.fields": "shoe_size"})
    assert answer.status_code == 400
    assert answer.json()["type"] == INVALID_REQUEST


def test_missing_or_unknown_token_is_unauthorized(sandbox: Sandbox):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        answer = sandbox.http.get(f"{sandbox.api_base}/users/me", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["title"] == "Unauthorized"
        assert "x-rate-limit-limit" in answer.headers


def test_users_me_needs_tweet_read_as_well_as_users_read(sandbox: Sandbox):
    tokens = sandbox.connect("reader", scopes=["users.read"])
    answer = sandbox.http.get(
        f"{sandbox.api_base}/users/me",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert answer.status_code == 403
    assert answer.json() == FORBIDDEN


def test_user_lookup_has_public_metrics_and_created_at(reader, sandbox):
    creator = sandbox.account("creator")
    answer = reader.api.get(
        f"/users/{creator['id']}",
        params={"user.fields": "public_metrics,created_at,profile_image_url"},
    )
    data = answer.json()["data"]
    assert data["created_at"] == "2016-02-04T10:41:07.000Z"
    assert data["public_metrics"] == {
        "followers_count": 8400,
        "following_count": 1900,
        "tweet_count": 12800,
        "listed_count": 85,
        "like_count": 21950,
    }


def test_unknown_user_and_tweet_answer_200_with_only_errors(reader):
    for path, resource in (
        ("/users/1234", "user"),
        ("/tweets/1234", "tweet"),
        ("/users/1234/tweets", "user"),
    ):
        answer = reader.api.get(path)
        assert answer.status_code == 200, path
        body = answer.json()
        assert set(body) == {"errors"}
        error = body["errors"][0]
        assert error["title"] == "Not Found Error"
        assert error["resource_type"] == resource
        assert error["type"] == "https://api.twitter.com/2/problems/resource-not-found"


def test_ids_must_be_digits(reader):
    answer = reader.api.get("/tweets/abc")
    assert answer.status_code == 400
    assert answer.json()["type"] == INVALID_REQUEST


def test_tweet_lookup(reader, campaign_tweet):
    answer = reader.api.get(
        f"/tweets/{campaign_tweet['id']}", params={"tweet.fields": "public_metrics"}
    )
    data = answer.json()["data"]
    assert data["text"] == "Read the DeFi wallet guide on Blockster"
    assert data["edit_history_tweet_ids"] == [campaign_tweet["id"]]
    assert data["public_metrics"]["retweet_count"] == 0


def test_timeline_has_retweets_unless_excluded(reader):
    path = f"/users/{reader.id}/tweets"
    everything = reader.api.get(path, params={**TIMELINE_FIELDS, "max_results": 100})
    kinds = [
        {r["type"] for r in t.get("referenced_tweets", [])}
        for t in everything.json()["data"]
    ]
    assert {"retweeted"} in kinds
    originals = reader.api.get(
        path, params={**TIMELINE_FIELDS, "max_results": 100, "exclude": "retweets"}
    ).json()
    assert originals["meta"]["result_count"] == len(everything.json()["data"]) - 2
    for tweet in originals["data"]:
        assert "retweeted" not in {
            r["type"] for r in tweet.get("referenced_tweets", [])
        }
        assert set(tweet["public_metrics"]) >= {"like_count", "retweet_count"}
        assert tweet["created_at"].endswith(".000Z")


def test_post_fields_is_accepted_as_tweet_fields(reader):
    answer = reader.api.get(
        f"/users/{reader.id}/tweets", params={"post.fields": "public_metrics"}
    )
    assert "public_metrics" in answer.json()["data"][0]


@pytest.mark.parametrize("value", ["4", "101", "0", "ten", "-5"])
def test_max_results_must_be_between_5_and_100(reader, value):
    answer = reader.api.get(f"/users/{reader.id}/tweets", params={"max_results": value})
    assert answer.status_code == 400
    body = answer.json()
    assert body["title"] == "Invalid Request"
    assert body["detail"] == "One or more parameters to your request was invalid."
    assert body["type"] == INVALID_REQUEST
    assert body["errors"][0]["parameters"] == {"max_results": [value]}
    assert "max_results" in body["errors"][0]["message"]


def test_pagination_walks_the_whole_timeline(sandbox, reader):
    influencer = sandbox.account("influencer")
    seen, token, pages = [], None, 0
    while True:
        params = {"max_results": 5, **({"pagination_token": token} if token else {})}
        body = reader.api.get(f"/users/{influencer['id']}/tweets", params=params).json()
        pages += 1
        seen += [t["id"] for t in body["data"]]
        assert body["meta"]["newest_id"] == body["data"][0]["id"]
        assert body["meta"]["oldest_id"] == body["data"][-1]["id"]
        token = body["meta"].get("next_token")
        if token is None:
            break
    assert len(seen) == len(set(seen)) == 16
    assert pages == 4
    assert seen == sorted(seen, key=int, reverse=True)


def test_bad_pagination_token_is_an_invalid_request(reader):
    answer = reader.api.get(
        f"/users/{reader.id}/tweets", params={"pagination_token": "nonsense"}
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["parameters"] == {
        "pagination_token": ["nonsense"]
    }


def test_empty_timeline_has_only_meta(sandbox, reader):
    newbie = sandbox.account("newbie")
    answer = reader.api.get(f"/users/{newbie['id']}/tweets")
    assert answer.json() == {"meta": {"result_count": 0}}


def test_retweet_then_duplicate_retweet(sandbox, reader, campaign_tweet):
    path = f"/users/{reader.id}/retweets"
    first = reader.api.post(path, json={"tweet_id": campaign_tweet["id"]})
    assert first.status_code == 200
    assert first.json()["data"]["retweeted"] is True

    second = reader.api.post(path, json={"tweet_id": campaign_tweet["id"]})
    assert second.status_code == 400
    assert second.json()["errors"] == [
        {"message": "You cannot retweet a Tweet that you have already retweeted."}
    ]
    assert [(r["user_id"], r["tweet_id"]) for r in sandbox.retweets()] == [
        (reader.id, campaign_tweet["id"])
    ]
    timeline = reader.api.get(
        f"/users/{reader.id}/tweets", params={"tweet.fields": "referenced_tweets"}
    ).json()["data"]
    assert timeline[0]["referenced_tweets"] == [
        {"type": "retweeted", "id": campaign_tweet["id"]}
    ]


def test_retweet_for_another_user_is_forbidden(sandbox, reader, campaign_tweet):
    creator = sandbox.account("creator")
    for path in (
        f"/users/{creator['id']}/retweets",
        f"/users/{creator['id']}/likes",
    ):
        answer = reader.api.post(path, json={"tweet_id": campaign_tweet["id"]})
        assert answer.status_code == 403
        assert answer.json() == FORBIDDEN
    assert sandbox.retweets() == [] and sandbox.likes() == []


def test_retweet_needs_tweet_write(sandbox, campaign_tweet):
    tokens = sandbox.connect("reader", scopes=["tweet.read", "users.read"])
    reader_id = sandbox.account("reader")["id"]
    answer = sandbox.http.post(
        f"{sandbox.api_base}/users/{reader_id}/retweets",
        json={"tweet_id": campaign_tweet["id"]},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert answer.status_code == 403


def test_retweet_of_unknown_tweet_answers_errors_only(reader):
    answer = reader.api.post(f"/users/{reader.id}/retweets", json={"tweet_id": "42"})
    assert answer.status_code == 200
    assert answer.json()["errors"][0]["title"] == "Not Found Error"


def test_retweet_without_tweet_id_is_an_invalid_request(reader):
    answer = reader.api.post(f"/users/{reader.id}/retweets", json={})
    assert answer.status_code == 400
    assert answer.json()["type"] == INVALID_REQUEST


def test_unretweet_undoes_the_retweet(sandbox, reader, campaign_tweet):
    reader.api.post(
        f"/users/{reader.id}/retweets", json={"tweet_id": campaign_tweet["id"]}
    )
    answer = reader.api.delete(f"/users/{reader.id}/retweets/{campaign_tweet['id']}")
    assert answer.status_code == 200
    assert answer.json() == {"data": {"retweeted": False}}
    assert sandbox.retweets() == []
    again = reader.api.post(
        f"/users/{reader.id}/retweets", json={"tweet_id": campaign_tweet["id"]}
    )
    assert again.status_code == 200


def test_like_is_refused_on_the_self_serve_plan(sandbox, reader, campaign_tweet):
    sandbox.set_plan("self-serve")
    answer = reader.api.post(
        f"/users/{reader.id}/likes", json={"tweet_id": campaign_tweet["id"]}
    )
    assert answer.status_code == 403
    body = answer.json()
    assert body["title"] == "Client Forbidden"
    assert body["reason"] == "client-not-enrolled"
    assert body["type"] == "https://api.twitter.com/2/problems/client-forbidden"
    assert sandbox.likes() == []


def test_like_is_allowed_on_enterprise_and_a_second_like_is_no_error(
    sandbox, reader, campaign_tweet
):
    sandbox.set_plan("enterprise")
    for _ in range(2):
        answer = reader.api.post(
            f"/users/{reader.id}/likes", json={"tweet_id": campaign_tweet["id"]}
        )
        assert answer.status_code == 200
        assert answer.json() == {"data": {"liked": True}}
    assert len(sandbox.likes()) == 1
    tweet = reader.api.get(
        f"/tweets/{campaign_tweet['id']}", params={"tweet.fields": "public_metrics"}
    ).json()["data"]
    assert tweet["public_metrics"]["like_count"] == 1


def test_request_log_prices_each_call(sandbox, reader, campaign_tweet):
    reader.api.get("/users/me")  # one user: $0.010
    reader.api.get(f"/users/{reader.id}/tweets", params={"max_results": 5})  # $0.025
    reader.api.post(
        f"/users/{reader.id}/retweets", json={"tweet_id": campaign_tweet["id"]}
    )  # $0.015
    reader.api.post(
        f"/users/{reader.id}/retweets", json={"tweet_id": campaign_tweet["id"]}
    )  # refused: free
    log = sandbox.requests()
    assert log["total_cost_usd"] == "0.050000"
    assert log["by_route"]["POST /2/users/:id/retweets"] == {
        "requests": 2,
        "cost_usd": "0.015000",
    }
    last = log["log"][-1]
    assert (last["status"], last["user_id"], last["cost_usd"]) == (
        400,
        reader.id,
        "0.000000",
    )
