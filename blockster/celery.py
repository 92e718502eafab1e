"""The Celery application: Redis broker, JSON only, configured by CELERY_* settings.

Tasks are routed by job to queues of their own (docs/operations.md, "Workers and
queues"), named after the default queue: `<default>.mints`, `<default>.x_reads`,
`<default>.mirror`, `<default>.housekeeping`; anything else (mail, pings) stays on
the default queue. A worker started without `--queues` consumes all of them (what
`make run` starts); on several machines, each worker takes the queues it is given,
so a mint never waits behind an hour-long score scan.
"""

import os
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blockster.settings")

app = Celery("blockster")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Each job's tasks, by name (the names are the tasks' module paths; this module is
# below the apps, so it names them rather than importing them).
JOBS: dict[str, tuple[str, ...]] = {
    # Minting BUX: waits on the chain, and is what a reader waits for.
    "mints": ("rewards.tasks.mint_bux_task",),
    # Reads from X: scores (up to a few hundred API calls each), share confirmations,
    # the audit of rewarded retweets. Paced by X's rate limits.
    "x_reads": (
        "social.tasks.calculate_x_score_task",
        "campaigns.tasks.confirm_share_task",
        "rewards.tasks.audit_rewarded_shares_task",
    ),
    # The mirror's check and repair: a scan of every reward.
    "mirror": ("rewards.tasks.repair_mirror_task",),
    # The periodic sweeps and purges, and the stats refresh.
    "housekeeping": (
        "social.tasks.purge_oauth_states_task",
        "social.tasks.enqueue_due_scores_task",
        "campaigns.tasks.purge_stale_claims_task",
        "campaigns.tasks.sweep_shared_rewards_task",
        "rewards.tasks.sweep_rewards_task",
        "rewards.tasks.refresh_campaign_stats_task",
    ),
}
_JOB_OF = {task: job for job, tasks in JOBS.items() for task in tasks}


def job_queue(job: str, default_queue: str | None = None) -> str:
    """The queue of `job`'s tasks, beside `default_queue` (the app's by default)."""
    if job not in JOBS:
        raise KeyError(f"no such job: {job}")
    return f"{default_queue or app.conf.task_default_queue}.{job}"


def worker_queues(default_queue: str | None = None) -> list[str]:
    """Every queue a worker that does every job consumes: the default one and each
    job's."""
    default_queue = default_queue or app.conf.task_default_queue
    return [default_queue, *(job_queue(job, default_queue) for job in JOBS)]


def route_task(name: str, *args: Any, **kwargs: Any) -> dict[str, str] | None:
    """Celery's router: a job's task to the job's queue, any other to the default
    queue. Read at send time, so a process that changes its default queue (a test
    worker's, a soak's) routes beside it."""
    job = _JOB_OF.get(name)
    return None if job is None else {"queue": job_queue(job)}


app.conf.task_routes = (route_task,)


@app.on_after_configure.connect
def _consume_every_queue(sender: Celery, source: Any, **kwargs: Any) -> None:
    """A worker without `--queues` consumes every job's queue, not only the default
    one (a worker with `--queues` takes those only)."""
    if not source.get("task_queues"):
        default_queue = source["task_default_queue"]
        source["task_queues"] = [
            Queue(name, Exchange(name), routing_key=name)
            for name in worker_queues(default_queue)
        ]
