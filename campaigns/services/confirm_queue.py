"""Putting a share's confirmation on X on the queue."""

from __future__ import annotations

from blockster.queueing import send_task_or_log

# Sent by name: campaigns.tasks imports the services it runs, so the services cannot
# import it back.
CONFIRM_SHARE_TASK = "campaigns.tasks.confirm_share_task"


def request_confirmation(reward_id: int, *, delay: float = 0) -> bool:
    """Queue a look for the share on X in `delay` seconds; a broker outage is logged
    and left to the sweeper (confirm.sweep_shared_rewards)."""
    return send_task_or_log(
        CONFIRM_SHARE_TASK,
        reward_id,
        countdown=delay,
        catch_up="the stage's sweeper will queue it",
    )
