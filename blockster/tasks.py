from celery import shared_task


@shared_task(ignore_result=False)
def ping_task(payload: str) -> str:
    """Answer `pong: <payload>`: proves a worker consumes the broker and can reply."""
    return f"pong: {payload}"
