"""What rewards mirrors of an X connection: a changed score becomes `x_multiplier`
once, a token refresh leaves Redis alone, and a disconnect leaves no drift."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from redis import Redis

from campaigns.services import create_pending_reward
from rewards.mirror import schema
from rewards.mirror.check import check_mirror
from social.models import XConnection
from social.score import calculate_and_save_score
from social.services import disconnect_x_account, maybe_refresh_token


@pytest.fixture
def multiplier_writes(owned_redis) -> Iterator[Callable[[], list[str]]]:
    """`read()`: the commands Redis applied to any `user_multipliers` key since the
    last read, in order, from the keyspace notifications of the test's own Redis."""
    client = Redis.from_url(owned_redis.url, decode_responses=True)
    client.config_set("notify-keyspace-events", "Kgh")
    end = f"end-{uuid.uuid4().hex}"
    pubsub = client.pubsub()
    pubsub.psubscribe("__keyspace@*__:*user_multipliers:*")
    pubsub.subscribe(end)
    for _ in range(2):
        assert pubsub.get_message(timeout=10)["type"] in ("psubscribe", "subscribe")

    def read() -> list[str]:
        # Notifications reach this connection in the order Redis applied the
        # commands, so every write made before the marker arrives before it.
        client.publish(end, "")
        events: list[str] = []
        while (message := pubsub.get_message(timeout=10)) is not None:
            if message["type"] == "message":
                return events
            events.append(message["data"])
        raise AssertionError("the end marker never arrived")

    yield read
    pubsub.close()
    client.close()


def test_a_score_change_mirrors_the_multiplier_once_and_an_unchanged_one_not_at_all(
    multiplier_writes, owner, connect_x, redis, django_capture_on_commit_callbacks
):
    connection = connect_x(owner, "reader", score=None)
    multiplier_writes()

    with django_capture_on_commit_callbacks(execute=True):
        breakdown = calculate_and_save_score(connection)

    assert multiplier_writes() == ["hset"]
    key = schema.user_multipliers_key(owner.pk)
    assert redis.hget(key, "x_multiplier") == str(breakdown.total)

    with django_capture_on_commit_callbacks(execute=True):
        calculate_and_save_score(XConnection.objects.get(pk=connection.pk))

    assert multiplier_writes() == []


def test_a_token_refresh_leaves_the_mirror_alone(
    multiplier_writes, owner, connect_x, redis, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        connection = connect_x(owner, "reader", score=None)
        calculate_and_save_score(connection)
    multiplier_writes()
    XConnection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(minutes=1)
    )
    before = XConnection.objects.get(pk=connection.pk).access_token_encrypted

    with django_capture_on_commit_callbacks(execute=True):
        refreshed = maybe_refresh_token(XConnection.objects.get(pk=connection.pk))

    assert refreshed.access_token_encrypted != before  # the refresh did happen
    assert multiplier_writes() == []


def test_a_disconnect_leaves_no_drift(
    owner,
    campaign_factory,
    connection_factory,
    redis,
    django_capture_on_commit_callbacks,
):
    """PostgreSQL nulls a deleted connection's id on its rewards (SET_NULL); the
    mirror follows at once, not at the next repair."""
    rewards = []
    x_user_id = "9100001"
    campaign = campaign_factory(tweets=2)
    # Connect, share a tweet, disconnect; and again with the campaign's other tweet.
    for tweet in campaign.tweets.all():
        with django_capture_on_commit_callbacks(execute=True):
            connection = connection_factory(owner, x_user_id=x_user_id)
            rewards.append(
                create_pending_reward(
                    owner, campaign, connection, amount=Decimal("50"), tweet=tweet
                )
            )
        key = schema.share_reward_key(*schema.reward_ref(rewards[-1]))
        assert redis.hget(key, "x_connection_id") == str(connection.pk)

        with django_capture_on_commit_callbacks(execute=True):
            assert disconnect_x_account(owner, revoke=False)

    for reward in rewards:
        key = schema.share_reward_key(*schema.reward_ref(reward))
        assert "x_connection_id" not in redis.hgetall(key)
    report = check_mirror()
    assert report.in_sync, report.lines()
