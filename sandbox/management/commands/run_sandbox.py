"""python manage.py run_sandbox: serve the emulated X and BUX minter."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sandbox.config import PLANS, RATE_PROFILES, SandboxConfig

# The sandbox's own app registration, used when settings do not point at the sandbox.
DEFAULTS = {
    "X_CLIENT_ID": "sandbox-client-id",
    "X_CLIENT_SECRET": "sandbox-client-secret",
    "BUX_MINTER_SECRET": "sandbox-minter-secret",
}


def _setting(name: str) -> str:
    return getattr(settings, name, "") or DEFAULTS.get(name, "")


def _public_url(options: dict[str, Any]) -> str:
    host = options["host"]
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding
        host = "127.0.0.1"
    return f"http://{host}:{options['port']}"


def _minter_mode(config: SandboxConfig) -> str:
    if config.minter_ignores_idempotency_key:
        return "ignores Idempotency-Key"
    return "honours Idempotency-Key"


class Command(BaseCommand):
    help = (
        "Run the local emulator of X (OAuth 2.0 + API v2) and of the BUX minter, "
        "for development, tests and benchmarks. `make run` starts it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8010)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--state-file",
            default=str(Path(settings.BASE_DIR) / ".data" / "sandbox" / "state.json"),
            help="where state survives restarts; an empty value keeps it in memory",
        )
        parser.add_argument("--access-token-ttl", type=int, default=7200)
        parser.add_argument("--code-ttl", type=float, default=30.0)
        parser.add_argument("--plan", choices=PLANS, default="enterprise")
        parser.add_argument(
            "--rate-profile", choices=RATE_PROFILES, default="pay-per-use"
        )
        parser.add_argument("--client-id", default=_setting("X_CLIENT_ID"))
        parser.add_argument("--client-secret", default=_setting("X_CLIENT_SECRET"))
        parser.add_argument(
            "--callback-url",
            action="append",
            dest="callback_urls",
            help="a registered callback URL (repeatable); default X_CALLBACK_URL",
        )
        parser.add_argument("--minter-secret", default=_setting("BUX_MINTER_SECRET"))
        parser.add_argument(
            "--minter-ignores-idempotency-key",
            action="store_true",
            help="mint on every accepted request, as the real minter does (by default "
            "a repeated Idempotency-Key gets the first answer and mints nothing)",
        )
        parser.add_argument(
            "--public-url",
            help="the sandbox's URL as browsers see it (avatar links); default "
            "http://<host>:<port>, with 127.0.0.1 for a wildcard host",
        )
        parser.add_argument(
            "--quiet", action="store_true", help="no log line per request"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn

        from sandbox.app import create_app

        config = SandboxConfig(
            client_id=options["client_id"],
            client_secret=options["client_secret"],
            callback_urls=tuple(options["callback_urls"] or [settings.X_CALLBACK_URL]),
            minter_secret=options["minter_secret"],
            minter_ignores_idempotency_key=options["minter_ignores_idempotency_key"],
            public_url=(options["public_url"] or _public_url(options)).rstrip("/"),
            state_file=Path(options["state_file"]) if options["state_file"] else None,
            access_token_ttl=options["access_token_ttl"],
            code_ttl=options["code_ttl"],
            plan=options["plan"],
            rate_profile=options["rate_profile"],
            log_requests=not options["quiet"],
        )
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(message)s", force=True
        )
        self.stdout.write(
            f"X and BUX minter sandbox on {config.public_url} "
            f"(plan {config.plan}, rate profile {config.rate_profile}, "
            f"minter {_minter_mode(config)}, "
            f"state {config.state_file or 'in memory'})"
        )
        uvicorn.run(
            create_app(config),
            host=options["host"],
            port=options["port"],
            log_config=None,
            access_log=False,
            # A hanging fault must not hold up Ctrl-C or `make run`'s SIGTERM.
            timeout_graceful_shutdown=2,
        )
