"""What rewards mirrors of a model it does not own (STYLE 24b): an X connection's
score is the reader's `x_multiplier`, and a deleted connection leaves the rewards that
named it. ShareReward has no receiver: every service that changes a reward syncs it
explicitly (`sync_after_commit`), and the periodic repair mends raw saves."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from blockster.redis_client import REDIS_ERRORS
from campaigns.models import ShareReward
from social.models import XConnection

from .mirror.multipliers import sync_user_multiplier_quietly
from .mirror.schema import RewardRef
from .mirror.write import record_failure, sync_share_rewards


@receiver(post_save, sender=XConnection, dispatch_uid="rewards_mirror_x_score")
def mirror_x_score(
    sender: type[XConnection],
    instance: XConnection,
    update_fields: frozenset[str] | None = None,
    **kwargs: Any,
) -> None:
    """A save that names `x_score` (or every field: a new connection) re-syncs the
    reader's `x_multiplier` after commit. A token refresh or a reconnect names only
    the fields it changes, and leaves Redis alone."""
    if update_fields is None or "x_score" in update_fields:
        transaction.on_commit(
            partial(sync_user_multiplier_quietly, instance.user_id), robust=True
        )


@receiver(post_delete, sender=XConnection, dispatch_uid="rewards_mirror_x_disconnect")
def mirror_x_disconnect(
    sender: type[XConnection], instance: XConnection, **kwargs: Any
) -> None:
    """The reader disconnected X: after commit, their score leaves `x_multiplier`,
    and their rewards are mirrored with the `x_connection_id` PostgreSQL has just
    nulled (SET_NULL), instead of keeping the old id until the next repair."""
    transaction.on_commit(partial(_mirror_disconnect, instance.user_id), robust=True)


def _mirror_disconnect(user_id: int) -> None:
    sync_user_multiplier_quietly(user_id)
    refs = [
        RewardRef(*ids)
        for ids in ShareReward.objects.filter(
            user_id=user_id, x_connection__isnull=True
        ).values_list("user_id", "campaign_id", "campaign_tweet_id")
    ]
    if not refs:
        return
    try:
        sync_share_rewards(refs)
    except REDIS_ERRORS as error:
        record_failure(f"the share rewards of user {user_id}", error)
