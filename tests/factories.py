"""The tests' object builders, the only ones: users, posts, campaigns, X connections
and rewards. The root conftest.py hands them to tests as fixtures (`user_factory`,
`post_factory`, `campaign_factory`, `sandbox_campaign_factory`, `connection_factory`,
`connect_x`, `reward_factory`, `many_rewards`).

Campaigns and connections are made by the product's services, as an admin or the
OAuth callback makes them (the tweet URL parsed and checked, tokens encrypted).
Rewards are written straight to PostgreSQL in the state a trait names, without
touching the Redis mirror: a test of the mirror calls the services it tests.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import factory
from django.utils import timezone

from accounts.models import User
from campaigns.models import MINTED_STATUSES, ShareCampaign, ShareReward
from campaigns.services import create_share_campaign
from posts.models import Post
from rewards.reasons import failure_reason
from rewards.services.minting import WAITING_FOR_WALLET
from rewards.services.operator_queue import CHECK_MINTER
from social.models import XConnection
from social.services import upsert_x_connection
from social.x_api import TokenSet, XUser

# Every built user's password, which the browser journeys type.
PASSWORD = "correct horse battery staple"
# A checksummed address the minter accepts.
WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"

Status = ShareReward.Status
MINTED = MINTED_STATUSES


class UserFactory(factory.django.DjangoModelFactory[User]):
    """A site account, made as sign-up makes it (`create_user`)."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"reader{n}-{uuid.uuid4().hex[:6]}@example.com")
    password = PASSWORD

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **fields: Any) -> User:
        return model_class.objects.create_user(*args, **fields)


class PostFactory(factory.django.DjangoModelFactory[Post]):
    """A published post, `age_days` old; the `draft` trait leaves it unpublished."""

    class Meta:
        model = Post

    class Params:
        age_days = 0
        draft = factory.Trait(is_published=False, published_at=None)

    slug = factory.Sequence(lambda n: f"story-{n}")
    title = factory.LazyAttribute(lambda post: post.slug.replace("-", " ").title())
    body = factory.LazyAttribute(lambda post: f"Body of {post.slug}")
    author = factory.SubFactory(UserFactory)
    is_published = True
    published_at = factory.LazyAttribute(
        lambda post: timezone.now() - timedelta(days=post.age_days)
    )


# Made-up tweets: 19 digits, so no id is a substring of another (admin search).
_tweet_ids = itertools.count(1)


def _campaign_tweet_url(campaign: Any) -> str:
    if campaign.sandbox is None:
        tweet_id = f"18650{next(_tweet_ids):014d}"
    else:
        # The share flow retweets and likes it on the sandbox's X.
        tweet_id = campaign.sandbox.create_tweet("Read this on Blockster")["id"]
    return f"https://x.com/BlocksterCom/status/{tweet_id}"


class CampaignFactory(factory.django.DjangoModelFactory[ShareCampaign]):
    """An active campaign on a new post, made by `create_share_campaign`. Its
    `tweets` tweets (one unless told) are made up, or created in the sandbox given
    as `sandbox`; `tweet_url` or `tweet_urls` name them instead."""

    class Meta:
        model = ShareCampaign

    class Params:
        sandbox = None
        tweets = 1

    post = factory.SubFactory(PostFactory)
    tweet_urls = factory.LazyAttribute(
        lambda campaign: [_campaign_tweet_url(campaign) for _ in range(campaign.tweets)]
    )
    bux_reward = Decimal("2")

    @classmethod
    def _create(
        cls, model_class: type[ShareCampaign], *, post: Post, **fields: Any
    ) -> ShareCampaign:
        if fields.get("tweet_url") is not None:
            fields.pop("tweet_urls")
        return create_share_campaign(post, **fields)


class ConnectionFactory(factory.Factory[XConnection]):
    """An X connection saved by `upsert_x_connection` (tokens encrypted, the user
    locked to the X account), as the OAuth callback saves it, without asking X.
    `score` sets the X score as a finished calculation would."""

    class Meta:
        model = XConnection

    user = factory.SubFactory(UserFactory)
    x_user_id = factory.Sequence(lambda n: str(9_000_000 + n))
    username = factory.LazyAttribute(lambda connection: f"u{connection.x_user_id}")
    name = factory.LazyAttribute(lambda c: c.username.replace("_", " ").title())
    access_token = factory.LazyAttribute(lambda c: f"access-{c.x_user_id}-secret")
    refresh_token = factory.LazyAttribute(lambda c: f"refresh-{c.x_user_id}-secret")
    expires_in = 7200
    scopes = ("tweet.read", "users.read")
    score = None

    @classmethod
    def _create(
        cls,
        model_class: type[XConnection],
        *,
        user: User,
        x_user_id: str,
        username: str,
        name: str,
        access_token: str,
        refresh_token: str | None,
        expires_in: int,
        scopes: tuple[str, ...],
        score: int | None,
    ) -> XConnection:
        connection = upsert_x_connection(
            user,
            profile=XUser(id=x_user_id, username=username, name=name),
            tokens=TokenSet(access_token, refresh_token, expires_in, scopes),
        )
        if score is not None:
            model_class.objects.filter(pk=connection.pk).update(
                x_score=score, score_calculated_at=timezone.now()
            )
            connection.refresh_from_db()
        return connection


def _after_pending(reward: Any, value: Any) -> Any:
    return None if reward.status == Status.PENDING else value


class RewardFactory(factory.django.DjangoModelFactory[ShareReward]):
    """A reward row in the state its trait names (pending without one):

    - `verified`: the retweet checked, the mint not started;
    - `minting`: a mint request in flight;
    - `awaiting_wallet`: verified, the mint waits for the reader's wallet address;
    - `flagged`: the mint's outcome unknown, in the operator queue;
    - `rewarded`: minted, with its transaction;
    - `failed`: closed without a mint.

    `status=` alone also fills what that status implies (retweet, timestamps, the
    transaction of a rewarded one).
    """

    class Meta:
        model = ShareReward

    class Params:
        verified = factory.Trait(status=Status.VERIFIED)
        minting = factory.Trait(
            status=Status.VERIFIED,
            mint_started_at=factory.LazyFunction(timezone.now),
            mint_attempts=1,
        )
        awaiting_wallet = factory.Trait(
            status=Status.VERIFIED,
            waiting_for_wallet=True,
            failure_reason=WAITING_FOR_WALLET,
        )
        flagged = factory.Trait(
            status=Status.VERIFIED,
            mint_started_at=factory.LazyFunction(
                lambda: timezone.now() - timedelta(hours=1)
            ),
            mint_attempts=1,
            needs_operator=True,
            failure_reason=failure_reason(
                "Mint outcome unknown: read timeout.", advice=CHECK_MINTER
            ),
        )
        rewarded = factory.Trait(status=Status.REWARDED)
        # Paid, then the audit found the retweet gone.
        undone = factory.Trait(
            status=Status.UNDONE, audited_at=factory.LazyFunction(timezone.now)
        )
        failed = factory.Trait(status=Status.FAILED)

    user = factory.SubFactory(UserFactory)
    campaign = factory.SubFactory(CampaignFactory)
    # The campaign's first tweet unless told.
    campaign_tweet = factory.LazyAttribute(lambda reward: reward.campaign.first_tweet)
    status = Status.PENDING
    bux_rewarded = Decimal("150")
    retweet_id = factory.LazyAttribute(
        lambda reward: _after_pending(reward, reward.campaign_tweet.tweet_id) or ""
    )
    verified_at = factory.LazyAttribute(
        lambda reward: _after_pending(reward, timezone.now())
    )
    rewarded_at = factory.LazyAttribute(
        lambda reward: timezone.now() if reward.status in MINTED else None
    )
    tx_hash = factory.LazyAttribute(
        lambda reward: "0x" + uuid.uuid4().hex * 2 if reward.status in MINTED else None
    )
    failure_reason = factory.LazyAttribute(
        lambda reward: "Mint failed" if reward.status == Status.FAILED else ""
    )


def reward_grid(
    readers: list[User], campaigns: list[ShareCampaign]
) -> list[ShareReward]:
    """A reward for every reader in every campaign, in each status in turn, with
    varied amounts and times; bulk-inserted."""
    statuses = tuple(Status)
    now = timezone.now()
    rows = []
    for n, (reader, campaign) in enumerate(itertools.product(readers, campaigns)):
        status = statuses[n % len(statuses)]
        minted = status in MINTED
        times = {"rewarded_at": now - timedelta(minutes=n)} if minted else {}
        rows.append(
            RewardFactory.build(
                user=reader,
                campaign=campaign,
                status=status,
                bux_rewarded=Decimal(n % 90 + 10),
                **times,
            )
        )
    return ShareReward.objects.bulk_create(rows)


def bulk_rewards(campaign: ShareCampaign, count: int) -> None:
    """`count` readers, each with an X connection (scores 1-100 in turn) and a
    reward in `campaign` in every status in turn, bulk-inserted (for volume:
    exports, dashboards)."""
    tag = uuid.uuid4().hex[:8]
    now = timezone.now()
    statuses = (Status.PENDING, Status.VERIFIED, Status.REWARDED, Status.FAILED)
    for start in range(0, count, 5000):
        numbers = range(start, min(start + 5000, count))
        users = User.objects.bulk_create(
            User(email=f"bulk{n}-{tag}@example.com", password="!") for n in numbers
        )
        connections = XConnection.objects.bulk_create(
            XConnection(
                user=user,
                x_user_id=f"{tag}{n}",
                x_username=f"bulk_{tag}_{n}",
                access_token_encrypted=b"\x00",
                token_expires_at=now,
                x_score=n % 100 + 1,
            )
            for n, user in zip(numbers, users, strict=True)
        )
        rewards = []
        for n, user, connection in zip(numbers, users, connections, strict=True):
            status = statuses[n % 4]
            rewarded = status == Status.REWARDED
            rewards.append(
                ShareReward(
                    user=user,
                    campaign=campaign,
                    campaign_tweet=campaign.first_tweet,
                    x_connection=connection,
                    status=status,
                    bux_rewarded=Decimal(n % 90 + 10),
                    verified_at=None if status == Status.PENDING else now,
                    rewarded_at=now if rewarded else None,
                    tx_hash=f"0x{tag}{n:056x}" if rewarded else None,
                )
            )
        ShareReward.objects.bulk_create(rewards)
