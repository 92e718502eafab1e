"""python -m sandbox: serve the emulated X and BUX minter (docs/sandbox.md).

The app registration (client id and secret, callback URLs) and the minter secret are
the launcher's to give, by flag or by environment variable: `manage.py run_sandbox`
gives the site's settings, `sandbox.testing.SandboxProcess` the test harness's. The
variables keep secrets off the command line, which every user of the machine can read.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from sandbox.app import create_app
from sandbox.config import PLANS, RATE_PROFILES, SandboxConfig

# Flag: the variable read when the flag is not given.
REGISTRATION = {
    "client_id": "SANDBOX_CLIENT_ID",
    "client_secret": "SANDBOX_CLIENT_SECRET",
    "minter_secret": "SANDBOX_MINTER_SECRET",
}
# Optional: without it, reads need a user's token.
APP_BEARER_TOKEN = "SANDBOX_APP_BEARER_TOKEN"
# Comma-separated, for any number of callback URLs.
CALLBACK_URLS = "SANDBOX_CALLBACK_URLS"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="The local emulator of X (OAuth 2.0 + API v2) and of the BUX "
        "minter, for development, tests and benchmarks.",
    )
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--state-file",
        default="",
        help="where state survives restarts; empty (the default) keeps it in memory",
    )
    parser.add_argument("--access-token-ttl", type=int, default=7200)
    parser.add_argument("--code-ttl", type=float, default=30.0)
    parser.add_argument("--plan", choices=PLANS, default="enterprise")
    parser.add_argument("--rate-profile", choices=RATE_PROFILES, default="pay-per-use")
    for option, variable in REGISTRATION.items():
        parser.add_argument(
            "--" + option.replace("_", "-"),
            default=os.environ.get(variable, ""),
            help=f"default ${variable}",
        )
    parser.add_argument(
        "--app-bearer-token",
        default=os.environ.get(APP_BEARER_TOKEN, ""),
        help=f"the app-only Bearer token reads accept; default ${APP_BEARER_TOKEN}",
    )
    parser.add_argument(
        "--callback-url",
        action="append",
        dest="callback_urls",
        help=f"a registered callback URL (repeatable); default ${CALLBACK_URLS}",
    )
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
    parser.add_argument("--quiet", action="store_true", help="no log line per request")
    args = parser.parse_args(argv)
    if not args.callback_urls:
        env = os.environ.get(CALLBACK_URLS, "")
        args.callback_urls = [url for url in env.split(",") if url.strip()]
    missing = [
        f"--{option.replace('_', '-')} (${variable})"
        for option, variable in REGISTRATION.items()
        if not getattr(args, option)
    ]
    if not args.callback_urls:
        missing.append(f"--callback-url (${CALLBACK_URLS})")
    if missing:
        parser.error(
            "the sandbox accepts the app registration it is given, and got no "
            + ", ".join(missing)
            + ". `python manage.py run_sandbox` gives the site's settings."
        )
    return args


def config_from(args: argparse.Namespace) -> SandboxConfig:
    host = args.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding
        host = "127.0.0.1"
    return SandboxConfig(
        client_id=args.client_id,
        client_secret=args.client_secret,
        callback_urls=tuple(args.callback_urls),
        minter_secret=args.minter_secret,
        app_bearer_token=args.app_bearer_token,
        minter_ignores_idempotency_key=args.minter_ignores_idempotency_key,
        public_url=(args.public_url or f"http://{host}:{args.port}").rstrip("/"),
        state_file=Path(args.state_file) if args.state_file else None,
        access_token_ttl=args.access_token_ttl,
        code_ttl=args.code_ttl,
        plan=args.plan,
        rate_profile=args.rate_profile,
        log_requests=not args.quiet,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = config_from(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", force=True
    )
    minter = (
        "ignores Idempotency-Key"
        if config.minter_ignores_idempotency_key
        else "honours Idempotency-Key"
    )
    print(
        f"X and BUX minter sandbox on {config.public_url} "
        f"(plan {config.plan}, rate profile {config.rate_profile}, minter {minter}, "
        f"state {config.state_file or 'in memory'})",
        flush=True,
    )
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        # A hanging fault must not hold up Ctrl-C or `make run`'s SIGTERM.
        timeout_graceful_shutdown=2,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
