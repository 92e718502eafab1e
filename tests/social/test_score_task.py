"""Scoring sandbox accounts: after connect, in a real worker, weekly, by command."""

from __future__ import annotations

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.db.models.signals import post_save
from django.utils import timezone

from accounts.models import SecurityEvent
from blockster.redis_client import get_redis
from rewards.mirror import get_user_x_multiplier
from rewards.mirror.schema import user_multipliers_key
from social import services
from social.models import XConnection
from social.score import calculate_and_save_score, calculate_score
from social.tasks import calculate_x_score_task
from social.x_api import PublicMetrics, XApiClient, XTweet, parse_time

pytestmark = pytest.mark.usefixtures("fast_retries")

PERSONAS = ["newbie", "zero", "reader", "creator", "influencer"]


def predicted_score(sandbox, key: str) -> int:
    """The formula applied to what the sandbox holds for the persona."""
    account = sandbox.account(key)
    timeline = sandbox.http.get("/_control/tweets", params={"author": key}).json()
    originals = sorted(
        (
            t
            for t in timeline
            if not any(r["type"] == "retweeted" for r in t["referenced_tweets"])
        ),
        key=lambda t: int(t["id"]),
        reverse=True,
    )[:10]
    metrics = account["public_metrics"]
    return calculate_score(
        PublicMetrics(
            metrics["followers_count"],
            metrics["following_count"],
            metrics["tweet_count"],
            metrics["listed_count"],
        ),
        [
            XTweet(
                id=t["id"],
                like_count=t["public_metrics"]["like_count"],
                retweet_count=t["public_metrics"]["retweet_count"],
                reply_count=t["public_metrics"]["reply_count"],
                quote_count=t["public_metrics"]["quote_count"],
            )
            for t in originals
        ],
        account_created_at=parse_time(account["created_at"]),
        now=timezone.now(),
    ).total


def test_each_persona_gets_the_score_the_formula_predicts(
    sandbox, user_factory, django_capture_on_commit_callbacks, connect_x
):
    scores = {}
    for key in PERSONAS:
        user = user_factory()
        connection = connect_x(user, key, score=None)
        with django_capture_on_commit_callbacks(execute=True):
            breakdown = calculate_and_save_score(connection)
        connection.refresh_from_db()
        scores[key] = connection.x_score
        assert connection.x_score == breakdown.total == predicted_score(sandbox, key)
        assert connection.score_calculated_at is not None
        assert connection.followers_count == sandbox.account(key)["followers_count"]
        assert set(connection.score_components) == {
            "follower_quality",
            "engagement",
            "age",
            "activity",
            "list",
            "scale",
        }
        assert get_user_x_multiplier(user.pk) == connection.x_score
        mirrored = get_redis().hget(user_multipliers_key(user.pk), "x_multiplier")
        assert mirrored == str(connection.x_score)

    # Worked out by hand from the personas' data in docs/sandbox.md.
    assert scores == {
        "newbie": 1,
        "zero": 10,
        "reader": 25,
        "creator": 75,
        "influencer": 96,
    }


def test_a_failed_fetch_keeps_the_previous_score(sandbox, owner, connect_x):
    connection = connect_x(owner, "reader", score=None)
    XConnection.objects.filter(pk=connection.pk).update(x_score=42)
    sandbox.fault("GET /2/users/:id", status=503, times=None)

    from social.x_api import XUnavailable

    with pytest.raises(XUnavailable):
        calculate_and_save_score(connection)

    assert XConnection.objects.get(pk=connection.pk).x_score == 42


def test_a_token_that_no_longer_decrypts_ends_the_connection_not_the_task(
    sandbox, owner, connect_x
):
    connection = connect_x(owner, "reader", score=None)
    damaged = bytearray(connection.access_token_encrypted)
    damaged[-1] ^= 1
    XConnection.objects.filter(pk=connection.pk).update(
        access_token_encrypted=bytes(damaged)
    )

    result = calculate_x_score_task.apply(args=(connection.pk,))

    assert result.successful() and result.result is None  # no failure, no retry
    assert not XConnection.objects.filter(pk=connection.pk).exists()
    assert SecurityEvent.objects.get(user=owner).detail["reason"] == (
        "access_token_undecryptable"
    )
    # The next run finds nothing to do instead of failing again.
    assert calculate_x_score_task.apply(args=(connection.pk,)).successful()


@pytest.mark.django_db(transaction=True)
def test_connecting_queues_the_score_and_a_real_worker_computes_it(
    client, user_factory, sandbox, celery_worker
):
    user = user_factory()
    client.force_login(user)
    location = client.get("/auth/x/authorize")["Location"]
    callback = sandbox.authorize(location, account="creator")

    response = client.get(callback.replace("http://testserver", ""))

    assert response.status_code == 302
    connection = XConnection.objects.get(user=user)
    deadline = time.monotonic() + 20
    while connection.x_score is None and time.monotonic() < deadline:
        time.sleep(0.1)
        connection.refresh_from_db()
    assert connection.x_score == predicted_score(sandbox, "creator")
    assert get_user_x_multiplier(user.pk) == connection.x_score


@pytest.mark.django_db(transaction=True)
def test_a_429_is_retried_at_the_reset_time(
    user_factory, sandbox, celery_worker, connect_x
):
    connection = connect_x(user_factory(), "reader", score=None)
    reset = int(time.time()) + 2
    sandbox.fault(
        "GET /2/users/:id",
        status=429,
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )

    calculate_x_score_task.delay(connection.pk)

    deadline = time.monotonic() + 20
    while connection.x_score is None and time.monotonic() < deadline:
        time.sleep(0.1)
        connection.refresh_from_db()
    assert connection.x_score == predicted_score(sandbox, "reader")
    lookups = [
        r
        for r in sandbox.requests()["log"]
        if r["route"] == "GET /2/users/:id" or r["path"].endswith(connection.x_user_id)
    ]
    assert [r["status"] for r in lookups][:2] == [429, 200]
    assert connection.score_calculated_at.timestamp() >= reset


def test_the_scan_queues_exactly_the_due_connections(
    owner, user_factory, connection_factory
):
    from social.tasks import enqueue_due_score_calculations

    now = timezone.now()
    ages = {
        "never": None,
        "eight_days": now - timedelta(days=8),
        "seven_days": now - timedelta(days=7, minutes=1),
        "six_days": now - timedelta(days=6, hours=23),
        "today": now,
    }
    ids = {}
    for n, (name, calculated_at) in enumerate(ages.items()):
        user = user_factory()
        connection = connection_factory(user, x_user_id=f"77{n}", username=name)
        XConnection.objects.filter(pk=connection.pk).update(
            score_calculated_at=calculated_at
        )
        ids[name] = connection.pk

    with mock.patch.object(
        calculate_x_score_task, "apply_async", autospec=True
    ) as send:
        queued = enqueue_due_score_calculations(limit=100, spacing=3.2)

    assert queued == [ids["never"], ids["eight_days"], ids["seven_days"]]
    countdowns = [call.kwargs["countdown"] for call in send.call_args_list]
    assert countdowns == [0, 3.2, 6.4]


def test_the_multiplier_falls_back_to_postgresql(
    owned_redis, owner, sandbox, connect_x
):
    connection = connect_x(owner, "reader", score=None)
    XConnection.objects.filter(pk=connection.pk).update(x_score=37)

    # A miss in Redis reads PostgreSQL and mends the mirror.
    assert get_user_x_multiplier(owner.pk) == 37
    assert get_redis().hget(user_multipliers_key(owner.pk), "x_multiplier") == "37"

    # Redis down: PostgreSQL answers.
    XConnection.objects.filter(pk=connection.pk).update(x_score=38)
    with owned_redis.down():
        assert get_user_x_multiplier(owner.pk) == 38


def test_a_user_without_a_score_has_multiplier_1(owner):
    assert get_user_x_multiplier(owner.pk) == 1


def test_recalculate_x_scores_command(sandbox, user_factory, capsys, connect_x):
    due = connect_x(user_factory(), "reader", score=None)
    fresh = connect_x(user_factory(), "creator", score=None)
    XConnection.objects.filter(pk=fresh.pk).update(
        x_score=50, score_calculated_at=timezone.now()
    )

    call_command("recalculate_x_scores")
    out = capsys.readouterr().out
    assert "recalculate_x_scores: total=1 success=1 errors=0" in out
    assert f"@{due.x_username}" in out
    assert XConnection.objects.get(pk=fresh.pk).x_score == 50

    call_command("recalculate_x_scores", "--all")
    assert "total=2 success=2 errors=0" in capsys.readouterr().out
    assert XConnection.objects.get(pk=fresh.pk).x_score == predicted_score(
        sandbox, "creator"
    )

    call_command("recalculate_x_scores", "--user", str(due.user_id))
    assert "total=1 success=1" in capsys.readouterr().out


def test_the_owner_sees_the_breakdown_and_others_do_not(
    client, owner, other_user, sandbox, django_capture_on_commit_callbacks, connect_x
):
    connection = connect_x(owner, "creator", score=None)
    client.force_login(owner)
    assert "being calculated" in client.get(f"/members/{owner.pk}").content.decode()

    calculate_and_save_score(connection)
    body = client.get(f"/members/{owner.pk}").content.decode()
    connection.refresh_from_db()

    assert f"<strong>{connection.x_score}</strong>" in body
    for label in ("Follower quality", "Engagement", "Account age", "List presence"):
        assert label in body
    assert "refreshed after" in body
    client.force_login(other_user)
    assert "Follower quality" not in client.get(f"/members/{owner.pk}").content.decode()


def test_a_broker_outage_never_fails_the_connect(
    client, owner, sandbox, django_capture_on_commit_callbacks, caplog
):
    from kombu.exceptions import OperationalError

    client.force_login(owner)
    location = client.get("/auth/x/authorize")["Location"]
    callback = sandbox.authorize(location, account="reader")

    with (
        mock.patch.object(
            calculate_x_score_task,
            "delay",
            autospec=True,
            side_effect=OperationalError("broker down"),
        ) as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.get(callback.replace("http://testserver", ""))

    assert response.status_code == 302
    assert delay.call_count == 1
    assert XConnection.objects.filter(user=owner).exists()
    assert "not queued: OperationalError" in caplog.text


@pytest.fixture
def connection_saves():
    """What each XConnection save names: "x_score" or "other fields" for a save with
    update_fields, "full save" without."""
    saves = []

    def record(sender, update_fields, **kwargs):
        if update_fields is None:
            saves.append("full save")
        else:
            saves.append("x_score" if "x_score" in update_fields else "other fields")

    post_save.connect(record, sender=XConnection, weak=False, dispatch_uid="saves")
    yield saves
    post_save.disconnect(sender=XConnection, dispatch_uid="saves")


def test_only_a_changed_score_is_saved_as_a_score(
    sandbox, owner, connect_x, connection_saves
):
    """rewards mirrors x_multiplier from the saves that name x_score."""
    connection = connect_x(owner, "reader", score=None)
    calculate_and_save_score(connection)
    calculate_and_save_score(connection)  # X answers the same: the score stays
    XConnection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(minutes=5)
    )
    services.maybe_refresh_token(XConnection.objects.get(pk=connection.pk))
    connect_x(owner, "reader", score=None)  # the reader connects the same account

    assert connection_saves == [
        "full save",  # the first connect
        "x_score",
        "other fields",
        "other fields",  # the token refresh
        "other fields",  # the reconnect
    ]
    assert XConnection.objects.get(pk=connection.pk).x_score == 25


def test_a_score_that_arrives_after_a_disconnect_is_dropped(
    sandbox, owner, connect_x, django_capture_on_commit_callbacks
):
    connection = connect_x(owner, "reader", score=None)
    client = XApiClient.from_settings()
    fetch = client.fetch_score_data

    def fetch_while_the_reader_disconnects(*args):
        data = fetch(*args)
        services.disconnect_x_account(owner, revoke=False)
        return data

    with (
        mock.patch.object(
            client, "fetch_score_data", side_effect=fetch_while_the_reader_disconnects
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        calculate_and_save_score(connection, client=client)

    assert not XConnection.objects.filter(user=owner).exists()
    assert get_redis().hget(user_multipliers_key(owner.pk), "x_multiplier") is None
    assert get_user_x_multiplier(owner.pk) == 1
