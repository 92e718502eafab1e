"""What the share box says while a reward moves on: one `data-state` element per
state, the minter's retries told with the time of the next attempt (and no polling
until then), a share left in flight in another tab resolved by polling."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import ShareReward
from rewards.services.minting import mint_retry_delay

STATE = re.compile(r'data-state="([^"]+)"')
POLLS = 'hx-trigger="every 3s"'


def box_of(client, reward: ShareReward) -> str:
    return client.get(f"/campaigns/{reward.campaign_id}/box").content.decode()


@pytest.fixture
def reader(client, owner, connection_factory):
    owner.wallet_address = "0x" + "5" * 40
    owner.save()
    connection_factory(owner)
    client.force_login(owner)
    return owner


def test_a_mint_retried_after_a_failure_says_when_and_stops_polling(
    client, reader, reward_factory, settings
):
    settings.BUX_MINT_RETRY_BASE_SECONDS = 600
    failed_at = timezone.now().replace(microsecond=0)
    reward = reward_factory(
        reader, verified=True, bux_rewarded=Decimal("40"), mint_attempts=2
    )
    ShareReward.objects.filter(pk=reward.pk).update(
        failure_reason="Mint failed: the minter did not answer", updated_at=failed_at
    )
    next_attempt = failed_at + timedelta(seconds=mint_retry_delay(2))

    box = box_of(client, reward)

    assert STATE.findall(box) == ["minter-retrying"]
    text = " ".join(re.sub(r"<[^>]+>", " ", box).split())
    assert (
        "The minter is not answering; we retry automatically. Next attempt around "
        f"{next_attempt:%H:%M} ." in text
    )
    assert POLLS not in box
    reload = re.search(r'hx-trigger="load delay:(\d+)s"', box)
    assert reload is not None
    delay = int(reload.group(1))
    assert 1150 <= delay <= 1201  # 1,200 s after the failure, less the test's time


def test_at_the_next_attempt_the_box_polls_again(client, reader, reward_factory):
    reward = reward_factory(reader, minting=True)

    box = box_of(client, reward)

    assert STATE.findall(box) == ["minting"] and POLLS in box


def test_a_retry_already_due_keeps_polling(client, reader, reward_factory, settings):
    settings.BUX_MINT_RETRY_BASE_SECONDS = 1
    reward = reward_factory(reader, verified=True, mint_attempts=1)
    ShareReward.objects.filter(pk=reward.pk).update(
        failure_reason="Mint failed: refused",
        updated_at=timezone.now() - timedelta(minutes=5),
    )

    box = box_of(client, reward)

    assert STATE.findall(box) == ["minter-retrying"] and POLLS in box


def test_a_share_left_sharing_in_another_tab_polls_until_it_resolves(
    client, reader, reward_factory
):
    reward = reward_factory(reader)  # pending: X has not answered yet
    assert POLLS in box_of(client, reward)

    ShareReward.objects.filter(pk=reward.pk).update(
        status="verified", retweet_id=reward.campaign.first_tweet.tweet_id
    )

    box = box_of(client, reward)
    assert STATE.findall(box) == ["minting"] and "Retweeted!" in box


@pytest.mark.parametrize(
    ("traits", "state"),
    [
        ({}, "sharing"),
        ({"status": "shared"}, "confirming"),
        ({"verified": True}, "minting"),
        ({"awaiting_wallet": True}, "waiting-for-wallet"),
        ({"flagged": True}, "operator"),
        ({"rewarded": True}, "rewarded"),
        ({"failed": True}, "failed"),
    ],
)
def test_each_reward_state_has_one_data_state_element(
    client, reader, reward_factory, traits, state
):
    reward = reward_factory(reader, **traits)

    assert STATE.findall(box_of(client, reward)) == [state]


def test_the_open_box_names_its_state(client, owner, campaign_factory, user_factory):
    campaign = campaign_factory()
    url = f"/campaigns/{campaign.pk}/box"

    assert STATE.findall(client.get(url).content.decode()) == ["sign-in"]
    client.force_login(user_factory())
    assert STATE.findall(client.get(url).content.decode()) == ["connect-x"]


def test_a_post_without_a_campaign_offers_a_plain_share(client, owner, post_factory):
    post = post_factory(author=owner)

    page = client.get(post.get_absolute_url()).content.decode()

    assert STATE.findall(page) == ["share-only"]
