"""A minter that refuses a mint (400) is asked once. A wallet it refuses waits for the
reader to fix it in Settings; any other refusal fails the reward, with its reason. The
box stops polling and says which."""

from __future__ import annotations

import time

import pytest

from campaigns.models import ShareReward
from campaigns.services import share_to_x
from rewards.services import sweep_rewards

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_retries", "fast_mint_retries"),
]

MINT = "POST /minter/mint"
NEW_WALLET = "0x00000000219ab540356cBB839Cbe05303d7705Fa"
POLLING = 'hx-trigger="every 3s"'


@pytest.fixture
def fast_mint_retries(settings):
    settings.BUX_MINT_RETRY_BASE_SECONDS = 0.1


def reward_of(user) -> ShareReward:
    return ShareReward.objects.get(user=user)


def box_of(client, campaign) -> str:
    response = client.get(f"/campaigns/{campaign.pk}/box")
    assert response.status_code == 200
    return response.content.decode()


def test_an_invalid_amount_is_refused_once_and_the_reward_fails_with_its_reason(
    client,
    admin_client,
    reader,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    celery_worker,
    page_text,
    wait_for,
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    sandbox.fault(MINT, status=400, times=None)  # "amount must be a positive number"

    assert share_to_x(reader, campaign).ok
    assert wait_for(lambda: reward_of(reader).status == "failed")
    sweep_rewards()
    time.sleep(0.5)  # nothing asks the minter again

    reward = reward_of(reader)
    assert reward.failure_reason == (
        "The minter refused this mint: amount must be a positive number"
    )
    assert sandbox.mint_requests() == 1 and sandbox.mints() == []
    client.force_login(reader)
    box = box_of(client, campaign)
    assert 'data-state="failed"' in box
    assert POLLING not in box
    assert "The minter refused to mint it (amount must be a positive number)" in (
        " ".join(box.split())
    )
    admin_list = page_text(admin_client.get("/admin/campaigns/sharereward/"))
    assert "The minter refused this mint: amount must be a positive number" in (
        admin_list
    )


def test_a_refused_wallet_waits_for_the_reader_and_a_fixed_one_is_minted(
    client,
    admin_client,
    reader,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    celery_worker,
    page_text,
    wait_for,
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    sandbox.fault(MINT, status=400, body={"error": "Invalid wallet address format"})

    share_to_x(reader, campaign)
    assert wait_for(lambda: reward_of(reader).waiting_for_wallet)
    sweep_rewards()
    time.sleep(0.5)

    reward = reward_of(reader)
    assert reward.status == "verified" and not reward.needs_operator
    assert sandbox.mint_requests() == 1 and sandbox.mints() == []
    client.force_login(reader)
    box = " ".join(box_of(client, campaign).split())
    assert 'data-state="waiting-for-wallet"' in box
    assert POLLING not in box
    assert "could not use your wallet address (Invalid wallet address format)" in box
    assert "Fix your wallet address in Settings" in box
    assert f'href="/settings/?next={campaign.post.get_absolute_url()}' in box
    waiting = page_text(
        admin_client.get("/admin/campaigns/sharereward/?waiting_for_wallet__exact=1")
    )
    assert "Waiting for the reader : The minter refused the wallet address" in waiting

    saved = client.post("/settings/", {"wallet_address": NEW_WALLET.lower()})
    assert saved.status_code == 302

    assert wait_for(lambda: reward_of(reader).status == "rewarded")
    (mint,) = sandbox.mints()
    assert mint["walletAddress"] == NEW_WALLET
    assert sandbox.mint_requests() == 2


def test_a_reader_without_a_wallet_sees_it_asked_for_and_no_polling(
    client,
    user_factory,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    celery_worker,
    wait_for,
):
    reader = user_factory()
    campaign = sandbox_campaign_factory()
    connect_x(reader)

    share_to_x(reader, campaign)
    assert wait_for(lambda: reward_of(reader).waiting_for_wallet)

    client.force_login(reader)
    box = " ".join(box_of(client, campaign).split())
    assert 'data-state="waiting-for-wallet"' in box
    assert "Your BUX are waiting for a wallet address" in box
    assert POLLING not in box
    assert sandbox.mint_requests() == 0
