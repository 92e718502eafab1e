from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import User
from blockster.redis_client import get_redis
from campaigns.models import ShareCampaign, ShareReward
from posts.models import Post
from social.services import upsert_x_connection
from social.x_api import TokenSet, XUser

_serial = itertools.count(1)


@pytest.fixture
def redis():
    return get_redis()


@pytest.fixture
def campaign_factory(owner) -> Callable[..., ShareCampaign]:
    def make(**fields) -> ShareCampaign:
        n = next(_serial)
        post = Post.objects.create(
            title=f"Post {n}",
            slug=f"post-{n}-{uuid.uuid4().hex[:6]}",
            body="Body",
            author=owner,
            is_published=True,
            published_at=timezone.now(),
        )
        tweet_id = f"18650000000000{n:05d}"
        return ShareCampaign.objects.create(
            post=post,
            tweet_id=tweet_id,
            tweet_url=f"https://x.com/BlocksterCom/status/{tweet_id}",
            **fields,
        )

    return make


@pytest.fixture
def connection_factory():
    """Store an X connection as the OAuth callback would, without going through X."""

    def make(user: User, *, x_user_id: str | None = None):
        x_user_id = x_user_id or str(9_000_000 + next(_serial))
        profile = XUser(id=x_user_id, username=f"u{x_user_id}", name="Reader")
        tokens = TokenSet(
            access_token=f"access-{x_user_id}",
            refresh_token=f"refresh-{x_user_id}",
            expires_in=7200,
            scopes=("tweet.read", "users.read"),
        )
        return upsert_x_connection(user, profile=profile, tokens=tokens)

    return make


@pytest.fixture
def reward_factory(campaign_factory) -> Callable[..., ShareReward]:
    """A ShareReward row written straight to PostgreSQL (the mirror is not touched
    unless the test runs on_commit callbacks)."""

    def make(user: User, campaign: ShareCampaign | None = None, **fields):
        campaign = campaign or campaign_factory()
        status = fields.setdefault("status", "pending")
        fields.setdefault("bux_rewarded", Decimal("150"))
        if status in ("verified", "rewarded", "failed"):
            fields.setdefault("retweet_id", campaign.tweet_id)
            fields.setdefault("verified_at", timezone.now())
        if status == "rewarded":
            fields.setdefault("tx_hash", "0x" + uuid.uuid4().hex * 2)
            fields.setdefault("rewarded_at", timezone.now())
        return ShareReward.objects.create(user=user, campaign=campaign, **fields)

    return make


@pytest.fixture
def many_rewards(owner, campaign_factory):
    """`make(users, campaigns)`: users × campaigns reward rows in every status,
    bulk-inserted."""

    def make(users: int, campaigns: int) -> list[ShareReward]:
        readers = User.objects.bulk_create(
            User(email=f"bulk{next(_serial)}-{uuid.uuid4().hex[:6]}@example.com")
            for _ in range(users)
        )
        shared = [campaign_factory() for _ in range(campaigns)]
        now = timezone.now()
        rows = []
        for n, (reader, campaign) in enumerate(itertools.product(readers, shared)):
            status = ("pending", "verified", "rewarded", "failed")[n % 4]
            done, rewarded = status != "pending", status == "rewarded"
            rows.append(
                ShareReward(
                    user=reader,
                    campaign=campaign,
                    status=status,
                    bux_rewarded=Decimal(n % 90 + 10),
                    retweet_id=campaign.tweet_id if done else "",
                    verified_at=now if done else None,
                    rewarded_at=now - timedelta(minutes=n) if rewarded else None,
                    tx_hash=f"0x{n:064x}" if rewarded else None,
                    failure_reason="Mint failed" if status == "failed" else "",
                )
            )
        return ShareReward.objects.bulk_create(rows)

    return make
