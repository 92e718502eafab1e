from __future__ import annotations

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand

from rewards.services.stats import refresh_recent_stats


class Command(BaseCommand):
    help = (
        "Rebuild the campaign dashboard's hourly sums of rewards for the last "
        "--days (beat keeps the last 36 hours up to date by itself). Run after "
        "importing or repairing rewards older than that. Safe to re-run."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--days", type=float, default=2.0)

    def handle(self, *args: Any, days: float, **_: Any) -> None:
        since = refresh_recent_stats(timedelta(days=days))
        self.stdout.write(f"rebuilt from {since:%Y-%m-%d %H:00} UTC")
