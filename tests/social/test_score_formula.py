"""The quality score formula of the original, on hand-computed cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from social.score import MAXIMA, calculate_score, round_half_away_from_zero
from social.x_api import PublicMetrics, XTweet

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def score(
    followers=0,
    following=0,
    tweet_count=0,
    listed=0,
    days=None,
    tweets=(),
):
    created = NOW - timedelta(days=days) if days is not None else None
    return calculate_score(
        PublicMetrics(followers, following, tweet_count, listed),
        list(tweets),
        account_created_at=created,
        now=NOW,
    )


def tweet(likes=0, retweets=0, replies=0, quotes=0, *, is_retweet=False, id="1"):
    return XTweet(
        id=id,
        like_count=likes,
        retweet_count=retweets,
        reply_count=replies,
        quote_count=quotes,
        is_retweet=is_retweet,
    )


def test_an_empty_account_scores_1():
    result = score()

    assert result.total == 1
    assert all(value == 0 for value in result.components().values())


def test_an_ordinary_account_computed_by_hand():
    result = score(
        followers=500,
        following=100,
        tweet_count=600,
        listed=10,
        days=730,
        tweets=[tweet(10, 2, 1, 0), tweet(5, 0, 0, 1)],
    )

    # ratio 5:1 -> half of 25
    assert result.follower_quality == pytest.approx(12.5)
    # avg 9.5, rate 0.019 against the 0.10 target: 3.325 + volume 0.83125
    assert result.avg_engagement == pytest.approx(9.5)
    assert result.engagement_rate == pytest.approx(0.019)
    assert result.engagement == pytest.approx(4.15625)
    assert result.age == pytest.approx(4.0)  # 2 of 5 years
    assert result.activity == pytest.approx(12.328767, rel=1e-6)  # 24.66/month
    assert result.list == pytest.approx(1.0)
    assert result.scale == pytest.approx(0.5)
    assert result.total == 34  # 34.485 rounded
    assert result.tweets_analyzed == 2


def test_follower_quality_branches():
    assert score(followers=0, following=0).follower_quality == 0
    assert score(followers=3, following=0).follower_quality == 25
    assert score(followers=1000, following=10).follower_quality == 25  # 100:1, capped
    assert score(followers=20, following=10).follower_quality == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("followers", "target"),
    [
        (999, 0.10),
        (1_000, 0.05),
        (9_999, 0.05),
        (10_000, 0.02),
        (99_999, 0.02),
        (100_000, 0.01),
    ],
)
def test_each_engagement_target_band(followers, target):
    # Average engagement of 2 per tweet, far below the volume target of 200.
    result = score(followers=followers, following=1, tweets=[tweet(likes=2)])
    rate = 2 / followers

    expected = min(rate / target, 1) * 17.5 + (2 / 200) * 17.5
    assert result.engagement == pytest.approx(expected)


def test_engagement_rate_and_volume_are_each_capped():
    result = score(followers=100, following=1, tweets=[tweet(likes=5_000)])

    assert result.engagement == pytest.approx(35.0)


def test_no_followers_means_no_engagement_even_with_likes():
    result = score(followers=0, tweets=[tweet(likes=50)])

    assert result.engagement == 0
    assert result.avg_engagement == 0 and result.engagement_rate == 0


def test_retweets_are_not_analysed_and_only_ten_tweets_count():
    originals = [tweet(likes=10, id=str(n)) for n in range(12)]
    retweets = [tweet(likes=10_000, is_retweet=True, id=f"r{n}") for n in range(3)]

    result = score(followers=1_000, following=10, tweets=retweets + originals)

    assert result.tweets_analyzed == 10
    assert result.avg_engagement == pytest.approx(10)


def test_the_999_to_1000_follower_discontinuity_of_the_scale():
    assert score(followers=999).scale == pytest.approx(0.999)
    assert score(followers=1_000).scale == 0
    assert score(followers=10_000).scale == pytest.approx(2.5)
    assert score(followers=10_000_000).scale == 10
    assert score(followers=100_000_000).scale == 10  # clamped


def test_account_age_and_activity():
    assert score(days=365 * 10).age == 10  # capped at 5 years
    assert score(days=365).age == pytest.approx(2.0)
    assert score(days=0, tweet_count=1_000).activity == 0  # brand new: no activity
    assert score(days=None, tweet_count=1_000).activity == 0  # unknown age
    # Under a month counts as one month: 40 tweets in 10 days is over 30/month.
    assert score(days=10, tweet_count=40).activity == 15
    # 300 days = 10 months; 15 tweets a month is half of the 30 target.
    assert score(days=300, tweet_count=150).activity == pytest.approx(7.5)


def test_list_presence():
    assert score(listed=10).list == pytest.approx(1.0)
    assert score(listed=500).list == 5


def test_half_way_totals_round_away_from_zero():
    # Lists alone give exactly 2.5: Python's round() would say 2.
    assert score(listed=25).total == 3
    assert round_half_away_from_zero(2.5) == 3
    assert round_half_away_from_zero(3.5) == 4
    assert round_half_away_from_zero(2.4999) == 2


def test_a_perfect_account_scores_100():
    result = score(
        followers=10_000_000,
        following=1,
        tweet_count=1_000_000,
        listed=1_000,
        days=4_000,
        tweets=[tweet(likes=1_000_000)],
    )

    assert result.total == 100


counts = st.integers(min_value=0, max_value=10**9)


@given(
    followers=counts,
    following=counts,
    tweet_count=counts,
    listed=counts,
    days=st.one_of(st.none(), st.integers(min_value=-10, max_value=20_000)),
    engagements=st.lists(
        st.tuples(counts, counts, counts, counts, st.booleans()), max_size=15
    ),
)
def test_components_and_total_stay_within_their_bounds(
    followers, following, tweet_count, listed, days, engagements
):
    tweets = [
        tweet(*values[:4], is_retweet=values[4], id=str(n))
        for n, values in enumerate(engagements)
    ]

    result = score(followers, following, tweet_count, listed, days, tweets)

    for name, maximum in MAXIMA.items():
        assert 0 <= getattr(result, name) <= maximum, name
    assert 1 <= result.total <= 100
    assert result.tweets_analyzed <= 10
