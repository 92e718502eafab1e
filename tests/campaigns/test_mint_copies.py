"""Copies of one mint task running at once (a sweeper re-queue, a redelivery, a
double publish) send one mint request between them, whatever the minter does with
Idempotency-Key."""

from __future__ import annotations

import threading
from collections import Counter
from unittest import mock

import pytest
from django.db import connection, transaction

from campaigns.models import ShareReward
from campaigns.services import share_to_x
from rewards.services import mint_share_reward
from rewards.services.minting import MintResult

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_retries"),
]

COPIES = 6


def sessions_waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


class RowHolder(threading.Thread):
    """Another session holding the reward's row lock, as a slow commit would: every
    copy reads the reward, reaches its claim and waits there, then all go at once."""

    def __init__(self, reward_id: int) -> None:
        super().__init__(daemon=True)
        self.reward_id = reward_id
        self.holding = threading.Event()
        self.release = threading.Event()

    def run(self) -> None:
        try:
            with transaction.atomic():
                ShareReward.objects.select_for_update().get(pk=self.reward_id)
                self.holding.set()
                self.release.wait(30)
        finally:
            connection.close()


def run_copies(reward_id: int, wait_for) -> Counter[str]:
    results: Counter[str] = Counter()
    barrier = threading.Barrier(COPIES)

    def copy() -> None:
        try:
            barrier.wait()
            results[mint_share_reward(reward_id).result.value] += 1
        finally:
            connection.close()

    holder = RowHolder(reward_id)
    holder.start()
    assert holder.holding.wait(10)
    copies = [threading.Thread(target=copy, daemon=True) for _ in range(COPIES)]
    for thread in copies:
        thread.start()
    try:
        assert wait_for(lambda: sessions_waiting_on_locks() >= COPIES)
    finally:
        holder.release.set()
        for thread in copies:
            thread.join(30)
        holder.join(30)
    return results


@pytest.mark.parametrize("mode", ["keyless", "idempotent"])
def test_copies_of_one_mint_released_at_once_send_one_mint_request(
    request, reader, sandbox_campaign_factory, connect_x, sandbox, mode, wait_for
):
    if mode == "idempotent":
        request.getfixturevalue("idempotent_minter")
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    with mock.patch("campaigns.services.claim.request_mint", autospec=True):
        assert share_to_x(reader, campaign).ok
    reward = ShareReward.objects.get(user=reader)

    results = run_copies(reward.pk, wait_for)

    assert sandbox.mint_requests() == 1
    assert len(sandbox.mints()) == 1
    assert results[MintResult.MINTED] == 1
    reward.refresh_from_db()
    assert reward.status == "rewarded"
    assert reward.tx_hash == sandbox.mints()[0]["transactionHash"]
    assert reward.mint_attempts == 1
