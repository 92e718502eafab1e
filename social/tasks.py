from celery import shared_task

from . import services


@shared_task(acks_late=True)
def purge_oauth_states_task() -> int:
    return services.purge_oauth_states()
