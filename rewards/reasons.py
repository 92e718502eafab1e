"""Failure reasons kept on a reward: the one place that builds them.

A reason is stored in PostgreSQL, mirrored to Redis, shown in admin and, for a
minter's refusal, to the reader. So it is bounded, printable, and free of anything
credential-shaped, whatever text reached it (the minter's error message, an
operator's note).
"""

from __future__ import annotations

import re

from blockster.observability import redact

MAX_FAILURE_REASON = 300
# How a minter's refusal begins; the share box tells the reader the minter's words.
WALLET_REFUSED = "The minter refused the wallet address"
MINTER_REFUSED = "The minter refused this mint"
# A share whose retweet the confirmation could not find on X, or could not look for
# because the reader never reconnected X: the reader sees these words, and the next
# share resets the reward into a new claim (ShareReward.can_retry).
NOT_SEEN_ON_X = "We could not find your retweet on X. Retweet it again to earn."
RECONNECT_TOO_LATE = (
    "We could not check your retweet on X because your X account was not "
    "reconnected in time. Retweet it again to earn."
)
RETRYABLE_FAILURES = (NOT_SEEN_ON_X, RECONNECT_TOO_LATE)
# A share still confirming when the campaign's post was deleted on X: its retweet went
# with the post, which no one can retweet again, so the share fails for good.
POST_DELETED_ON_X = (
    "This post is no longer on X: its author deleted it before your retweet was "
    "confirmed, so no BUX were minted."
)
# scheme://user:password@host keeps its scheme and host only.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]+@")
# secret=..., token: ..., api_key=... (also inside query strings).
_NAMED_SECRET = re.compile(
    r"(?i)\b((?:[a-z_]*secret|[a-z_]*token|password|api[_-]?key|signature)"
    r"[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+"
)


def failure_reason(text: str, *, advice: str = "") -> str:
    """`text` as a stored failure reason: printable characters on one line, no
    credentials, at most MAX_FAILURE_REASON characters. `advice` (our own words, such
    as what an operator should do) follows it and is never cut."""
    printable = "".join(c if c.isprintable() else " " for c in text)
    cleaned = _URL_CREDENTIALS.sub(r"\1[redacted]@", printable)
    cleaned = _NAMED_SECRET.sub(r"\1[redacted]", redact(cleaned))
    cleaned = " ".join(cleaned.split())
    room = MAX_FAILURE_REASON - (len(advice) + 1 if advice else 0)
    if len(cleaned) > room:
        cleaned = cleaned[: room - 1].rstrip() + "…"
    return f"{cleaned} {advice}" if advice else cleaned
