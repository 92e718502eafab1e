from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from campaigns.dashboard.export import csv_lines
from campaigns.models import ShareCampaign


class Command(BaseCommand):
    help = (
        "Write a campaign's rewards as CSV (reader, X handle and score, BUX, state, "
        "transaction, times), streamed in memory of constant size: safe for a "
        "campaign with millions of rewards. To standard output unless --output."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("campaign_id", type=int)
        parser.add_argument("--output", "-o", help="file to write (default: stdout)")

    def handle(
        self, *args: Any, campaign_id: int, output: str | None, **_: Any
    ) -> None:
        campaign = ShareCampaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            raise CommandError(f"No campaign {campaign_id}.")
        rows = -1  # the header is not a reward
        if output:
            with open(output, "w", encoding="utf-8", newline="") as target:
                for line in csv_lines(campaign):
                    target.write(line)
                    rows += 1
        else:
            for line in csv_lines(campaign):
                self.stdout.write(line, ending="")
                rows += 1
        self.stderr.write(f"campaign={campaign_id} rewards={rows}")
