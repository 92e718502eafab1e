"""A slow X never loses a share: the request keeps its claim for as long as X takes,
the stale-claim purge frees only claims nobody renews, and a retweet X accepted ends
in a reward or a clear message, never an error page."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from celery.schedules import crontab
from django.db import connections
from django.db.models import F
from django.db.models.functions import Now
from django.test import Client
from django.utils import timezone

from campaigns.models import ShareCampaign, ShareReward
from campaigns.services import create_pending_reward, delete_share_reward, share_to_x
from campaigns.services import lease as claims
from campaigns.tasks import purge_stale_claims_task

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_retries"),
]

RETWEET = "POST /2/users/:id/retweets"


class Share:
    """One click on Retweet & Like, made in its own thread, as a web process would."""

    def __init__(self, reader, campaign: ShareCampaign) -> None:
        self.answer = ""
        self.status = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._click, args=(reader, campaign))
        self._thread.start()

    def _click(self, reader, campaign: ShareCampaign) -> None:
        client = Client()
        client.force_login(reader)
        try:
            response = client.post(
                f"/campaigns/{campaign.pk}/share", HTTP_HX_REQUEST="true"
            )
            self.status = response.status_code
            self.answer = html.unescape(response.content.decode())
        except BaseException as error:  # an error page, as the reader would get
            self.error = error
        finally:
            connections.close_all()

    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self) -> Share:
        self._thread.join()
        return self


@pytest.fixture
def slow_retweet(sandbox, wait_for) -> Callable[[Any, ShareCampaign, float], Share]:
    """Start a share whose retweet X holds for `seconds` (then performs), and
    return once the request is waiting on X with its claim in place."""

    def start(reader, campaign: ShareCampaign, seconds: float) -> Share:
        sandbox.fault(RETWEET, hang=seconds)
        share = Share(reader, campaign)
        assert wait_for(lambda: not sandbox.state()["faults"])
        assert ShareReward.objects.get(user=reader).status == "pending"
        return share

    return start


def test_a_purge_whose_clock_runs_ahead_never_frees_a_claim_in_flight(
    reader, sandbox_campaign_factory, connect_x, slow_retweet, sandbox
):
    campaign = sandbox_campaign_factory()
    connect_x(reader, score=10)
    share = slow_retweet(reader, campaign, 4)

    # The purging server believes it is ten minutes later than it is.
    ahead = timezone.now() + timedelta(minutes=10)
    with mock.patch("django.utils.timezone.now", autospec=True, return_value=ahead):
        swept = claims.purge_stale_pending_rewards()
    share.wait()

    assert swept == 0
    assert share.error is None and share.status == 200
    assert "You earned 20 BUX!" in share.answer
    assert ShareReward.objects.get(user=reader).status == "verified"
    assert len(sandbox.retweets()) == 1


def test_x_slower_than_the_claim_age_keeps_the_claim_renewed(
    reader, sandbox_campaign_factory, connect_x, slow_retweet, monkeypatch
):
    """X takes longer than STALE_CLAIM_AGE while the purge runs again and again:
    the request renews its claim, so no purge frees it."""
    monkeypatch.setattr(claims, "STALE_CLAIM_AGE", timedelta(seconds=2))
    campaign = sandbox_campaign_factory()
    connect_x(reader, score=10)
    share = slow_retweet(reader, campaign, 5)

    freed = 0
    while share.running():
        freed += claims.purge_stale_pending_rewards()
        time.sleep(0.2)
    share.wait()

    assert freed == 0
    assert share.error is None and "You earned 20 BUX!" in share.answer
    assert ShareReward.objects.get(user=reader).status == "verified"


def test_a_claim_freed_while_x_answered_is_claimed_again_and_earns(
    reader, sandbox_campaign_factory, connect_x, slow_retweet, sandbox
):
    """Should the claim be freed anyway (its renewals could not reach the database,
    or an older release's sweeper ran during a deploy), X did retweet: the reader
    gets the place back and the reward."""
    campaign = sandbox_campaign_factory(max_participants=1)
    connect_x(reader, score=10)
    share = slow_retweet(reader, campaign, 3)

    assert delete_share_reward(ShareReward.objects.get(user=reader))
    share.wait()

    assert share.error is None and share.status == 200
    assert "You earned 20 BUX!" in share.answer
    reward = ShareReward.objects.get(user=reader)
    assert (reward.status, reward.bux_rewarded, reward.retweet_id) == (
        "verified",
        20,
        campaign.first_tweet.tweet_id,
    )
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 1
    assert len(sandbox.retweets()) == 1


def test_a_claim_freed_and_its_place_taken_meanwhile_says_so_plainly(
    reader, user_factory, sandbox_campaign_factory, connect_x, slow_retweet
):
    campaign = sandbox_campaign_factory(max_participants=1)
    connect_x(reader, score=10)
    share = slow_retweet(reader, campaign, 3)

    assert delete_share_reward(ShareReward.objects.get(user=reader))
    quicker = user_factory()
    connect_x(quicker, score=10)
    assert share_to_x(quicker, campaign).ok
    share.wait()

    assert share.error is None and share.status == 200
    assert (
        "Your retweet went through, but the campaign's last place was taken while X "
        "was answering, so this share earns no BUX." in share.answer
    )
    assert list(ShareReward.objects.values_list("user", "status")) == [
        (quicker.pk, "verified")
    ]
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 1


def test_a_claim_nobody_renews_is_freed_and_the_reader_can_share_again(
    reader, user_factory, sandbox_campaign_factory, connect_x
):
    campaign = sandbox_campaign_factory()
    connection = connect_x(reader, score=10)
    waiting = user_factory()
    waiting_connection = connect_x(waiting, score=10)
    # A web process died while X answered: nothing renews this claim any more.
    dead = create_pending_reward(reader, campaign, connection, amount=Decimal(20))
    ShareReward.objects.filter(pk=dead.pk).update(
        claim_renewed_at=Now() - claims.STALE_CLAIM_AGE - timedelta(seconds=1)
    )
    live = create_pending_reward(
        waiting, campaign, waiting_connection, amount=Decimal(20)
    )

    assert claims.purge_stale_pending_rewards() == 1

    assert list(ShareReward.objects.values_list("pk", flat=True)) == [live.pk]
    assert share_to_x(reader, campaign).ok


def test_renewing_a_claim_keeps_it_from_the_purge(
    reader, sandbox_campaign_factory, connect_x
):
    campaign = sandbox_campaign_factory()
    claim = create_pending_reward(
        reader, campaign, connect_x(reader), amount=Decimal(20)
    )
    ShareReward.objects.filter(pk=claim.pk).update(
        claim_renewed_at=F("claim_renewed_at") - claims.STALE_CLAIM_AGE * 2
    )

    assert claims.renew_claim(claim.pk)
    assert claims.purge_stale_pending_rewards() == 0
    assert ShareReward.objects.filter(pk=claim.pk, status="pending").exists()


def test_beat_frees_unrenewed_claims_every_minute(
    settings, reader, sandbox_campaign_factory, connect_x
):
    [entry] = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == purge_stale_claims_task.name
    ]
    assert entry["schedule"] == crontab()
    dead = create_pending_reward(
        reader, sandbox_campaign_factory(), connect_x(reader), amount=Decimal(20)
    )
    ShareReward.objects.filter(pk=dead.pk).update(
        claim_renewed_at=Now() - claims.STALE_CLAIM_AGE - timedelta(seconds=1)
    )

    assert purge_stale_claims_task.apply().get() == 1
    assert not ShareReward.objects.filter(pk=dead.pk).exists()
