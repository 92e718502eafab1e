"""python manage.py run_sandbox: the sandbox (`python -m sandbox`) registered with the
site's settings, so the site and its emulated X and minter agree."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

# The site's settings the sandbox registers, by the variable it reads them from.
REGISTRATION = {
    "SANDBOX_CLIENT_ID": "X_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET": "X_CLIENT_SECRET",
    "SANDBOX_APP_BEARER_TOKEN": "X_BEARER_TOKEN",
    "SANDBOX_CALLBACK_URLS": "X_CALLBACK_URL",
    "SANDBOX_MINTER_SECRET": "BUX_MINTER_SECRET",
}


class Command(BaseCommand):
    help = (
        "Run the local emulator of X (OAuth 2.0 + API v2) and of the BUX minter with "
        "the site's app registration and minter secret (development only; `make run` "
        "starts it). Every option is the sandbox's own: see --help."
    )

    def run_from_argv(self, argv: list[str]) -> None:
        # The options are `python -m sandbox`'s, which Django's parser does not know.
        try:
            self.execute_sandbox(argv[2:])
        except CommandError as error:
            self.stderr.write(f"CommandError: {error}")
            sys.exit(1)

    def handle(self, *args: str, **options: object) -> None:
        self.execute_sandbox([])

    def execute_sandbox(self, options: list[str]) -> None:
        """Replace this process with the sandbox: signals (make run's SIGTERM) then
        reach the server itself, which saves its state before it exits."""
        if not settings.DEBUG:
            raise CommandError("the sandbox is a development tool: set DEBUG=1")
        if importlib.util.find_spec("uvicorn") is None:
            raise CommandError(
                "the sandbox's server is not installed: pip install '.[sandbox]'"
            )
        env = {**os.environ, **_registration()}
        state_file = Path(settings.BASE_DIR) / ".data" / "sandbox" / "state.json"
        # Given first, so the caller's own --state-file wins.
        command = [sys.executable, "-m", "sandbox", "--state-file", str(state_file)]
        os.chdir(settings.BASE_DIR)  # where `-m sandbox` is found
        os.execve(sys.executable, [*command, *options], env)  # noqa: S606


def _registration() -> dict[str, str]:
    values = {
        variable: getattr(settings, name) for variable, name in REGISTRATION.items()
    }
    empty = [REGISTRATION[variable] for variable, value in values.items() if not value]
    if empty:
        raise CommandError(
            f"{', '.join(empty)} not set: set SANDBOX=1 for the development "
            "registration (docs/sandbox.md), or set them"
        )
    return values
