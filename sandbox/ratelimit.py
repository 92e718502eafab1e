"""Per-user, per-endpoint rate-limit windows with X's headers.

Windows are fixed: the first request opens one that lasts `window` seconds, and the
count starts again once it has passed (`x-rate-limit-reset` is its end, Unix seconds).
Endpoints with a daily cap keep a second, 24-hour window reported in the
`x-user-limit-24hour-*` headers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sandbox.state import Runtime

FIFTEEN_MINUTES = 900.0
DAY = 86400.0


@dataclass(frozen=True)
class Limit:
    limit: int
    window: float = FIFTEEN_MINUTES


# The current table (X-API-NOTES.md); Pro had the same numbers.
_CURRENT: dict[str, Limit] = {
    "users_me": Limit(75),
    "users_lookup": Limit(900),
    "users_tweets": Limit(900),
    "tweets_lookup": Limit(900),
    "retweet": Limit(50),
    "unretweet": Limit(50),
    "like": Limit(50),
    "liked_tweets": Limit(75),
}

PROFILES: dict[str, dict[str, Limit]] = {
    "pay-per-use": _CURRENT,
    "pro": _CURRENT,
    # Legacy Basic and Free tiers: far tighter, some counted per day only.
    "basic": {
        "users_me": Limit(100, DAY),
        "users_lookup": Limit(100, DAY),
        "users_tweets": Limit(10),
        "tweets_lookup": Limit(15),
        "retweet": Limit(5),
        "unretweet": Limit(5),
        "like": Limit(200, DAY),
        "liked_tweets": Limit(5),
    },
    "free": {
        "users_me": Limit(25, DAY),
        "users_lookup": Limit(3),
        "users_tweets": Limit(1),
        "tweets_lookup": Limit(1),
        "retweet": Limit(1),
        "unretweet": Limit(1),
        "like": Limit(1),
        "liked_tweets": Limit(1),
    },
}

DAILY_CAPS: dict[str, dict[str, int]] = {
    "pay-per-use": {"like": 1000},
    "pro": {"like": 1000},
    "basic": {},
    "free": {},
}


def limit_for(runtime: Runtime, endpoint: str) -> Limit:
    base = PROFILES[runtime.rate_profile][endpoint]
    override = runtime.rate_limits.get(endpoint, {})
    window = override.get("window") or runtime.rate_window or base.window
    return Limit(int(override.get("limit", base.limit)), float(window))


def daily_cap_for(runtime: Runtime, endpoint: str) -> Limit | None:
    cap = DAILY_CAPS[runtime.rate_profile].get(endpoint)
    if cap is None:
        return None
    return Limit(cap, runtime.rate_window or DAY)


class RateLimiter:
    def __init__(self) -> None:
        # (user id, endpoint, window name) -> [window end, requests counted]
        self._buckets: dict[tuple[str, str, str], list[float]] = {}

    def reset(self) -> None:
        self._buckets.clear()

    def consume(
        self, runtime: Runtime, user_id: str, endpoint: str, now: float
    ) -> tuple[bool, dict[str, str]]:
        """Count one request; answer whether it is allowed, and the headers to send."""
        windows = [("window", limit_for(runtime, endpoint))]
        daily = daily_cap_for(runtime, endpoint)
        if daily is not None:
            windows.append(("day", daily))
        buckets = [
            self._bucket(user_id, endpoint, name, lim, now) for name, lim in windows
        ]
        allowed = all(
            b[1] < lim.limit for b, (_, lim) in zip(buckets, windows, strict=True)
        )
        if allowed:
            for bucket in buckets:
                bucket[1] += 1
        headers = _headers("x-rate-limit", windows[0][1], buckets[0])
        if daily is not None:
            headers.update(_headers("x-user-limit-24hour", daily, buckets[1]))
        return allowed, headers

    def peek(self, runtime: Runtime, endpoint: str, now: float) -> dict[str, str]:
        """Headers for a request not tied to a user (a rejected token)."""
        lim = limit_for(runtime, endpoint)
        return _headers("x-rate-limit", lim, [now + lim.window, 0])

    def _bucket(
        self, user_id: str, endpoint: str, name: str, lim: Limit, now: float
    ) -> list[float]:
        key = (user_id, endpoint, name)
        bucket = self._buckets.get(key)
        if bucket is None or now >= bucket[0]:
            bucket = self._buckets[key] = [now + lim.window, 0]
        return bucket


def _headers(prefix: str, lim: Limit, bucket: list[float]) -> dict[str, str]:
    return {
        f"{prefix}-limit": str(lim.limit),
        f"{prefix}-remaining": str(max(lim.limit - int(bucket[1]), 0)),
        f"{prefix}-reset": str(math.ceil(bucket[0])),
    }
