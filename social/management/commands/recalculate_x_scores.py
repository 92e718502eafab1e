from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from social.models import XConnection
from social.score import calculate_and_save_score, due_score_connections
from social.services import XReconnectRequired
from social.x_api import XApiError, XRateLimited


class Command(BaseCommand):
    help = (
        "Recalculate X account quality scores now. By default only the due ones (never "
        "scored, or scored 7 or more days ago); --all for every connection, --user for "
        "one reader. Stops early, safely, when X's rate limit is reached."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--all", action="store_true", help="every connection")
        group.add_argument(
            "--user", type=int, metavar="ID", help="one user's connection"
        )

    def handle(self, *args: str, all: bool, user: int | None, **options: Any) -> None:
        if user is not None:
            connections = XConnection.objects.filter(user_id=user)
            if not connections.exists():
                raise CommandError(f"user {user} has no connected X account")
        elif all:
            connections = XConnection.objects.order_by("pk")
        else:
            connections = due_score_connections()
        ids = list(connections.values_list("pk", flat=True))
        total, success, errors = len(ids), 0, 0
        self.stdout.write(f"Recalculating {total} X score(s)")
        for position, connection_id in enumerate(ids, start=1):
            connection = XConnection.objects.filter(pk=connection_id).first()
            if connection is None:
                continue
            prefix = f"  [{position}/{total}] @{connection.x_username}:"
            try:
                breakdown = calculate_and_save_score(connection)
            except XRateLimited as error:
                errors += 1
                self.stderr.write(f"{prefix} {error.user_message}; stopping here")
                break
            except (XApiError, XReconnectRequired) as error:
                errors += 1
                self.stderr.write(f"{prefix} failed: {error}")
                continue
            success += 1
            self.stdout.write(f"{prefix} {breakdown.total}")
        self.stdout.write(
            f"recalculate_x_scores: total={total} success={success} errors={errors}"
        )
