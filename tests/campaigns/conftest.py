from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import ShareCampaign
from campaigns.services import create_share_campaign
from posts.models import Post
from social import services as social_services
from social.models import XConnection
from social.x_api import TokenSet, XUser

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
_slugs = itertools.count(1)


@pytest.fixture
def post_factory(owner):
    def make(**fields) -> Post:
        n = next(_slugs)
        fields.setdefault("title", f"Story number {n}")
        fields.setdefault("slug", f"story-{n}")
        fields.setdefault("body", "A story worth sharing.")
        fields.setdefault("author", owner)
        fields.setdefault("is_published", True)
        fields.setdefault("published_at", timezone.now())
        return Post.objects.create(**fields)

    return make


@pytest.fixture
def campaign_factory(post_factory, sandbox):
    """A campaign on a fresh post, for a tweet that exists in the sandbox."""

    def make(**fields) -> ShareCampaign:
        tweet = sandbox.create_tweet("Read this on Blockster")
        fields.setdefault("bux_reward", Decimal("2"))
        return create_share_campaign(
            post_factory(),
            tweet_url=f"https://x.com/BlocksterCom/status/{tweet['id']}",
            **fields,
        )

    return make


@pytest.fixture
def connect_x(sandbox):
    """Connect a user to a sandbox account (created on demand) as the callback would."""
    accounts = itertools.count(1)

    def connect(user, account: str | None = None, *, score: int | None = 10):
        if account is None:
            account = f"reader_{next(accounts)}_{user.pk}"
            sandbox.create_account(account, followers_count=100, following_count=50)
        tokens = sandbox.connect(account)
        profile = sandbox.account(account)
        connection = social_services.upsert_x_connection(
            user,
            profile=XUser(id=profile["id"], username=profile["username"]),
            tokens=TokenSet(
                tokens["access_token"],
                tokens["refresh_token"],
                tokens["expires_in"],
                tuple(tokens["scope"].split()),
            ),
        )
        if score is not None:
            XConnection.objects.filter(pk=connection.pk).update(
                x_score=score, score_calculated_at=timezone.now()
            )
            connection.refresh_from_db()
        return connection

    return connect


@pytest.fixture
def reader(user_factory):
    return user_factory(display_name="Rita Reader", wallet_address=WALLET)
