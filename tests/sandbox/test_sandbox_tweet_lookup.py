"""GET /2/tweets/:id with the app-only Bearer token, the author expansion, and a
tweet its author deleted through the control API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.seed import BLOCKSTER_TWEETS
from sandbox.testing import Sandbox

CARD_QUERY = {
    "tweet.fields": "created_at,public_metrics,author_id",
    "expansions": "author_id",
    "user.fields": "name,username",
}
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"


@pytest.fixture
def app(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """The API as the app calls it: the app-only Bearer token, no reader."""
    headers = {"Authorization": f"Bearer {sandbox.app_bearer_token}"}
    with httpx.Client(base_url=sandbox.api_base, headers=headers, timeout=10) as api:
        yield api


def test_the_app_token_reads_a_tweet_with_its_author(sandbox, app, campaign_tweet):
    answer = app.get(f"/tweets/{campaign_tweet['id']}", params=CARD_QUERY)

    assert answer.status_code == 200
    body = answer.json()
    assert body["data"]["text"] == "Read the DeFi wallet guide on Blockster"
    assert body["data"]["author_id"] == sandbox.account("blockster")["id"]
    assert body["data"]["created_at"].endswith(".000Z")
    assert "retweet_count" in body["data"]["public_metrics"]
    (author,) = body["includes"]["users"]
    assert (author["id"], author["username"], author["name"]) == (
        body["data"]["author_id"],
        "BlocksterCom",
        "Blockster",
    )
    assert answer.headers["x-rate-limit-remaining"] == "899"


def test_the_lookup_costs_a_post_and_the_expanded_user(sandbox, app, campaign_tweet):
    app.get(f"/tweets/{campaign_tweet['id']}", params=CARD_QUERY)
    app.get(f"/tweets/{campaign_tweet['id']}")

    log = sandbox.requests()["log"]
    assert [entry["cost_usd"] for entry in log] == ["0.015000", "0.005000"]


def test_a_reader_token_reads_it_too_as_on_x(reader, campaign_tweet):
    answer = reader.api.get(f"/tweets/{campaign_tweet['id']}", params=CARD_QUERY)
    assert answer.json()["includes"]["users"][0]["username"] == "BlocksterCom"


@pytest.mark.parametrize("header", ["Bearer not-the-app-token", "Basic abc", ""])
def test_anything_but_a_valid_token_is_unauthorized(sandbox, campaign_tweet, header):
    answer = httpx.get(
        f"{sandbox.api_base}/tweets/{campaign_tweet['id']}",
        headers={"Authorization": header} if header else {},
    )
    assert answer.status_code == 401
    assert answer.json()["title"] == "Unauthorized"


def test_the_app_token_is_no_user_token(sandbox, reader, campaign_tweet):
    headers = {"Authorization": f"Bearer {sandbox.app_bearer_token}"}
    answer = httpx.post(
        f"{sandbox.api_base}/users/{reader.id}/retweets",
        json={"tweet_id": campaign_tweet["id"]},
        headers=headers,
    )
    assert answer.status_code == 401


def test_a_protected_authors_tweet_is_not_authorized(sandbox, app):
    sandbox.create_account("locked", protected=True)
    tweet = sandbox.create_tweet("Friends only", author="locked")

    body = app.get(f"/tweets/{tweet['id']}", params=CARD_QUERY).json()

    assert "data" not in body
    assert body["errors"][0]["title"] == "Authorization Error"
    assert body["errors"][0]["type"].endswith("/not-authorized-for-resource")


def test_a_deleted_tweet_is_not_found_and_cannot_be_retweeted(
    sandbox, app, reader, campaign_tweet
):
    tweet_id = campaign_tweet["id"]
    sandbox.delete_tweet(tweet_id)

    lookup = app.get(f"/tweets/{tweet_id}", params=CARD_QUERY)
    retweet = reader.api.post(
        f"/users/{reader.id}/retweets", json={"tweet_id": tweet_id}
    )

    assert lookup.status_code == 200
    assert lookup.json()["errors"][0]["type"] == NOT_FOUND
    assert lookup.json()["errors"][0]["detail"] == (
        f"Could not find tweet with id: [{tweet_id}]."
    )
    assert retweet.status_code == 200
    assert retweet.json()["errors"][0]["detail"] == (
        f"Could not find tweet with tweet_id: [{tweet_id}]."
    )
    assert sandbox.state()["deleted_tweets"] == [tweet_id]
    assert sandbox.retweets() == []


def test_deleting_an_unknown_tweet_is_refused(sandbox):
    answer = sandbox.http.delete("/_control/tweets/1999999999999999999")
    assert answer.status_code == 404


def test_the_publishers_seeded_tweets_read_as_posts(app, sandbox):
    blockster = sandbox.account("blockster")
    timeline = app.get(
        f"/users/{blockster['id']}/tweets", params={"max_results": 5}
    ).status_code
    # Timelines are user-context reads: the app token is not enough there.
    assert timeline == 401
    texts = [
        app.get(f"/tweets/{tweet_id}").json()["data"]["text"]
        for tweet_id in ("1865000000000036000", "1865000000000042000")
    ]
    assert texts == list(BLOCKSTER_TWEETS[:2])
