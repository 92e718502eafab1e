"""The reader's likes as the like confirmation reads them: newest like first, a
like taken back through the control API gone, a token without like.read refused,
and the posts returned billed."""

from __future__ import annotations

from sandbox.testing import SCOPES, Sandbox

LIKED_TWEETS = "GET /2/users/:id/liked_tweets"


def _like(reader, tweet_id: str) -> None:
    answer = reader.api.post(f"/users/{reader.id}/likes", json={"tweet_id": tweet_id})
    assert answer.status_code == 200


def _liked(reader) -> list[str]:
    answer = reader.api.get(
        f"/users/{reader.id}/liked_tweets", params={"max_results": 10}
    )
    assert answer.status_code == 200
    return [post["id"] for post in answer.json().get("data", [])]


def test_likes_read_newest_first_and_one_taken_back_is_gone(
    sandbox: Sandbox, reader, campaign_tweet
):
    other = sandbox.create_tweet("Another story on Blockster")
    _like(reader, campaign_tweet["id"])
    sandbox.advance_clock(1)
    _like(reader, other["id"])

    assert _liked(reader) == [other["id"], campaign_tweet["id"]]

    assert sandbox.undo_like("reader", campaign_tweet["id"])
    assert not sandbox.undo_like("reader", campaign_tweet["id"])

    assert _liked(reader) == [other["id"]]
    # Billed per post returned: two, then one, at $0.005.
    assert sandbox.requests()["by_route"][LIKED_TWEETS] == {
        "requests": 2,
        "cost_usd": "0.015000",
    }


def test_a_token_without_like_read_is_refused(sandbox: Sandbox, reader):
    scopes = [scope for scope in SCOPES if scope != "like.read"]
    token = sandbox.connect("reader", scopes=scopes)["access_token"]

    answer = reader.api.get(
        f"/users/{reader.id}/liked_tweets",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert answer.status_code == 403
