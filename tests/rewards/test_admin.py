"""The reward admin (rewards/admin.py): read-only rewards, and the operator's
actions on minting, each in the security audit trail."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.models import Permission

from accounts.models import SecurityEvent
from campaigns.models import ShareReward

# Where an operator's retry queues the mint.
OPERATOR_RETRY_QUEUES = "rewards.services.operator_queue.request_mint"

Status = ShareReward.Status
REWARDS_URL = "/admin/campaigns/sharereward/"


@pytest.fixture
def rewards(user_factory, campaign_factory, reward_factory) -> dict[str, ShareReward]:
    campaign = campaign_factory()
    return {
        "eligible": reward_factory(
            user_factory(wallet_address="0x" + "1" * 40),
            campaign,
            verified=True,
            mint_attempts=6,
            failure_reason="Mint failed: 500",
        ),
        "no_wallet": reward_factory(user_factory(), campaign, verified=True),
        "in_flight": reward_factory(user_factory(), campaign, minting=True),
        "rewarded": reward_factory(user_factory(), campaign, rewarded=True),
        "pending": reward_factory(user_factory(), campaign),
        "failed": reward_factory(
            user_factory(), campaign, failed=True, failure_reason="Closed"
        ),
        "flagged": reward_factory(
            user_factory(wallet_address="0x" + "2" * 40),
            campaign,
            flagged=True,
            failure_reason="Mint outcome unknown: read timeout.",
        ),
    }


def _run_action(client, action: str, selected, **extra):
    return client.post(
        REWARDS_URL,
        {
            "action": action,
            "_selected_action": [reward.pk for reward in selected],
            **extra,
        },
        follow=True,
    )


def test_retry_minting_queues_eligible_rewards_and_explains_the_rest(
    admin_client, rewards, django_capture_on_commit_callbacks, messages_of
):
    selected = [
        rewards[name]
        for name in (
            "eligible",
            "no_wallet",
            "in_flight",
            "rewarded",
            "pending",
            "failed",
        )
    ]

    with (
        mock.patch(OPERATOR_RETRY_QUEUES, autospec=True) as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = _run_action(admin_client, "retry_mint", selected, index=0)

    assert queued.call_count == 2
    eligible = ShareReward.objects.get(pk=rewards["eligible"].pk)
    assert (eligible.mint_attempts, eligible.failure_reason) == (0, "")
    in_flight = ShareReward.objects.get(pk=rewards["in_flight"].pk)
    assert (in_flight.mint_attempts, in_flight.mint_started_at) == (
        1,
        rewards["in_flight"].mint_started_at,
    )
    assert messages_of(response) == [
        "Queued 2 rewards for minting. 1 of them will wait until the reader adds a "
        "wallet address. Skipped 4: 1 a mint is in flight, 1 already rewarded, "
        "1 not verified yet, 1 already failed."
    ]


def test_retry_minting_a_flagged_reward_asks_for_confirmation_first(
    admin_client, rewards, django_capture_on_commit_callbacks, messages_of
):
    flagged = rewards["flagged"]

    with (
        mock.patch(OPERATOR_RETRY_QUEUES, autospec=True) as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        page = _run_action(admin_client, "retry_mint", [flagged], index=0)

    content = page.content.decode()
    assert "I checked the minter: retry minting" in content
    assert "Mint outcome unknown: read timeout." in content
    assert queued.call_count == 0
    assert ShareReward.objects.get(pk=flagged.pk).needs_operator is True

    with (
        mock.patch(OPERATOR_RETRY_QUEUES, autospec=True) as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = _run_action(admin_client, "retry_mint", [flagged], confirm="yes")

    assert queued.call_count == 1
    flagged.refresh_from_db()
    assert (flagged.needs_operator, flagged.mint_started_at) == (False, None)
    assert messages_of(response) == ["Queued 1 reward for minting."]


def test_mark_failed_asks_for_a_reason_then_closes_verified_rewards(
    admin_client, rewards, messages_of
):
    selected = [rewards[name] for name in ("eligible", "in_flight", "rewarded")]

    page = _run_action(admin_client, "mark_failed_no_mint", selected, index=0)

    assert 'name="reason"' in page.content.decode()
    assert ShareReward.objects.get(pk=rewards["eligible"].pk).status == Status.VERIFIED

    response = _run_action(
        admin_client,
        "mark_failed_no_mint",
        selected,
        apply="yes",
        reason="Duplicate X account",
    )

    closed = ShareReward.objects.get(pk=rewards["eligible"].pk)
    assert (closed.status, closed.failure_reason) == (
        Status.FAILED,
        "Duplicate X account",
    )
    assert ShareReward.objects.get(pk=rewards["in_flight"].pk).status == (
        Status.VERIFIED
    )
    assert ShareReward.objects.get(pk=rewards["rewarded"].pk).status == (
        Status.REWARDED
    )
    assert messages_of(response) == [
        "Marked 1 reward as failed. Skipped 2: 1 a mint is in flight, "
        "1 already rewarded."
    ]


def test_mark_failed_without_a_reason_changes_nothing(admin_client, rewards):
    response = _run_action(
        admin_client, "mark_failed_no_mint", [rewards["eligible"]], apply="yes"
    )

    assert "This field is required." in response.content.decode()
    assert ShareReward.objects.get(pk=rewards["eligible"].pk).status == Status.VERIFIED


def test_staff_who_may_only_view_rewards_cannot_run_mint_actions(
    client, user_factory, rewards
):
    viewer = user_factory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_sharereward"))
    client.force_login(viewer)

    page = client.get(REWARDS_URL)
    _run_action(client, "retry_mint", [rewards["eligible"]], index=0)
    _run_action(
        client, "mark_failed_no_mint", [rewards["eligible"]], apply="yes", reason="x"
    )

    assert page.status_code == 200
    assert "retry_mint" not in page.content.decode()
    eligible = ShareReward.objects.get(pk=rewards["eligible"].pk)
    assert (eligible.status, eligible.mint_attempts) == (Status.VERIFIED, 6)


def test_reward_list_shows_rewards_with_operator_column(
    admin_client, rewards, django_assert_max_num_queries
):
    with django_assert_max_num_queries(9):
        response = admin_client.get(REWARDS_URL)

    content = response.content.decode()
    assert response.status_code == 200
    assert "<strong>Needs operator</strong>: Mint outcome unknown" in content
    assert rewards["rewarded"].user.email in content
    assert rewards["rewarded"].tx_hash[:10] in content


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"status__exact": "failed"}, {"failed"}),
        ({"needs_operator__exact": "1"}, {"flagged"}),
        ({"status__exact": "pending"}, {"pending"}),
    ],
)
def test_reward_filters(admin_client, rewards, query, names):
    response = admin_client.get(REWARDS_URL, query)

    listed = {reward.pk for reward in response.context["cl"].result_list}
    assert listed == {rewards[name].pk for name in names}


def test_reward_search_by_email_and_tx_hash(admin_client, rewards):
    rewarded = rewards["rewarded"]

    by_email = admin_client.get(REWARDS_URL, {"q": rewarded.user.email})
    by_hash = admin_client.get(REWARDS_URL, {"q": rewarded.tx_hash})

    for response in (by_email, by_hash):
        assert [r.pk for r in response.context["cl"].result_list] == [rewarded.pk]


def test_reward_campaign_filter(admin_client, user_factory, reward_factory, rewards):
    other = reward_factory(user_factory(), verified=True)

    response = admin_client.get(REWARDS_URL, {"campaign__id__exact": other.campaign_id})

    assert [r.pk for r in response.context["cl"].result_list] == [other.pk]
    assert other.campaign.post.title in response.content.decode()


def test_rewards_cannot_be_added_changed_or_deleted(admin_client, rewards):
    reward = rewards["eligible"]
    change_url = f"{REWARDS_URL}{reward.pk}/change/"

    assert admin_client.get(f"{REWARDS_URL}add/").status_code == 403
    assert admin_client.post(change_url, {"status": "rewarded"}).status_code == 403
    assert (
        admin_client.post(
            f"{REWARDS_URL}{reward.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    page = admin_client.get(change_url)
    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}
    assert "delete_selected" not in admin_client.get(REWARDS_URL).content.decode()
    reward.refresh_from_db()
    assert reward.status == Status.VERIFIED
    assert ShareReward.objects.filter(pk=reward.pk).exists()


def test_an_operator_records_a_mint_found_at_the_minter(
    admin_client, rewards, messages_of
):
    flagged = rewards["flagged"]
    tx_hash = "0x" + "ab" * 32

    page = _run_action(admin_client, "record_mint", [flagged], index=0)
    assert "Transaction hash" in page.content.decode()
    bad = _run_action(
        admin_client, "record_mint", [flagged], apply="yes", tx_hash="0x12"
    )
    assert "64-hex-digit" in bad.content.decode()
    assert ShareReward.objects.get(pk=flagged.pk).status == Status.VERIFIED

    response = _run_action(
        admin_client, "record_mint", [flagged], apply="yes", tx_hash=tx_hash
    )

    flagged.refresh_from_db()
    assert (flagged.status, flagged.tx_hash, flagged.needs_operator) == (
        Status.REWARDED,
        tx_hash,
        False,
    )
    assert messages_of(response) == ["Recorded the mint; the reward is rewarded."]


def test_recording_a_mint_needs_one_flagged_reward(admin_client, rewards, messages_of):
    response = _run_action(
        admin_client, "record_mint", [rewards["eligible"], rewards["flagged"]], index=0
    )

    assert (
        "Select exactly one reward that needs an operator" in messages_of(response)[0]
    )
    assert ShareReward.objects.get(pk=rewards["flagged"].pk).status == Status.VERIFIED


# --- The security audit trail of operator actions -------------------------------------


def _operator_events(kind: str) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(kind=kind).order_by("pk"))


def test_operator_actions_on_rewards_go_to_the_audit_trail(
    admin_client, staff, rewards, django_capture_on_commit_callbacks
):
    eligible, flagged = rewards["eligible"], rewards["flagged"]
    with (
        mock.patch(OPERATOR_RETRY_QUEUES, autospec=True),
        django_capture_on_commit_callbacks(execute=True),
    ):
        _run_action(admin_client, "retry_mint", [eligible, rewards["rewarded"]])
    _run_action(
        admin_client,
        "mark_failed_no_mint",
        [eligible, rewards["in_flight"]],
        apply="yes",
        reason="Duplicate X account",
    )
    _run_action(
        admin_client, "record_mint", [flagged], apply="yes", tx_hash="0x" + "cd" * 32
    )

    retried, failed, recorded = (
        _operator_events(kind)
        for kind in ("mint_retried", "mint_marked_failed", "mint_recorded")
    )
    # One entry per reward the action changed; the skipped ones left no trace.
    assert [(e.user, e.actor, e.ip) for e in retried + failed + recorded] == [
        (eligible.user, staff, "127.0.0.1"),
        (eligible.user, staff, "127.0.0.1"),
        (flagged.user, staff, "127.0.0.1"),
    ]
    common = {"campaign_id": eligible.campaign_id}
    assert retried[0].detail == {
        "reward_id": eligible.pk,
        **common,
        "was_flagged": False,
    }
    assert failed[0].detail == {
        "reward_id": eligible.pk,
        **common,
        "reason": "Duplicate X account",
    }
    assert recorded[0].detail == {
        "reward_id": flagged.pk,
        **common,
        "tx_hash": "0x" + "cd" * 32,
    }


def test_rewards_show_and_find_the_post_shared_on_x(
    admin_client, user_factory, campaign_factory, reward_factory
):
    thread = campaign_factory(tweets=2)
    first, second = thread.tweets.all()
    reader = user_factory()
    reward_factory(reader, thread, campaign_tweet=first, rewarded=True)
    on_second = reward_factory(reader, thread, campaign_tweet=second, verified=True)

    listed = admin_client.get(REWARDS_URL).content.decode()
    found = admin_client.get(REWARDS_URL, {"q": second.tweet_id})

    for tweet in (first, second):
        assert f'<a href="{tweet.tweet_url}"' in listed
    assert [r.pk for r in found.context["cl"].result_list] == [on_second.pk]
