from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from blockster.redis_client import REDIS_ERRORS
from rewards.management.arguments import add_batch_size_argument
from rewards.mirror.backfill import Progress, sync_all_share_rewards


def progress_bar(stream: OutputWrapper) -> Progress:
    """A one-line progress bar with rate and ETA, redrawn after each batch."""
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate else 0
        filled = int(30 * done / total) if total else 30
        stream.write(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} "
            f"{rate:,.0f} rows/s ETA {eta:,.0f}s ",
            ending="",
        )
        if done >= total:
            stream.write("")
        stream.flush()

    return show


class Command(BaseCommand):
    help = (
        "Write every share reward (hash, indexes and activity feed) and every X "
        "multiplier from PostgreSQL to the Redis mirror. Run after restoring or "
        "flushing Redis; safe to re-run. "
        "--prune also removes mirror entries whose rows no longer exist, and the "
        "keys of the untagged layout. Moving off the (user, campaign) layout is "
        "check_mirror --repair's, not this command's."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_batch_size_argument(parser)
        parser.add_argument(
            "--prune",
            action="store_true",
            help="remove mirror entries whose rows no longer exist",
        )

    def handle(self, *args: Any, batch_size: int, prune: bool, **options: Any) -> None:
        try:
            result = sync_all_share_rewards(
                batch_size=batch_size, prune=prune, progress=progress_bar(self.stderr)
            )
        except REDIS_ERRORS as error:
            raise CommandError(f"Redis is unavailable: {error}") from error
        self.stdout.write(f"x_multipliers={result['multipliers']}")
        self.stdout.write(
            f"total={result['total']} success={result['success']} "
            f"errors={result['errors']}"
        )
