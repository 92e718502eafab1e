"""A share made while Redis (cache, sessions, broker and mirror in one) is stopped:
the reader is told it worked, and once Redis is back the sweeper queues the mint and
the repair mirrors it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from blockster.redis_client import get_redis
from campaigns.models import ShareReward
from rewards.mirror import schema
from rewards.services import sweep_rewards
from rewards.tasks import repair_mirror_task

pytestmark = pytest.mark.usefixtures("fast_retries")

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.django_db(transaction=True)
def test_a_share_made_while_redis_is_down_is_minted_and_mirrored_when_it_returns(
    owned_redis,
    celery_worker,
    client,
    reader,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    page_text,
    wait_for,
):
    campaign = sandbox_campaign_factory()
    connect_x(reader, score=10)
    client.force_login(reader)

    with owned_redis.down():
        response = client.post(f"/campaigns/{campaign.pk}/share", **HTMX)
        body = page_text(response)
        assert response.status_code == 200
        assert "You earned 20 BUX" in body and "Minting your BUX" in body
        reward = ShareReward.objects.get(user=reader, campaign=campaign)
        assert reward.status == "verified" and sandbox.mints() == []

    # Once the broker is back, the sweeper queues the mint (it waits a minute of
    # quiet, skipped here) and the periodic repair mirrors the reward.
    ShareReward.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    assert sweep_rewards()["queued"] == 1
    assert wait_for(lambda: ShareReward.objects.get(pk=reward.pk).status == "rewarded")
    repair_mirror_task()

    key = schema.share_reward_key(reader.pk, campaign.pk, campaign.first_tweet.pk)
    stored = get_redis().hgetall(key)
    assert stored["status"] == "rewarded"
    page = page_text(client.get(f"/members/{reader.pk}"))
    assert "Retweeted" in page and "+20" in page
    assert "Showing X shares only" not in page
    assert len(sandbox.mints()) == 1
