"""The personas must exercise the whole quality-score range (ORIGINAL-NOTES.md)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

PERSONAS = ("newbie", "zero", "reader", "creator", "influencer")


def quality_score(user: dict, tweets: list[dict], now: datetime) -> int:
    """The formula of ORIGINAL-NOTES.md, written out independently of the product."""
    m = user.get("public_metrics", {})
    followers, following = m.get("followers_count", 0), m.get("following_count", 0)
    created = datetime.fromisoformat(user["created_at"].replace("Z", "+00:00"))
    days = (now - created).days
    originals = [
        t
        for t in tweets
        if "retweeted" not in {r["type"] for r in t.get("referenced_tweets", [])}
    ][:10]
    engagement = [
        sum(t["public_metrics"][k] for k in ("like_count", "retweet_count"))
        + t["public_metrics"]["reply_count"]
        + t["public_metrics"]["quote_count"]
        for t in originals
    ]
    average = rate = 0.0
    if originals and followers > 0:
        average = sum(engagement) / len(originals)
        rate = average / followers
    if following > 0:
        quality = min((followers / following) / 10, 1) * 25
    else:
        quality = 25 if followers > 0 else 0
    target = (
        0.10
        if followers < 1000
        else 0.05
        if followers < 10_000
        else 0.02
        if followers < 100_000
        else 0.01
    )
    engaged = min(rate / target, 1) * 17.5 + min(average / 200, 1) * 17.5
    age = min((days / 365) / 5, 1) * 10
    activity = 0.0
    if days > 0:
        months = max(days / 30, 1)
        activity = min((m.get("tweet_count", 0) / months) / 30, 1) * 15
    lists = min(m.get("listed_count", 0) / 50, 1) * 5
    if followers >= 1000:
        scale = min(max(((math.log10(followers) - 3) / 4) * 10, 0), 10)
    else:
        scale = followers / 1000
    total = quality + engaged + age + activity + lists + scale
    rounded = int(Decimal(str(total)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return min(max(rounded, 1), 100)


def score_of(sandbox, reader, key: str) -> int:
    account_id = sandbox.account(key)["id"]
    user = reader.api.get(
        f"/users/{account_id}", params={"user.fields": "public_metrics,created_at"}
    ).json()["data"]
    timeline = reader.api.get(
        f"/users/{account_id}/tweets",
        params={
            "max_results": 10,
            "exclude": "retweets",
            "tweet.fields": "public_metrics,referenced_tweets,created_at",
        },
    ).json()
    return quality_score(user, timeline.get("data", []), datetime.now(UTC))


def test_personas_have_distinct_scores_across_the_range(sandbox, reader):
    scores = {key: score_of(sandbox, reader, key) for key in PERSONAS}
    assert scores["newbie"] == 1
    assert len(set(scores.values())) == len(PERSONAS)
    assert [scores[k] for k in PERSONAS] == sorted(scores.values())
    assert scores["influencer"] >= 85


def test_every_persona_but_the_newbie_has_recent_originals_and_retweets(
    sandbox, reader
):
    for key in PERSONAS[1:]:
        account_id = sandbox.account(key)["id"]
        tweets = reader.api.get(
            f"/users/{account_id}/tweets",
            params={"max_results": 100, "tweet.fields": "referenced_tweets"},
        ).json()["data"]
        kinds = [{r["type"] for r in t.get("referenced_tweets", [])} for t in tweets]
        assert set() in kinds, key
        assert {"retweeted"} in kinds, key


def test_consent_offers_the_personas_only(sandbox):
    offered = [a["key"] for a in sandbox.state()["accounts"] if a["selectable"]]
    assert sorted(offered) == sorted(PERSONAS)


def test_every_handle_is_one_x_would_give():
    """X handles are 1 to 15 letters, digits or underscores: a persona's tweet URL
    must pass the admin's check as a real one does."""
    from campaigns.services.campaigns import parse_tweet_url
    from sandbox.seed import ACCOUNTS

    for account in ACCOUNTS:
        url = f"https://x.com/{account.username}/status/1865000000000000001"
        assert parse_tweet_url(url) == "1865000000000000001", account.username
