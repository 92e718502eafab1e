"""Redis restarted empty: until a backfill or repair has rebuilt the mirror, the
member page is answered from PostgreSQL (never "No activity yet." for a reader with
rewards), a repair is queued once, and the backfill restores the X multipliers."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from blockster.celery import job_queue
from blockster.redis_client import get_mirror_redis, get_redis
from rewards.mirror import backfill, schema, write
from rewards.mirror.check import check_mirror
from social.models import XConnection
from tests.rewards.mirror_helpers import at, is_built

FROM_POSTGRESQL = "Showing X shares only"


@pytest.fixture
def rewarded(owner, reward_factory):
    """Two rewarded shares of the owner, mirrored by a backfill."""
    rows = [
        reward_factory(owner, rewarded=True, rewarded_at=at(60 * n)) for n in (1, 2)
    ]
    backfill.sync_all_share_rewards()
    return rows


def queued_messages() -> int:
    return get_redis().llen(job_queue("mirror"))


def test_after_an_empty_restart_the_feed_comes_from_postgresql_and_a_repair_is_queued(
    owned_redis, rewarded, client, owner, page_text
):
    before = page_text(client.get(f"/members/{owner.pk}"))
    assert "Retweeted" in before and FROM_POSTGRESQL not in before

    with owned_redis.down():
        pass  # back empty: the mirror, its marker and the broker's queues are gone
    pages = [page_text(client.get(f"/members/{owner.pk}")) for _ in range(3)]

    for page in pages:
        assert "No activity yet." not in page
        assert page.count("Retweeted") == 2 and FROM_POSTGRESQL in page
    assert queued_messages() == 1  # one repair, however many readers


def test_a_live_write_before_the_rebuild_does_not_make_the_feed_look_complete(
    owned_redis, rewarded, owner, reward_factory, client, page_text
):
    with owned_redis.down():
        pass
    newest = reward_factory(owner, rewarded=True, rewarded_at=at(1))
    write.sync_share_reward(*schema.reward_ref(newest))

    page = page_text(client.get(f"/members/{owner.pk}"))

    assert page.count("Retweeted") == 3 and FROM_POSTGRESQL in page


@pytest.mark.django_db(transaction=True)
def test_the_queued_repair_rebuilds_the_mirror_and_the_feed_is_read_from_redis_again(
    owned_redis, celery_worker, owner, reward_factory, client, page_text, wait_for
):
    reward_factory(owner, rewarded=True, rewarded_at=at(60))
    with owned_redis.down():
        pass

    assert FROM_POSTGRESQL in page_text(client.get(f"/members/{owner.pk}"))
    assert wait_for(lambda: is_built(get_mirror_redis()))

    page = page_text(client.get(f"/members/{owner.pk}"))
    assert "Retweeted" in page and FROM_POSTGRESQL not in page
    assert check_mirror().in_sync


def test_a_member_without_rewards_sees_no_activity_once_the_mirror_is_built(
    owned_redis, client, owner, page_text
):
    call_command("check_mirror", "--repair")

    page = page_text(client.get(f"/members/{owner.pk}"))

    assert "No activity yet." in page and FROM_POSTGRESQL not in page


def test_the_backfill_restores_the_x_multipliers(
    owned_redis, owner, other_user, connection_factory, capsys
):
    for user, score in ((owner, 37), (other_user, 81)):
        connection = connection_factory(user)
        XConnection.objects.filter(pk=connection.pk).update(x_score=score)
    with owned_redis.down():
        pass

    call_command("sync_share_rewards_to_redis")

    redis = get_mirror_redis()
    for user, score in ((owner, 37), (other_user, 81)):
        key = schema.user_multipliers_key(user.pk)
        assert redis.hget(key, "x_multiplier") == str(score)
    assert is_built(redis)
    assert "x_multipliers=2" in capsys.readouterr().out
    assert check_mirror().in_sync


def test_a_backfill_during_which_redis_restarts_does_not_mark_the_mirror_built(
    owned_redis, owner, reward_factory
):
    for n in range(4):
        reward_factory(owner, rewarded=True, rewarded_at=at(60 * (n + 1)))
    restarts: list[int] = []

    def restart_after_the_first_batch(done: int, total: int) -> None:
        if not restarts:
            restarts.append(done)
            with owned_redis.down():
                pass

    result = backfill.sync_all_share_rewards(
        batch_size=2, progress=restart_after_the_first_batch
    )

    # Every write went through, but the first batch's went to a server now gone.
    assert restarts == [2] and result["errors"] == 0
    assert not is_built(get_mirror_redis())
