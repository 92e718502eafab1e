"""The reader's timeline as the share confirmation reads it: retweets with their
`referenced_tweets`, a window by post id, X's lag, undone retweets, faults and cost."""

from __future__ import annotations

from sandbox.testing import Sandbox

TIMELINE = "GET /2/users/:id/tweets"
FIELDS = {"tweet.fields": "referenced_tweets", "max_results": 5}


def _retweet(reader, tweet_id: str) -> str:
    answer = reader.api.post(
        f"/users/{reader.id}/retweets", json={"tweet_id": tweet_id}
    )
    assert answer.status_code == 200
    return answer.json()["data"]["id"]


def _timeline(reader, **params) -> list[dict]:
    answer = reader.api.get(f"/users/{reader.id}/tweets", params={**FIELDS, **params})
    assert answer.status_code == 200
    return answer.json().get("data", [])


def test_a_retweet_tops_the_timeline_with_what_it_retweeted(reader, campaign_tweet):
    post_id = _retweet(reader, campaign_tweet["id"])

    newest = _timeline(reader)[0]

    assert newest["id"] == post_id
    assert newest["referenced_tweets"] == [
        {"type": "retweeted", "id": campaign_tweet["id"]}
    ]


def test_since_and_until_id_read_one_post(reader, campaign_tweet):
    post_id = _retweet(reader, campaign_tweet["id"])
    window = {"since_id": str(int(post_id) - 1), "until_id": str(int(post_id) + 1)}

    assert [post["id"] for post in _timeline(reader, **window)] == [post_id]
    answer = reader.api.get(
        f"/users/{reader.id}/tweets", params={**FIELDS, "since_id": "x1"}
    )
    assert answer.status_code == 400


def test_an_undone_retweet_leaves_the_timeline_and_is_logged(
    sandbox: Sandbox, reader, campaign_tweet
):
    post_id = _retweet(reader, campaign_tweet["id"])

    assert sandbox.undo_retweet("reader", campaign_tweet["id"]) is True
    assert sandbox.undo_retweet("reader", campaign_tweet["id"]) is False

    assert post_id not in [post["id"] for post in _timeline(reader)]
    assert sandbox.retweets() == []
    undone = sandbox.undone_retweets()
    assert [(u["user_id"], u["tweet_id"], u["retweet_id"]) for u in undone] == [
        (reader.id, campaign_tweet["id"], post_id)
    ]


def test_undo_over_the_api_is_logged_too(sandbox: Sandbox, reader, campaign_tweet):
    _retweet(reader, campaign_tweet["id"])
    reader.api.delete(f"/users/{reader.id}/retweets/{campaign_tweet['id']}")
    assert [u["tweet_id"] for u in sandbox.undone_retweets()] == [campaign_tweet["id"]]


def test_a_lagging_retweet_shows_after_n_reads(
    sandbox: Sandbox, reader, campaign_tweet
):
    sandbox.set_timeline_lag(2)
    post_id = _retweet(reader, campaign_tweet["id"])

    seen = [post_id in [p["id"] for p in _timeline(reader)] for _ in range(3)]

    assert seen == [False, False, True]


def test_timeline_faults_and_cost(sandbox: Sandbox, reader, campaign_tweet):
    post_id = _retweet(reader, campaign_tweet["id"])
    window = {"since_id": str(int(post_id) - 1), "until_id": str(int(post_id) + 1)}
    sandbox.fault(TIMELINE, status=429)
    sandbox.fault(TIMELINE, status=503)

    statuses = [
        reader.api.get(f"/users/{reader.id}/tweets", params=window).status_code
        for _ in range(3)
    ]

    assert statuses == [429, 503, 200]
    # Only the answer with a post is billed: one post, $0.005.
    assert sandbox.requests()["by_route"][TIMELINE] == {
        "requests": 3,
        "cost_usd": "0.005000",
    }


def test_deleting_the_original_removes_its_retweets_from_every_timeline(
    sandbox: Sandbox, reader, creator, campaign_tweet
):
    kept = sandbox.create_tweet("Another post that stays")
    posts = {
        "reader": _retweet(reader, campaign_tweet["id"]),
        "creator": _retweet(creator, campaign_tweet["id"]),
    }
    other = _retweet(reader, kept["id"])

    assert sandbox.delete_tweet(campaign_tweet["id"]) == 2

    # As on X: every retweet of the deleted post is gone, the others stand.
    reader_posts = [post["id"] for post in _timeline(reader)]
    assert reader_posts[0] == other and posts["reader"] not in reader_posts
    assert posts["creator"] not in [post["id"] for post in _timeline(creator)]
    assert [r["tweet_id"] for r in sandbox.retweets()] == [kept["id"]]
    # No reader took anything back: the undone log stays empty.
    assert sandbox.undone_retweets() == []
    removed = sandbox.removed_retweets()
    assert sorted((r["user_id"], r["retweet_id"]) for r in removed) == sorted(
        [(reader.id, posts["reader"]), (creator.id, posts["creator"])]
    )
