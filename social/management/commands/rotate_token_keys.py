from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import SecurityEvent
from accounts.services import record_security_event
from social.crypto import TokenDecryptError, keyring
from social.models import XConnection
from social.services import rotate_connection_tokens


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored X token with the first key of TOKEN_ENCRYPTION_KEYS. "
        "Run it after putting a new key first; once it reports errors=0, the old keys "
        "can be removed. Safe to re-run."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: str, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        primary = keyring().primary_id
        total = XConnection.objects.count()
        self.stdout.write(
            f"Re-encrypting tokens of {total} connection(s) with {primary!r}"
        )
        done = rotated = errors = 0
        last_pk = 0
        while True:
            batch = list(
                XConnection.objects.filter(pk__gt=last_pk)
                .order_by("pk")
                .only("pk", "user_id")[:batch_size]
            )
            if not batch:
                break
            for connection in batch:
                try:
                    rotated += rotate_connection_tokens(connection)
                except TokenDecryptError as error:
                    errors += 1
                    self.stderr.write(f"connection {connection.pk}: {error}")
                done += 1
            last_pk = batch[-1].pk
            self.stdout.write(f"  {done}/{total} checked, {rotated} re-encrypted")
        summary = {
            "total": done,
            "rotated": rotated,
            "unchanged": done - rotated - errors,
            "errors": errors,
        }
        record_security_event(
            SecurityEvent.Kind.TOKEN_KEYS_ROTATED,
            detail={"primary_key_id": primary, **summary},
        )
        self.stdout.write(
            "rotate_token_keys: " + " ".join(f"{k}={v}" for k, v in summary.items())
        )
        if errors:
            raise CommandError(
                f"{errors} connection(s) could not be decrypted with any configured key"
            )
