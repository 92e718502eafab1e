"""The campaign dashboard's hourly sums: rebuilt from the rewards for a window of
recent hours, leaving older hours as they were."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from campaigns.models import ShareReward
from rewards.models import CampaignStat
from rewards.services.stats import refresh_campaign_stats, refresh_recent_stats


def sums(campaign, measure):
    rows = CampaignStat.objects.filter(campaign=campaign, measure=measure)
    return {
        row["key"]: (row["n"], row["bux"])
        for row in rows.values("key").annotate(n=Sum("count"), bux=Sum("bux"))
    }


def test_a_rebuild_counts_rewards_by_status_score_band_and_mint(
    user_factory, campaign_factory, reward_factory
):
    campaign = campaign_factory(bux_reward=Decimal("2"))
    reward_factory(user_factory(), campaign, rewarded=True, bux_rewarded=Decimal("20"))
    reward_factory(user_factory(), campaign, rewarded=True, bux_rewarded=Decimal("150"))
    reward_factory(user_factory(), campaign, failed=True, bux_rewarded=Decimal("30"))

    refresh_recent_stats()

    assert sums(campaign, "made") == {
        "rewarded": (2, Decimal("170")),
        "failed": (1, Decimal("30")),
    }
    # 20 BUX at base 2 is score 10 (band 1); 150 is 75 (band 8); 30 is 15 (band 2).
    assert {band: n for band, (n, _) in sums(campaign, "band").items()} == {
        "1": 1,
        "2": 1,
        "8": 1,
    }
    assert sums(campaign, "minted") == {"": (2, Decimal("170"))}


def test_a_change_shows_after_the_next_rebuild_and_older_hours_stay(
    user_factory, campaign_factory, reward_factory
):
    campaign = campaign_factory()
    old = reward_factory(user_factory(), campaign, rewarded=True)
    ShareReward.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=3),
        rewarded_at=timezone.now() - timedelta(days=3),
    )
    recent = reward_factory(user_factory(), campaign, verified=True)
    refresh_campaign_stats(timezone.now() - timedelta(days=4))
    assert sums(campaign, "made") == {
        "rewarded": (1, Decimal("150")),
        "verified": (1, Decimal("150")),
    }

    ShareReward.objects.filter(pk=recent.pk).update(
        status="rewarded", rewarded_at=timezone.now(), tx_hash="0x" + "ab" * 32
    )
    refresh_recent_stats()

    assert sums(campaign, "made") == {"rewarded": (2, Decimal("300"))}
    assert sums(campaign, "minted") == {"": (2, Decimal("300"))}
