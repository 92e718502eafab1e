from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import ShareCampaign
from campaigns.services import create_share_campaign
from posts.models import Post

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
def reader(user_factory):
    return user_factory(display_name="Rita Reader", wallet_address=WALLET)
