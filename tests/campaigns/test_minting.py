"""Minting BUX through a real Celery worker and the sandbox minter: once, never lost."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from campaigns.models import ShareReward
from campaigns.services import share_to_x
from rewards.minter import MinterClient
from rewards.services import mint_share_reward, retry_minting, sweep_rewards

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_retries", "fast_mint_retries"),
]


@pytest.fixture
def fast_mint_retries(settings):
    settings.BUX_MINT_RETRY_BASE_SECONDS = 0.1


def reward_of(user) -> ShareReward:
    return ShareReward.objects.get(user=user)


def rewarded(user) -> bool:
    return reward_of(user).status == "rewarded"


def test_a_share_is_minted_once_to_the_readers_wallet(
    client,
    reader,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    settings,
    celery_worker,
    page_text,
    wait_for,
):
    settings.BUX_EXPLORER_TX_URL = "https://explorer.example/tx/{tx}"
    campaign = sandbox_campaign_factory(bux_reward=Decimal("4"))
    connect_x(reader, score=25)

    assert share_to_x(reader, campaign).ok
    assert wait_for(lambda: rewarded(reader))

    reward = reward_of(reader)
    (mint,) = sandbox.mints()
    assert mint["transactionHash"] == reward.tx_hash
    assert mint["walletAddress"] == reader.wallet_address
    assert Decimal(str(mint["amount"])) == reward.bux_rewarded == Decimal("100")
    assert mint["idempotencyKey"] == f"share-reward-{reward.pk}"
    assert mint["postId"] == campaign.post_id
    client.force_login(reader)
    response = client.get(campaign.post.get_absolute_url())
    assert "Earned 100 BUX" in page_text(response)
    assert f"https://explorer.example/tx/{reward.tx_hash}" in response.content.decode()


def test_a_minter_outage_is_retried_and_mints_once(
    reader,
    sandbox_campaign_factory,
    connect_x,
    idempotent_minter,
    sandbox,
    celery_worker,
    wait_for,
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    sandbox.fault("POST /minter/mint", status=503, times=2)

    assert share_to_x(reader, campaign).ok
    assert wait_for(lambda: rewarded(reader))

    assert len(sandbox.mints()) == 1
    assert reward_of(reader).mint_attempts == 3


def test_out_of_attempts_the_reward_goes_to_the_operator_queue_and_a_retry_mints_it(
    reader,
    sandbox_campaign_factory,
    connect_x,
    idempotent_minter,
    sandbox,
    settings,
    celery_worker,
    wait_for,
):
    settings.BUX_MINT_MAX_ATTEMPTS = 2
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    sandbox.fault("POST /minter/mint", status=500, times=None)

    share_to_x(reader, campaign)
    assert wait_for(lambda: reward_of(reader).needs_operator)
    time.sleep(0.5)  # nothing more is attempted

    reward = reward_of(reader)
    assert reward.status == "verified" and reward.mint_attempts == 2
    assert reward.failure_reason.startswith(
        "Mint outcome unknown after 2 attempts: minter answered 500"
    )
    assert "Retrying is safe" in reward.failure_reason
    assert sandbox.mints() == []
    sweep_rewards()  # the sweeper leaves the operator queue to an operator
    time.sleep(0.3)
    assert reward_of(reader).mint_attempts == 2

    sandbox.clear_faults()
    assert retry_minting(reward)
    assert wait_for(lambda: rewarded(reader))
    assert len(sandbox.mints()) == 1


def test_a_mint_whose_answer_is_lost_is_retried_with_the_same_key(
    reader,
    sandbox_campaign_factory,
    connect_x,
    idempotent_minter,
    sandbox,
    settings,
    celery_worker,
    wait_for,
):
    settings.BUX_MINTER_READ_TIMEOUT = 0.5
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    # The minter mints, then answers too late for our client.
    sandbox.fault("POST /minter/mint", hang=1.5, when="after")

    share_to_x(reader, campaign)
    assert wait_for(lambda: rewarded(reader))

    assert len(sandbox.mints()) == 1
    assert reward_of(reader).tx_hash == sandbox.mints()[0]["transactionHash"]


def test_without_idempotency_a_lost_answer_waits_for_an_operator(
    reader,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    settings,
    celery_worker,
    wait_for,
):
    settings.BUX_MINTER_IDEMPOTENT = False
    settings.BUX_MINTER_READ_TIMEOUT = 0.5
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    sandbox.fault("POST /minter/mint", hang=1.5, when="after")

    share_to_x(reader, campaign)
    assert wait_for(lambda: reward_of(reader).needs_operator)
    sweep_rewards()
    time.sleep(2)

    reward = reward_of(reader)
    assert reward.status == "verified"
    assert "outcome unknown" in reward.failure_reason
    assert len(sandbox.mints()) == 1  # minted once, never twice


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_worker_killed_mid_mint_never_mints_twice(
    reader, sandbox_campaign_factory, connect_x, sandbox, settings, idempotent
):
    settings.BUX_MINTER_IDEMPOTENT = idempotent
    sandbox.ignore_idempotency_keys(not idempotent)
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    with mock.patch("campaigns.services.claim.request_mint", autospec=True):
        share_to_x(reader, campaign)
    reward = reward_of(reader)
    assert reward.bux_rewarded is not None
    # What a worker killed after sending leaves behind: a claimed attempt with no
    # recorded answer, and a mint the minter did make.
    MinterClient.from_settings().mint(
        wallet_address=reader.wallet_address,
        amount=reward.bux_rewarded,
        user_id=reader.pk,
        post_id=campaign.post_id,
        idempotency_key=f"share-reward-{reward.pk}",
    )
    ShareReward.objects.filter(pk=reward.pk).update(
        mint_started_at=timezone.now() - timedelta(hours=1), mint_attempts=1
    )

    mint_share_reward(reward.pk)  # the redelivered task
    mint_share_reward(reward.pk)

    reward.refresh_from_db()
    assert len(sandbox.mints()) == 1
    if idempotent:
        assert reward.status == "rewarded"
        assert reward.tx_hash == sandbox.mints()[0]["transactionHash"]
    else:
        assert reward.status == "verified" and reward.needs_operator


def test_a_broker_outage_at_click_time_is_recorded_and_swept_later(
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
    connect_x(reader)
    client.force_login(reader)
    with owned_redis.down():  # the broker (and the rest of Redis) stopped
        response = client.post(
            f"/campaigns/{campaign.pk}/share", HTTP_HX_REQUEST="true"
        )

    body = page_text(response)
    assert "You earned" in body and "Minting your BUX" in body
    time.sleep(0.5)
    assert reward_of(reader).status == "verified" and sandbox.mints() == []

    ShareReward.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    assert sweep_rewards()["queued"] == 1
    assert wait_for(lambda: rewarded(reader))
    sweep_rewards()
    time.sleep(0.3)
    assert len(sandbox.mints()) == 1


def test_a_reader_without_wallet_is_minted_after_adding_one(
    client,
    user_factory,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    celery_worker,
    page_text,
    wait_for,
):
    reader = user_factory()
    campaign = sandbox_campaign_factory()
    connect_x(reader)

    assert share_to_x(reader, campaign).ok
    assert wait_for(
        lambda: reward_of(reader).failure_reason == "Waiting for a wallet address"
    )
    client.force_login(reader)
    page = page_text(client.get(campaign.post.get_absolute_url()))
    assert "waiting for a wallet address" in page
    assert sandbox.mints() == []

    client.post(
        "/settings/", {"wallet_address": "0x52908400098527886e0f7030069857d2e4169ee7"}
    )

    assert wait_for(lambda: rewarded(reader))
    assert sandbox.mints()[0]["walletAddress"] == (
        "0x52908400098527886E0F7030069857D2E4169EE7"
    )


def test_answers_lost_every_time_stop_after_the_last_attempt(
    reader,
    sandbox_campaign_factory,
    connect_x,
    idempotent_minter,
    sandbox,
    settings,
    celery_worker,
    wait_for,
):
    settings.BUX_MINT_MAX_ATTEMPTS = 2
    settings.BUX_MINTER_READ_TIMEOUT = 0.3
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    sandbox.fault("POST /minter/mint", hang=1.0, when="after", times=None)

    share_to_x(reader, campaign)
    assert wait_for(lambda: reward_of(reader).mint_attempts == 2)
    time.sleep(1.5)  # no third attempt comes

    reward = reward_of(reader)
    assert reward.mint_attempts == 2 and reward.status == "verified"
    assert reward.failure_reason.startswith("Mint outcome unknown")
    assert len(sandbox.mints()) == 1  # the same key was replayed, never re-minted
