"""Celery tasks of social, and the two ways a score calculation is queued: after a
connect (`schedule_score_calculation`, called by the OAuth callback view) and by the
daily scan (`enqueue_due_score_calculations`).

Imports point down: tasks -> score -> services. The queueing lives here, beside the
task it queues, because `score` cannot import this module back.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.db import transaction

from . import services
from .models import XConnection
from .score import (
    calculate_and_save_score,
    due_score_connections,
    needs_score_calculation,
)
from .spend.pause import mail_sharing_paused
from .x_api import XApiError, XRateLimited

logger = logging.getLogger(__name__)


def schedule_score_calculation(connection: XConnection) -> None:
    """Queue a score calculation after commit, when one is due. A broker outage is
    logged, never raised: the daily scan picks the connection up later."""
    if not needs_score_calculation(connection):
        return

    def send() -> None:
        try:
            calculate_x_score_task.delay(connection.pk)
        except Exception as error:  # kombu raises several types for a dead broker
            logger.warning(
                "score calculation for connection %s not queued: %s",
                connection.pk,
                type(error).__name__,
            )

    transaction.on_commit(send)


def enqueue_due_score_calculations(*, limit: int, spacing: float) -> list[int]:
    """Queue up to `limit` due connections, `spacing` seconds apart; their ids."""
    ids = list(due_score_connections().values_list("pk", flat=True)[:limit])
    for position, connection_id in enumerate(ids):
        calculate_x_score_task.apply_async(
            (connection_id,), countdown=position * spacing
        )
    return ids


@shared_task(acks_late=True)
def purge_oauth_states_task() -> int:
    return services.purge_oauth_states()


@shared_task(bind=True, acks_late=True, max_retries=5)
def calculate_x_score_task(
    self: Task[[int], int | None], connection_id: int
) -> int | None:
    """Score one connection. A 429 waits for X's reset; other transient errors back
    off; a permanent error (or running out of retries) keeps the previous score."""
    connection = XConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return None  # disconnected since it was queued
    try:
        return calculate_and_save_score(connection).total
    except services.XReconnectRequired:
        return None
    except XRateLimited as error:
        if error.reset_at is None:
            raise self.retry(exc=error, countdown=60) from error
        raise self.retry(
            exc=error, eta=error.reset_at + timedelta(seconds=1)
        ) from error
    except XApiError as error:
        if error.permanent:
            logger.warning(
                "X score of connection %s not updated: %s", connection_id, error.detail
            )
            return None
        raise self.retry(exc=error, countdown=30 * 2**self.request.retries) from error


@shared_task(acks_late=True)
def enqueue_due_scores_task() -> int:
    """Queue every connection whose score is due, spaced out for X's per-app limit.

    Works in chunks: when a chunk is full, the next scan is queued for when the
    chunk's last calculation is due, so no message waits longer than the broker's
    visibility timeout.
    """
    batch = settings.X_SCORE_BATCH_SIZE
    spacing = settings.X_SCORE_SPACING_SECONDS
    queued = enqueue_due_score_calculations(limit=batch, spacing=spacing)
    if len(queued) == batch:
        enqueue_due_scores_task.apply_async(countdown=batch * spacing)
    return len(queued)


@shared_task(bind=True, acks_late=True, max_retries=5)
def mail_sharing_paused_task(self: Task, pause_id: int) -> None:
    try:
        mail_sharing_paused(pause_id)
    except OSError as error:  # SMTP refused or unreachable: try again later
        raise self.retry(exc=error, countdown=60 * 2**self.request.retries) from None
