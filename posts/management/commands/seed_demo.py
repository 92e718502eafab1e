from __future__ import annotations

import random
from argparse import ArgumentParser
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from campaigns.analytics import BOX_VIEWS, PRESSES, count_visitor
from campaigns.models import ShareCampaign, ShareReward
from campaigns.services import create_share_campaign, get_campaign_for_post
from posts.models import Post
from rewards.services.stats import refresh_recent_stats
from social.models import XConnection, XSpend
from social.spend import Purpose
from social.spend.prices import DEFAULT_PRICES, MICROS_PER_USD, PriceKind
from social.x_api import XTweetCard

DEMO_USERS = [
    # email, password, staff, display name, wallet
    ("admin@blockster.local", "blockster-admin", True, "Blockster Editors", ""),
    (
        "reader@blockster.local",
        "blockster-reader",
        False,
        "Demo Reader",
        "0x5A0b54D5dc17e0AadC383d2db43B0a0D3E029c4c",
    ),
    (
        "newcomer@blockster.local",
        "blockster-newcomer",
        False,
        "Demo Newcomer",
        "0x3C1F0B7E9a24d5c86E0f17a2b94D3e5C7F80A1B2",
    ),
    (
        "creator@blockster.local",
        "blockster-creator",
        False,
        "Demo Creator",
        "0x9E7D2a4C61b8F03e5d1C7A9B2E4F60d83A5c1E77",
    ),
]

# The sandbox persona each demo reader signs in as on the X consent page, so the
# demo's X scores span the range (docs/sandbox.md lists the personas and scores).
DEMO_X_ACCOUNTS = {
    "newcomer@blockster.local": ("quiet_observer", "a low X score"),
    "reader@blockster.local": ("danareadscrypto", "a middling X score"),
    "creator@blockster.local": ("chainbuilder_mo", "a high X score"),
}

# Posts by the sandbox's publisher account (@BlocksterCom) that stay the same across
# sandbox resets: id -> (hours before the sandbox started, text as X shows it). The
# sandbox seeds the same texts (sandbox.seed.BLOCKSTER_TWEETS; a test keeps them
# alike); seed_demo runs before the sandbox is up, so it cannot ask it.
DEMO_TWEETS = {
    "1865000000000036000": (
        72,
        "What is BUX, and how do you earn it? Read a story, share it on X, and BUX "
        "land in your wallet. Start here: https://blockster.com/welcome-to-blockster",
    ),
    "1865000000000042000": (
        26,
        "Your X score runs from 1 to 100 and multiplies every reward you earn on "
        "Blockster. Here is how it is worked out: "
        "https://blockster.com/how-the-x-score-works",
    ),
    "1865000000000047000": (
        2,
        "Weekly market notes are out: on-chain activity, fees and the stories worth "
        "your time, with @chainbuilder_mo. "
        "https://blockster.com/weekly-market-notes #DeFi",
    ),
    "1865000000000048000": (
        1.5,
        "Blockster is on your phone from today. Read the stories you follow, share "
        "them on X and watch your BUX add up wherever you are. What is in the app, "
        "a thread (1/4)",
    ),
    "1865000000000049000": (
        1,
        "Announcing the Blockster app for iOS and Android: your reading list, your "
        "BUX balance and every Retweet & Like campaign, in your pocket. "
        "https://blockster.com/blockster-on-your-phone",
    ),
    "1865000000000050000": (
        0.5,
        "Thank you for a busy launch day: 12,000 readers installed the Blockster app "
        "in its first hours. Your questions, answered: "
        "https://blockster.com/blockster-on-your-phone#faq",
    ),
}
# The sandbox publisher's X account id.
BLOCKSTER_X_ID = "1405555512345678848"
# The demo's campaigns: tweets in order, base reward, places, BUX budget, past shares
# the dashboard shows, and the day it opens (0: open already; 1: tomorrow at 14:00
# UTC, a scheduled campaign).
DEMO_CAMPAIGNS: dict[
    str, tuple[tuple[str, ...], Decimal, int | None, Decimal, int, int]
] = {
    "welcome-to-blockster": (
        ("1865000000000036000",),
        Decimal("1"),
        None,
        Decimal("3000"),
        40,
        0,
    ),
    "how-the-x-score-works": (
        ("1865000000000042000",),
        Decimal("2"),
        100,
        Decimal("8000"),
        30,
        0,
    ),
    "weekly-market-notes": (
        ("1865000000000047000",),
        Decimal("3"),
        50,
        Decimal("6000"),
        0,
        1,
    ),
    # A campaign of several tweets: the launch thread, the announcement and its
    # follow-up; a reader earns for each one they retweet.
    "blockster-on-your-phone": (
        ("1865000000000048000", "1865000000000049000", "1865000000000050000"),
        Decimal("2"),
        200,
        Decimal("12000"),
        24,
        0,
    ),
}
# When a scheduled demo campaign opens, on its day (UTC).
OPENING_HOUR = 14
# The demo campaigns' past: shares spread over this many days before today.
HISTORY_DAYS = 7

DEMO_POSTS = [
    (
        "welcome-to-blockster",
        "Welcome to Blockster",
        "Blockster pays readers in BUX for reading and sharing the stories they "
        "like.\n\nConnect your X account, Retweet & Like a campaign's post and earn "
        "BUX scaled by your X account's quality score.",
    ),
    (
        "how-the-x-score-works",
        "How your X score shapes your reward",
        "Your X account's quality score runs from 1 to 100. It looks at follower "
        "quality, engagement on your own posts, account age, activity, list "
        "presence and reach.\n\n"
        "A campaign's base reward is multiplied by your score.",
    ),
    (
        "weekly-market-notes",
        "Weekly market notes",
        "A short look at the week's on-chain activity, written for readers who "
        "want the signal without the noise.",
    ),
    (
        "blockster-on-your-phone",
        "Blockster on your phone",
        "The Blockster app is out for iOS and Android. What you read and share on "
        "the site comes with you: your reading list, your BUX balance and the "
        "campaigns that pay for a Retweet & Like.\n\n"
        "This story's campaign has three posts on X: the launch thread, the "
        "announcement and its follow-up. Retweet each one to earn for each.",
    ),
]


class Command(BaseCommand):
    help = (
        "Create the demo accounts and posts used with the sandbox (development only). "
        "Safe to run again: existing rows are left as they are."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run with DEBUG off too (creates accounts with known passwords).",
        )

    def handle(self, *args: str, force: bool = False, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates accounts with publicly known passwords; it runs "
                "only with DEBUG=1 (or pass --force on a throwaway database)."
            )
        created_users = created_posts = created_campaigns = 0
        with transaction.atomic():
            users = {}
            for email, password, staff, name, wallet in DEMO_USERS:
                user, created = User.objects.get_or_create(
                    email=email,
                    defaults={
                        "is_staff": staff,
                        "is_superuser": staff,
                        "display_name": name,
                        "wallet_address": wallet,
                    },
                )
                if created:
                    user.set_password(password)
                    user.save(update_fields=["password"])
                    created_users += 1
                users[email] = (user, password, created)
            author = users[DEMO_USERS[0][0]][0]
            for slug, title, body in DEMO_POSTS:
                post, created = Post.objects.get_or_create(
                    slug=slug,
                    defaults={
                        "title": title,
                        "body": body,
                        "author": author,
                        "is_published": True,
                        "published_at": timezone.now(),
                    },
                )
                created_posts += created
                if slug in DEMO_CAMPAIGNS and get_campaign_for_post(post) is None:
                    tweet_ids, base, places, budget, shares, day = DEMO_CAMPAIGNS[slug]
                    campaign = create_share_campaign(
                        post,
                        tweet_urls=[
                            f"https://x.com/BlocksterCom/status/{tweet_id}"
                            for tweet_id in tweet_ids
                        ],
                        cards={
                            tweet_id: demo_tweet(tweet_id) for tweet_id in tweet_ids
                        },
                        bux_reward=base,
                        max_participants=places,
                        bux_budget=budget,
                        starts_at=opening(day),
                    )
                    if shares:
                        give_history(campaign, shares)
                    created_campaigns += 1
        # The dashboard's hourly sums, for the history just written.
        refresh_recent_stats(timedelta(days=HISTORY_DAYS + 1))
        self.stdout.write("Demo logins:")
        for email, (_, password, created) in users.items():
            note = "" if created else " (existing account; password left unchanged)"
            self.stdout.write(f"  {email} / {password}{note}")
            if email in DEMO_X_ACCOUNTS:
                username, score = DEMO_X_ACCOUNTS[email]
                self.stdout.write(f"    connect X as @{username}: {score}")
        self.stdout.write(
            self.style.SUCCESS(
                f"seed_demo: users_created={created_users} "
                f"posts_created={created_posts} campaigns_created={created_campaigns}"
            )
        )


def opening(day: int) -> datetime | None:
    """None for a campaign open already; otherwise `day` days from today, at
    OPENING_HOUR UTC."""
    if not day:
        return None
    start = timezone.now().astimezone(UTC) + timedelta(days=day)
    return start.replace(hour=OPENING_HOUR, minute=0, second=0, microsecond=0)


def demo_tweet(tweet_id: str) -> XTweetCard:
    """The publisher's tweet as the sandbox's X shows it."""
    hours, text = DEMO_TWEETS[tweet_id]
    return XTweetCard(
        id=tweet_id,
        text=text,
        author_id=BLOCKSTER_X_ID,
        author_name="Blockster",
        author_username="BlocksterCom",
        created_at=timezone.now() - timedelta(hours=hours),
    )


def give_history(campaign: ShareCampaign, shares: int) -> None:
    """Past shares of made-up readers over the last HISTORY_DAYS, in the states a
    running campaign has (mostly minted, a few failed or awaiting the mint), with
    what X charged for them and the readers who only looked: the campaign's
    dashboard has something to show from the first `make run`. The rows are
    written as they stand, like imported data: none of them is minted for real."""
    tweets = list(campaign.tweets.all())
    # Demo data, the same everywhere.
    chance = random.Random(tweets[0].tweet_id)  # noqa: S311
    now = timezone.now()
    write_micros = int(DEFAULT_PRICES[PriceKind.POST_WRITE].usd * MICROS_PER_USD)
    spend: Counter[tuple[datetime, str]] = Counter()
    rewards = []
    for n in range(shares):
        made = now - timedelta(hours=chance.uniform(2, HISTORY_DAYS * 24))
        reader = User.objects.create_user(
            f"history-{campaign.pk}-{n}@blockster.local",
            password=None,
            display_name=f"Past reader {n + 1}",
        )
        score = chance.choice((5, 12, 25, 25, 40, 55, 70, 88))
        connection = XConnection.objects.create(
            user=reader,
            x_user_id=f"9{campaign.pk:03d}{n:06d}",
            x_username=f"past_reader_{campaign.pk}_{n}",
            access_token_encrypted=b"",
            token_expires_at=made,
            x_score=score,
        )
        status = chance.choice(
            [ShareReward.Status.REWARDED] * 8
            + [ShareReward.Status.FAILED, ShareReward.Status.VERIFIED]
        )
        minted = status == ShareReward.Status.REWARDED
        tweet = chance.choice(tweets)
        rewards.append(
            ShareReward(
                user=reader,
                campaign=campaign,
                campaign_tweet=tweet,
                x_connection=connection,
                status=status,
                retweet_id=tweet.tweet_id,
                liked=True,
                bux_rewarded=(score * campaign.bux_reward).quantize(
                    Decimal("1"), rounding=ROUND_HALF_UP
                ),
                failure_reason="Mint failed" if status == "failed" else "",
                verified_at=made,
                rewarded_at=made + timedelta(seconds=20) if minted else None,
                tx_hash=f"0x{chance.getrandbits(256):064x}" if minted else None,
            )
        )
        hour = made.replace(minute=0, second=0, microsecond=0)
        spend[hour, Purpose.SHARE] += 1
        spend[hour, Purpose.LIKE] += 1
        day = made.date()
        for viewer in range(chance.randint(2, 4)):
            count_visitor(BOX_VIEWS, campaign.pk, f"past{n}-{viewer}", day=day)
        count_visitor(PRESSES, campaign.pk, f"past{n}-0", day=day)
    # The campaign ran for the whole history (its dashboard starts at its start).
    ShareCampaign.objects.filter(pk=campaign.pk).update(
        created_at=now - timedelta(days=HISTORY_DAYS)
    )
    made_rewards = ShareReward.objects.bulk_create(rewards)
    # auto_now_add set "now": the history's times are the share's own.
    for reward, row in zip(made_rewards, rewards, strict=True):
        ShareReward.objects.filter(pk=reward.pk).update(
            created_at=row.verified_at, updated_at=row.verified_at
        )
    XSpend.objects.bulk_create(
        XSpend(
            hour=hour,
            campaign_id=campaign.pk,
            purpose=purpose,
            requests=count,
            cost_micros=count * write_micros,
        )
        for (hour, purpose), count in spend.items()
    )
