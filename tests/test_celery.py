from blockster.celery import JOBS, job_queue, worker_queues
from blockster.celery import app as celery_app
from blockster.tasks import ping_task
from campaigns.services.confirm_queue import CONFIRM_SHARE_TASK
from rewards.mirror.built import REPAIR_MIRROR_TASK
from rewards.services.mint_queue import MINT_BUX_TASK


def test_a_task_round_trips_through_the_broker_and_a_real_worker(celery_worker):
    result = ping_task.delay("hello")

    assert result.get(timeout=20) == "pong: hello"
    # Sent through the broker, not run inline.
    assert result.state == "SUCCESS"
    assert celery_worker.pool is not None


def test_every_task_of_a_job_exists_and_goes_to_the_jobs_queue():
    celery_app.loader.import_default_modules()
    for job, names in JOBS.items():
        for name in names:
            assert name in celery_app.tasks, name
            route = celery_app.amqp.router.route({}, name)
            assert route["queue"].name == job_queue(job)


def test_tasks_of_no_job_stay_on_the_default_queue_and_a_worker_consumes_every_queue():
    route = celery_app.amqp.router.route({}, ping_task.name)
    assert route["queue"].name == celery_app.conf.task_default_queue
    assert MINT_BUX_TASK in JOBS["mints"]
    assert REPAIR_MIRROR_TASK in JOBS["mirror"]
    assert CONFIRM_SHARE_TASK in JOBS["x_reads"]
    # What `make run`'s worker (no --queues) consumes: the default queue and each
    # job's, named after the default.
    default = celery_app.conf.task_default_queue
    consumed = [queue.name for queue in celery_app.conf.task_queues]
    assert consumed == worker_queues(default)
    assert len(set(consumed)) == 1 + len(JOBS)
