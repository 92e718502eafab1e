from __future__ import annotations

from argparse import ArgumentParser
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from campaigns.services import create_share_campaign, get_campaign_for_post
from posts.models import Post

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
    "reader@blockster.local": ("dana_reads_crypto", "a middling X score"),
    "creator@blockster.local": ("chain_builder_mo", "a high X score"),
}

# Posts by the sandbox's publisher account that stay the same across sandbox resets.
DEMO_CAMPAIGNS = {
    "welcome-to-blockster": ("1865000000000036000", Decimal("1"), None),
    "how-the-x-score-works": ("1865000000000042000", Decimal("2"), 100),
}

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
                    tweet_id, base, places = DEMO_CAMPAIGNS[slug]
                    create_share_campaign(
                        post,
                        tweet_url=f"https://x.com/BlocksterCom/status/{tweet_id}",
                        bux_reward=base,
                        max_participants=places,
                    )
                    created_campaigns += 1
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
