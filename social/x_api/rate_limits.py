"""X's rate-limit windows, per user and endpoint, kept in Redis so that every process
refuses a call X would answer with 429, without spending a request on it.

Tracking only saves requests: when Redis is unavailable, calls go to X as usual.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import httpx
from django.conf import settings

from blockster.redis_client import get_redis

logger = logging.getLogger(__name__)

# When X answers 429 without a reset header, refuse locally for this long.
FALLBACK_RATE_LIMIT_WAIT = 60


def rate_limit_key(endpoint: str, x_user_id: str) -> str:
    """X's last reported rate-limit window for one user and endpoint (a HASH)."""
    return f"{settings.REDIS_KEY_PREFIX}x_rate_limit:{endpoint}:{x_user_id}"


def rate_limit_exhausted(endpoint: str, x_user_id: str) -> datetime | None:
    """The reset time if X told us this user's window is used up, else None."""
    return rate_limits_exhausted([(endpoint, x_user_id)])[0]


def rate_limits_exhausted(
    windows: list[tuple[str, str]],
) -> list[datetime | None]:
    """`rate_limit_exhausted` of several (endpoint, user) windows, one round trip."""
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            for endpoint, x_user_id in windows:
                pipe.hgetall(rate_limit_key(endpoint, x_user_id))
            states = pipe.execute()
    except Exception as error:  # tracking only saves requests; never block on it
        logger.warning("rate-limit tracking unavailable: %s", type(error).__name__)
        return [None] * len(windows)
    return [_reset_at(state) for state in states]


def window_state(response: httpx.Response) -> dict[str, str] | None:
    """What X's answer says of its window ({"remaining", "reset"}), if anything."""
    headers = response.headers
    remaining = headers.get("x-rate-limit-remaining")
    reset = headers.get("x-rate-limit-reset")
    if response.status_code == 429:
        remaining = "0"
        reset = reset or str(int(time.time()) + FALLBACK_RATE_LIMIT_WAIT)
    if remaining is None or reset is None or not reset.isdigit():
        return None
    return {"remaining": remaining, "reset": reset}


def exhausted_by(response: httpx.Response) -> datetime | None:
    """The reset time if this answer says the window is used up, else None."""
    return _reset_at(window_state(response) or {})


def _reset_at(state: dict[str, str]) -> datetime | None:
    if not state or state.get("remaining") != "0":
        return None
    reset = int(state.get("reset", "0"))
    return datetime.fromtimestamp(reset, UTC) if reset > time.time() else None


def remember_rate_limit(
    endpoint: str, x_user_id: str, response: httpx.Response
) -> None:
    remember_rate_limits([(endpoint, x_user_id, response)])


def remember_rate_limits(answers: list[tuple[str, str, httpx.Response]]) -> None:
    """Keep what X's answers said of their windows, in one round trip."""
    windows = [
        (rate_limit_key(endpoint, x_user_id), state)
        for endpoint, x_user_id, response in answers
        if (state := window_state(response)) is not None
    ]
    if not windows:
        return
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            for key, state in windows:
                pipe.hset(key, mapping=state)  # type: ignore[arg-type]  # redis-py: Mapping key invariant
                pipe.expireat(key, int(state["reset"]) + 1)
            pipe.execute()
    except Exception as error:
        logger.warning("rate-limit tracking unavailable: %s", type(error).__name__)
