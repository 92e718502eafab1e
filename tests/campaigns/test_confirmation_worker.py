"""The confirmation on X run by real Celery workers against the sandbox's faults:
looks retried while X fails or lags, never judged on a failure, never minting twice,
also when the worker dies in the middle of a look."""

from __future__ import annotations

import time
from unittest import mock
from urllib.parse import urlsplit

import pytest

from campaigns.models import ShareCampaign, ShareReward
from campaigns.services import share_to_x
from campaigns.services.confirm import ConfirmResult, confirm_share
from campaigns.tasks import confirm_share_task
from rewards.reasons import NOT_SEEN_ON_X
from social.models import XConnection

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_retries", "confirm_shares"),
]

Status = ShareReward.Status
TIMELINE = "GET /2/users/:id/tweets"


def status_of(reward: ShareReward) -> str:
    return ShareReward.objects.get(pk=reward.pk).status


def timeline_reads(sandbox) -> int:
    return sandbox.requests(limit=0)["by_route"].get(TIMELINE, {}).get("requests", 0)


def test_the_worker_confirms_through_x_failures_and_lag_then_mints_once(
    reader, sandbox_campaign_factory, connect_x, sandbox, celery_worker, wait_for
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    sandbox.set_timeline_lag(1)
    # X fails every read until cleared: the share must wait, not fail.
    sandbox.fault(TIMELINE, status=503, times=None)

    reward = share_to_x(reader, campaign).reward
    assert reward is not None and reward.status == Status.SHARED
    assert wait_for(lambda: timeline_reads(sandbox) >= 6)
    assert status_of(reward) == Status.SHARED
    assert ShareReward.objects.get(pk=reward.pk).confirm_attempts == 0

    sandbox.clear_faults()
    sandbox.fault(TIMELINE, status=429, headers={"x-rate-limit-reset": "0"})

    assert wait_for(lambda: status_of(reward) == Status.REWARDED)
    reward.refresh_from_db()
    assert reward.confirm_attempts == 1  # the lagging read, not X's failures
    assert len(sandbox.mints()) == 1
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 1
    time.sleep(1)  # nothing else is on its way
    assert len(sandbox.mints()) == 1


def test_the_worker_fails_a_retweet_undone_before_it_was_seen(
    reader, sandbox_campaign_factory, connect_x, sandbox, celery_worker, wait_for
):
    campaign = sandbox_campaign_factory()
    connect_x(reader, "reader")
    sandbox.fault(TIMELINE, status=500, times=None)
    reward = share_to_x(reader, campaign).reward
    assert reward is not None
    assert wait_for(lambda: timeline_reads(sandbox) > 0)

    sandbox.undo_retweet("reader", campaign.first_tweet.tweet_id)
    sandbox.clear_faults()

    assert wait_for(lambda: status_of(reward) == Status.FAILED)
    reward.refresh_from_db()
    assert reward.failure_reason == NOT_SEEN_ON_X
    assert reward.confirm_attempts == 2  # the third look failed it
    assert sandbox.mints() == []


def test_a_worker_killed_mid_look_is_redelivered_and_confirms_once(
    reader, sandbox_campaign_factory, connect_x, sandbox, worker_process, wait_for
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    with mock.patch("campaigns.services.claim.request_confirmation", autospec=True):
        reward = share_to_x(reader, campaign).reward
    assert reward is not None and reward.status == Status.SHARED
    worker = worker_process(idempotent=False)
    # X takes its time to answer the look: the worker dies waiting.
    sandbox.fault(TIMELINE, hang=10)

    confirm_share_task.apply_async((reward.pk,), queue=worker.queue)
    assert wait_for(lambda: not sandbox.pending_faults())
    worker.kill_pool_child()

    assert wait_for(lambda: status_of(reward) == Status.REWARDED, timeout=40)
    assert len(sandbox.mints()) == 1
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 1


def test_a_reader_who_reconnects_x_has_the_share_confirmed_at_once(
    client, reader, sandbox_campaign_factory, sandbox, celery_worker, wait_for
):
    campaign = sandbox_campaign_factory()
    client.force_login(reader)
    connect_through_x(client, sandbox, "reader")
    # The worker works out the new connection's X score, which the reward needs.
    assert wait_for(lambda: XConnection.objects.get(user=reader).x_score is not None)
    with mock.patch("campaigns.services.claim.request_confirmation", autospec=True):
        outcome = share_to_x(reader, campaign)
    assert outcome.reward is not None, outcome.message
    reward = outcome.reward
    assert reward.status == Status.SHARED
    sandbox.revoke_tokens("reader")
    # X refuses the token: the reader is asked to reconnect, the place is kept.
    assert confirm_share(reward.pk).result == ConfirmResult.RECONNECT
    assert not XConnection.objects.filter(user=reader).exists()

    connect_through_x(client, sandbox, "reader")

    # Looked for on reconnecting, not at the sweeper's next pass (none runs here).
    assert wait_for(lambda: status_of(reward) == Status.REWARDED)
    assert len(sandbox.mints()) == 1


def connect_through_x(client, sandbox, account: str) -> None:
    """The Connect button, X's consent page and the callback, over HTTP."""
    started = client.get("/auth/x/authorize", {"redirect_to": "/"})
    location = urlsplit(sandbox.authorize(started["Location"], account=account))
    assert location.path == "/auth/x/callback"
    assert client.get(f"{location.path}?{location.query}").status_code == 302
    assert XConnection.objects.filter(user=client.session["_auth_user_id"]).exists()
