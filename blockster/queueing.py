"""Sending a Celery task whose loss something else makes good (a sweeper, the next
run, admin): a broker outage is logged, never raised, so the request or task that
sends it goes on."""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app

logger = logging.getLogger(__name__)


def send_task_or_log(name: str, *args: object, catch_up: str, **options: Any) -> bool:
    """Send task `name` by name with `args` (no one reads its result); True when the
    broker took it. A dead broker is logged with who catches up (`catch_up`)."""
    try:
        current_app.send_task(name, args=args, ignore_result=True, **options)
    except Exception as error:  # kombu raises several types for a dead broker
        logger.warning(
            "%s%r not queued (%s); %s", name, args, type(error).__name__, catch_up
        )
        return False
    return True
