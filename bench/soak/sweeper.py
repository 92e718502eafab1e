"""What beat does in a real deployment, from the soak process on a fast schedule:
the stale-claim purge, the reward sweeper, the shared-stage sweeper and the audit
after payout every few seconds and now and then the mirror repair, run with
`.apply()` as a worker would run them (beat's production schedule is once a minute,
every 15 minutes and every 10 minutes)."""

from __future__ import annotations

import threading
import time
from typing import Any

from bench.soak.figures import Figures
from bench.soak.readers import CampaignPool

SWEEP_EVERY = 5.0
REPAIR_EVERY = 20.0


def sweep_once(figures: Figures, *, repair: bool) -> None:
    """What beat would run: the purge and the sweeper, and now and then the mirror
    repair."""
    from django.db import close_old_connections, connection

    from campaigns.tasks import purge_stale_claims_task, sweep_shared_rewards_task
    from rewards.tasks import (
        audit_rewarded_shares_task,
        repair_mirror_task,
        sweep_rewards_task,
    )

    tasks = [
        purge_stale_claims_task,
        sweep_rewards_task,
        sweep_shared_rewards_task,
        audit_rewarded_shares_task,
        *([repair_mirror_task] if repair else []),
    ]
    for task in tasks:
        name = task.name.rsplit(".", 1)[-1]
        # The task's summary, or the exception it raised.
        summary: Any = task.apply().result
        if isinstance(summary, BaseException):
            figures.count("errors", f"{name}: {type(summary).__name__}")
            # A terminated session stays broken until closed.
            connection.close()
        else:
            figures.count("notes", f"{name} runs")
            if name == "purge_stale_claims_task":
                figures.count("notes", "stale claims freed by the purge", summary)
            if name == "sweep_rewards_task":
                queued = summary["queued"]
                figures.count("notes", "mints re-queued by the sweeper", queued)
                flagged = summary["flagged"]
                figures.count(
                    "notes", "mints handed to an operator by the sweeper", flagged
                )
            if name == "sweep_shared_rewards_task":
                queued = summary["queued"]
                figures.count("notes", "confirmations re-queued by the sweeper", queued)
            if name == "audit_rewarded_shares_task":
                for outcome in ("read", "kept", "undone", "skipped", "post_deleted"):
                    figures.count("audit", outcome, summary[outcome])
    close_old_connections()


def sweeper_loop(pool: CampaignPool, figures: Figures, stop: threading.Event) -> None:
    from django.db import connection

    last_repair = time.monotonic()
    while not stop.wait(SWEEP_EVERY):
        repair = time.monotonic() - last_repair >= REPAIR_EVERY
        try:
            sweep_once(figures, repair=repair)
            figures.count("notes", "campaigns opened", pool.replenish())
        except Exception as error:
            figures.count("errors", f"sweeper: {type(error).__name__}")
            connection.close()
        if repair:
            last_repair = time.monotonic()
