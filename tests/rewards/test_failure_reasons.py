"""A reward's failure reason is bounded and sanitized wherever it is kept (PostgreSQL,
the Redis mirror, admin), whatever the minter answered."""

from __future__ import annotations

import pytest

from campaigns.models import ShareReward
from rewards.mirror import schema
from rewards.reasons import MAX_FAILURE_REASON, failure_reason
from rewards.services import mark_failed, mint_share_reward
from rewards.services.operator_queue import CHECK_MINTER
from tests.factories import WALLET

HOSTILE = (
    "Failed to mint tokens\x1b[31m\r\n\tcall https://deployer:hunter2@rpc.example/v1"
    "?api_key=sk_live_123&block=1 with Bearer eyJhbGciOiJIUzI1NiJ9.payload "
    "secret=s3cr3t\x00" + "x" * 5000
)


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (HOSTILE, "Failed to mint tokens", ["hunter2", "sk_live_123", "eyJhbGci"]),
        ("a\nb\tc\x07d", "a b c d", ["\n", "\t", "\x07"]),
        ("password: p4ss word", "password: [redacted] word", ["p4ss"]),
    ],
)
def test_a_reason_is_printable_bounded_and_without_credentials(text, kept, gone):
    reason = failure_reason(text)
    assert kept in reason
    assert not any(part in reason for part in gone)
    assert "s3cr3t" not in reason
    assert len(reason) <= MAX_FAILURE_REASON
    assert reason.isprintable()


def test_advice_is_never_cut():
    reason = failure_reason("y" * 1000, advice=CHECK_MINTER)
    assert len(reason) == MAX_FAILURE_REASON
    assert reason.endswith(f"… {CHECK_MINTER}")


@pytest.mark.django_db(transaction=True)
def test_a_minters_hostile_error_is_stored_bounded_in_postgresql_and_redis(
    user_factory, reward_factory, sandbox, redis
):
    user = user_factory(wallet_address=WALLET)
    reward = reward_factory(user, verified=True)
    sandbox.fault(
        "POST /minter/mint", status=500, body={"error": HOSTILE, "details": HOSTILE}
    )

    mint_share_reward(reward.pk)

    reward.refresh_from_db()
    assert reward.needs_operator
    stored = reward.failure_reason
    assert stored.startswith("Mint outcome unknown: minter answered 500: Failed to")
    assert stored.endswith(CHECK_MINTER)
    assert len(stored) <= MAX_FAILURE_REASON and stored.isprintable()
    assert "hunter2" not in stored and "sk_live_123" not in stored
    key = schema.share_reward_key(*schema.reward_ref(reward))
    assert redis.hget(key, "failure_reason") == stored


@pytest.mark.django_db
def test_an_operators_reason_is_bounded_too(user_factory, reward_factory):
    reward = reward_factory(user_factory(), verified=True)

    assert mark_failed(reward, "Refunded by hand\n" + "z" * 900)

    stored = ShareReward.objects.get(pk=reward.pk).failure_reason
    assert stored.startswith("Refunded by hand z")
    assert len(stored) == MAX_FAILURE_REASON
