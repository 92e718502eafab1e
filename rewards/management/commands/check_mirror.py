from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from blockster.redis_client import REDIS_ERRORS
from rewards.management.arguments import add_batch_size_argument
from rewards.mirror.check import check_mirror


class Command(BaseCommand):
    help = (
        "Compare the Redis mirror with PostgreSQL: missing, stale and orphaned "
        "hashes, index and activity-feed drift, totals and multiplier drift, and "
        "keys left by the previous (user, campaign) layout. Exits 1 when drift is "
        "found; --repair mends it and removes those keys (beat also runs the repair "
        "every 10 minutes)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--repair", action="store_true", help="mend every drift found"
        )
        add_batch_size_argument(parser)

    def handle(self, *args: Any, repair: bool, batch_size: int, **options: Any) -> None:
        try:
            report = check_mirror(repair=repair, batch_size=batch_size)
        except REDIS_ERRORS as error:
            raise CommandError(f"Redis is unavailable: {error}") from error
        self.stdout.write("\n".join(report.lines()))
        if not report.in_sync and not repair:
            sys.exit(1)
