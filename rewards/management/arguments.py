"""Arguments shared by the mirror's commands."""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError

from rewards.mirror.write import DEFAULT_BATCH_SIZE


def _at_least_one(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ArgumentTypeError("must be at least 1")
    return number


def add_batch_size_argument(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--batch-size",
        type=_at_least_one,
        default=DEFAULT_BATCH_SIZE,
        help="rows per PostgreSQL fetch and Redis pipeline "
        f"(default {DEFAULT_BATCH_SIZE})",
    )
