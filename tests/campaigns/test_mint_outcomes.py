"""What each minter answer does to a reward, in production mode (a minter that ignores
Idempotency-Key) and with an idempotent one: only an answer that proves nothing was
minted is retried, unless the minter deduplicates."""

from __future__ import annotations

import time

import pytest

from campaigns.models import ShareReward
from campaigns.services import share_to_x
from rewards.services import retry_minting, sweep_rewards
from rewards.services.operator_queue import CHECK_MINTER
from sandbox.testing import Sandbox, SandboxProcess

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_retries", "fast_mint_retries"),
]

MINT = "POST /minter/mint"


@pytest.fixture
def fast_mint_retries(settings):
    settings.BUX_MINT_RETRY_BASE_SECONDS = 0.1


def reward_of(user) -> ShareReward:
    return ShareReward.objects.get(user=user)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_after_minting_goes_to_the_operator_queue_and_is_never_sent_again(
    reader,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    celery_worker,
    status,
    wait_for,
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    # The minter sent the transaction, then answered an error (or its proxy did).
    sandbox.fault(MINT, status=status, when="after")

    assert share_to_x(reader, campaign).ok
    assert wait_for(lambda: reward_of(reader).needs_operator)
    sweep_rewards()
    time.sleep(0.5)  # no retry comes, from the task or the sweeper

    reward = reward_of(reader)
    assert reward.status == "verified"
    assert reward.failure_reason.startswith(
        f"Mint outcome unknown: minter answered {status}"
    )
    assert reward.failure_reason.endswith(CHECK_MINTER)
    assert "<html" not in reward.failure_reason  # a proxy's page is not kept
    assert sandbox.mint_requests() == 1
    assert len(sandbox.mints()) == 1


def test_an_answer_cut_after_minting_goes_to_the_operator_queue(
    reader, sandbox_campaign_factory, connect_x, sandbox, celery_worker, wait_for
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    sandbox.fault(MINT, drop=True, when="after")

    share_to_x(reader, campaign)
    assert wait_for(lambda: reward_of(reader).needs_operator)
    time.sleep(0.5)

    assert "Mint outcome unknown" in reward_of(reader).failure_reason
    assert sandbox.mint_requests() == 1 and len(sandbox.mints()) == 1


@pytest.mark.parametrize("status", [500, 504])
def test_an_idempotent_minter_is_asked_again_and_answers_with_the_first_mint(
    reader,
    sandbox_campaign_factory,
    connect_x,
    idempotent_minter,
    sandbox,
    celery_worker,
    status,
    wait_for,
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    sandbox.fault(MINT, status=status, when="after")

    share_to_x(reader, campaign)
    assert wait_for(lambda: reward_of(reader).status == "rewarded")

    (mint,) = sandbox.mints()
    assert reward_of(reader).tx_hash == mint["transactionHash"]
    assert sandbox.mint_requests() == 2


def test_a_minter_refusing_connections_is_retried_and_mints_once(
    reader,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    settings,
    celery_worker,
    wait_for,
):
    settings.BUX_MINT_MAX_ATTEMPTS = 20
    settings.BUX_MINT_RETRY_BASE_SECONDS = 0.3
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    # A minter of its own, stopped: connections are refused, so nothing was sent.
    minter = SandboxProcess(args=["--quiet", "--minter-ignores-idempotency-key"])
    minter.start()
    minter.stop()
    settings.BUX_MINTER_URL = f"{minter.url}/minter"
    try:
        share_to_x(reader, campaign)
        assert wait_for(lambda: "unreachable" in reward_of(reader).failure_reason)
        minter.start()  # the same port and state: the minter is back
        assert wait_for(lambda: reward_of(reader).status == "rewarded")
        handle = Sandbox(minter.url)
        (mint,) = handle.mints()
        handle.close()
    finally:
        minter.cleanup()
    assert reward_of(reader).tx_hash == mint["transactionHash"]
    assert sandbox.mints() == []


def test_a_refused_secret_is_retried_then_waits_for_an_operator_and_mints_nothing(
    reader,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    settings,
    celery_worker,
    wait_for,
):
    settings.BUX_MINT_MAX_ATTEMPTS = 2
    settings.BUX_MINTER_SECRET = "not-the-minters-secret"
    campaign = sandbox_campaign_factory()
    connect_x(reader)

    share_to_x(reader, campaign)
    assert wait_for(lambda: reward_of(reader).needs_operator)
    time.sleep(0.5)

    reward = reward_of(reader)
    assert reward.mint_attempts == 2 and reward.status == "verified"
    assert "refused our credentials (403)" in reward.failure_reason
    assert "BUX_MINTER_SECRET" in reward.failure_reason
    assert "not-the-minters-secret" not in reward.failure_reason
    assert "Nothing was minted" in reward.failure_reason
    assert sandbox.mint_requests() == 2 and sandbox.mints() == []

    settings.BUX_MINTER_SECRET = sandbox.minter_secret  # the deploy is fixed
    assert retry_minting(reward)
    assert wait_for(lambda: reward_of(reader).status == "rewarded")
    assert len(sandbox.mints()) == 1
