from blockster.tasks import ping_task


def test_a_task_round_trips_through_the_broker_and_a_real_worker(celery_worker):
    result = ping_task.delay("hello")

    assert result.get(timeout=20) == "pong: hello"
    # Sent through the broker, not run inline.
    assert result.state == "SUCCESS"
    assert celery_worker.pool is not None
