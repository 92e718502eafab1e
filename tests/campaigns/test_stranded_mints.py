"""A mint whose worker died with no answer recorded, and nothing left to redeliver its
task (the whole worker died, or the broker restarted empty), is never left "minting":
once its lease runs out the sweeper hands it to an operator (or, with an idempotent
minter, asks again with the same key), and the reader is told."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from campaigns.models import ShareReward
from campaigns.services import share_to_x
from rewards.services import sweep_rewards
from rewards.services.operator_queue import CHECK_MINTER
from rewards.tasks import mint_bux_task

# Where an operator's retry queues the mint.
OPERATOR_RETRY_QUEUES = "rewards.services.operator_queue.request_mint"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_retries"),
]

REWARDS_URL = "/admin/campaigns/sharereward/"
POLLING = 'hx-trigger="every 3s"'


@pytest.fixture
def stranded(
    reader, sandbox_campaign_factory, connect_x, sandbox, worker_process, wait_for
):
    """`make(idempotent=...)`: a reward whose mint reached the minter (and minted)
    while its worker was killed, whole, waiting for the answer; then its lease ran
    out."""

    def make(*, idempotent: bool) -> ShareReward:
        campaign = sandbox_campaign_factory()
        connect_x(reader)
        with mock.patch("campaigns.services.claim.request_mint", autospec=True):
            assert share_to_x(reader, campaign).ok
        reward = ShareReward.objects.get(user=reader)
        worker = worker_process(idempotent=idempotent)
        sandbox.fault("POST /minter/mint", hang=30, when="after")
        mint_bux_task.apply_async((reward.pk,), queue=worker.queue)
        assert wait_for(lambda: len(sandbox.mints()) == 1)
        worker.kill()
        # The lease runs out: what the passing of BUX_MINT_LEASE_SECONDS does.
        an_hour_ago = timezone.now() - timedelta(hours=1)
        ShareReward.objects.filter(pk=reward.pk).update(
            mint_started_at=an_hour_ago, updated_at=an_hour_ago
        )
        reward.refresh_from_db()
        assert reward.status == "verified" and reward.mint_attempts == 1
        return reward

    return make


def test_without_idempotency_the_sweeper_hands_it_to_an_operator_and_tells_the_reader(
    client, admin_client, reader, sandbox, stranded
):
    reward = stranded(idempotent=False)

    assert sweep_rewards()["flagged"] == 1

    reward.refresh_from_db()
    assert reward.needs_operator and reward.status == "verified"
    assert "got no answer" in reward.failure_reason
    assert reward.failure_reason.endswith(CHECK_MINTER)
    client.force_login(reader)
    box = " ".join(
        client.get(f"/campaigns/{reward.campaign_id}/box").content.decode().split()
    )
    assert 'data-state="operator"' in box
    assert "our team has been told" in box
    assert POLLING not in box
    assert sweep_rewards() == {"flagged": 0, "queued": 0}

    # The operator finds the mint at the minter and records it.
    (mint,) = sandbox.mints()
    response = admin_client.post(
        REWARDS_URL,
        {
            "action": "record_mint",
            "_selected_action": [reward.pk],
            "apply": "yes",
            "tx_hash": mint["transactionHash"],
        },
        follow=True,
    )
    assert "Recorded the mint; the reward is rewarded." in response.content.decode()
    reward.refresh_from_db()
    assert reward.status == "rewarded" and reward.tx_hash == mint["transactionHash"]
    assert len(sandbox.mints()) == 1


@pytest.mark.parametrize("action", ["mark_failed_no_mint", "retry_mint"])
def test_the_operators_other_actions_accept_a_stranded_mint(
    admin_client, sandbox, stranded, action
):
    reward = stranded(idempotent=False)
    sweep_rewards()

    with mock.patch(OPERATOR_RETRY_QUEUES, autospec=True) as queued:
        response = admin_client.post(
            REWARDS_URL,
            {
                "action": action,
                "_selected_action": [reward.pk],
                "apply": "yes",
                "confirm": "yes",
                "reason": "Checked the minter: no mint for this reward.",
            },
            follow=True,
        )

    body = response.content.decode()
    assert "a mint is in flight" not in body
    reward.refresh_from_db()
    if action == "retry_mint":
        assert "Queued 1 reward for minting." in body
        assert not reward.needs_operator and reward.mint_started_at is None
        queued.assert_called_once_with(reward.pk)
    else:
        assert "Marked 1 reward as failed." in body
        assert reward.status == "failed"


def test_with_an_idempotent_minter_the_sweeper_asks_again_and_records_the_first_mint(
    reader, idempotent_minter, sandbox, stranded, celery_worker, wait_for
):
    reward = stranded(idempotent=True)

    assert sweep_rewards()["queued"] == 1
    sandbox.clear_faults()
    assert wait_for(lambda: ShareReward.objects.get(pk=reward.pk).status == "rewarded")

    reward.refresh_from_db()
    (mint,) = sandbox.mints()
    assert reward.tx_hash == mint["transactionHash"]
    assert reward.mint_attempts == 2
