from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from rewards.mirror import DEFAULT_BATCH_SIZE, progress_printer, sync_all_share_rewards


class Command(BaseCommand):
    help = (
        "Write every share reward (hash, indexes and activity feed) and every X "
        "multiplier from PostgreSQL to the Redis mirror. Run after restoring or "
        "flushing Redis; safe to re-run. "
        "--prune also removes mirror entries whose rows no longer exist."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"rows per PostgreSQL fetch and Redis pipeline "
            f"(default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="remove mirror entries whose rows no longer exist",
        )

    def handle(self, *args: Any, batch_size: int, prune: bool, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            result = sync_all_share_rewards(
                batch_size=batch_size,
                prune=prune,
                progress=progress_printer(self.stderr),
            )
        except RedisError as error:
            raise CommandError(f"Redis is unavailable: {error}") from error
        self.stdout.write(f"x_multipliers={result['multipliers']}")
        self.stdout.write(
            f"total={result['total']} success={result['success']} "
            f"errors={result['errors']}"
        )
