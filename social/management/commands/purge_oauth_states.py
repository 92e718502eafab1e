from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from social.services import purge_oauth_states


class Command(BaseCommand):
    help = (
        "Delete expired X OAuth states (unfinished connect attempts). Beat runs this "
        "hourly; safe to run at any time."
    )

    def handle(self, *args: str, **options: Any) -> None:
        deleted = purge_oauth_states()
        self.stdout.write(f"purge_oauth_states: deleted={deleted}")
