"""Putting a share's confirmation on X on the queue."""

from __future__ import annotations

import logging

from celery import current_app

logger = logging.getLogger(__name__)

# Sent by name: campaigns.tasks imports the services it runs, so the services cannot
# import it back.
CONFIRM_SHARE_TASK = "campaigns.tasks.confirm_share_task"


def request_confirmation(reward_id: int, *, delay: float = 0) -> bool:
    """Queue a look for the share on X in `delay` seconds; a broker outage is logged
    and left to the sweeper (confirm.sweep_shared_rewards)."""
    try:
        # No one reads its result: sent without subscribing to it on the backend.
        current_app.send_task(
            CONFIRM_SHARE_TASK, args=(reward_id,), countdown=delay, ignore_result=True
        )
    except Exception as error:  # kombu raises several types for a dead broker
        logger.warning(
            "confirmation of reward %s not queued (%s); the sweeper will queue it",
            reward_id,
            type(error).__name__,
        )
        return False
    return True
