"""Everything the sandbox remembers, and how it is saved to and loaded from disk.

Tokens and authorization codes are kept only as SHA-256 digests, so neither the state
file nor the control API can hand out a usable credential.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sandbox.config import SandboxConfig

REQUEST_LOG_SIZE = 2000


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Account:
    id: str
    key: str
    username: str
    name: str
    created_at: str
    description: str = ""
    location: str = ""
    followers_count: int = 0
    following_count: int = 0
    tweet_count: int = 0
    listed_count: int = 0
    like_count: int = 0
    verified: bool = False
    protected: bool = False
    # Offered on the consent page; the publisher's own account is not.
    selectable: bool = True

    def public_metrics(self) -> dict[str, int]:
        return {
            "followers_count": self.followers_count,
            "following_count": self.following_count,
            "tweet_count": self.tweet_count,
            "listed_count": self.listed_count,
            "like_count": self.like_count,
        }


@dataclass
class Tweet:
    id: str
    author_id: str
    text: str
    created_at: str
    like_count: int = 0
    retweet_count: int = 0
    reply_count: int = 0
    quote_count: int = 0
    bookmark_count: int = 0
    impression_count: int = 0
    # [{"type": "retweeted" | "quoted" | "replied_to", "id": "..."}]
    referenced_tweets: list[dict[str, str]] = field(default_factory=list)
    # Timeline reads still to come that leave this post out: X's timelines lag
    # behind its writes (set from Runtime.timeline_lag_reads when a retweet is made).
    lag_reads: int = 0

    def kind(self) -> str:
        types = {ref["type"] for ref in self.referenced_tweets}
        if "retweeted" in types:
            return "retweet"
        if "replied_to" in types:
            return "reply"
        return "original"

    def public_metrics(self) -> dict[str, int]:
        return {
            "retweet_count": self.retweet_count,
            "reply_count": self.reply_count,
            "like_count": self.like_count,
            "quote_count": self.quote_count,
            "bookmark_count": self.bookmark_count,
            "impression_count": self.impression_count,
        }


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scopes: list[str]
    code_challenge: str
    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class Token:
    kind: str  # "access" | "refresh"
    grant_id: str
    user_id: str
    client_id: str
    scopes: list[str]
    issued_at: float
    expires_at: float | None
    revoked: bool = False
    # Refresh tokens are single-use: set once exchanged.
    used: bool = False


@dataclass
class Engagement:
    user_id: str
    tweet_id: str
    at: float
    # The id of the retweet post (retweets only).
    post_id: str = ""


@dataclass
class Mint:
    transaction_hash: str
    block_number: int
    wallet_address: str
    amount: str
    user_id: Any
    post_id: Any
    idempotency_key: str | None
    at: float


@dataclass
class RequestRecord:
    at: float
    method: str
    route: str
    path: str
    status: int
    user_id: str | None
    cost_micros: int
    fault: str | None = None


@dataclass
class Runtime:
    """Settings the control API can change while the server runs."""

    plan: str
    rate_profile: str
    access_token_ttl: int
    code_ttl: float
    callback_urls: list[str]
    # Replaces every rate-limit window length when set (short windows for tests).
    rate_window: float | None = None
    # endpoint -> {"limit": int, "window": float}
    rate_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    # Added to the wall clock: moves codes, tokens and windows forward without sleeping.
    clock_offset: float = 0.0
    # As the real minter: every accepted /mint mints, whatever its Idempotency-Key.
    minter_ignores_idempotency_key: bool = False
    # A new retweet is left out of its author's first N timeline reads (X's lag).
    timeline_lag_reads: int = 0
    # Pay-per-use credit left, in micro-dollars (None: unlimited). Each billed answer
    # draws on it; once it is spent, every API call answers 402 CreditsDepleted.
    credits_micros: int | None = None

    @classmethod
    def from_config(cls, config: SandboxConfig) -> Runtime:
        return cls(
            plan=config.plan,
            rate_profile=config.rate_profile,
            access_token_ttl=config.access_token_ttl,
            code_ttl=config.code_ttl,
            callback_urls=list(config.callback_urls),
            minter_ignores_idempotency_key=config.minter_ignores_idempotency_key,
        )


@dataclass
class EndpointTotal:
    requests: int = 0
    cost_micros: int = 0


@dataclass
class SandboxState:
    runtime: Runtime
    accounts: dict[str, Account] = field(default_factory=dict)
    tweets: dict[str, Tweet] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    retweets: dict[str, Engagement] = field(default_factory=dict)
    # Retweets undone (over the API or the control API), oldest first; `at` is when.
    undone_retweets: list[Engagement] = field(default_factory=list)
    likes: dict[str, Engagement] = field(default_factory=dict)
    # Tweets their authors deleted (the control API): gone from every read, and a
    # retweet of one is answered as for a tweet that never existed.
    deleted_tweet_ids: list[str] = field(default_factory=list)
    # Retweets that left X with their original (its author deleted it), oldest
    # first; `at` is when. No reader took them back: they are not undone_retweets.
    removed_retweets: list[Engagement] = field(default_factory=list)
    mints: list[Mint] = field(default_factory=list)
    # lower-case address -> balance in wei (as a string: JSON numbers lose precision)
    balances: dict[str, str] = field(default_factory=dict)
    # Idempotency-Key -> the first answer: {"status": int, "body": {...}}
    idempotency: dict[str, dict[str, Any]] = field(default_factory=dict)
    block_number: int = 18_000_000
    last_id: int = 0
    request_log: deque[RequestRecord] = field(
        default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE)
    )
    totals: dict[str, EndpointTotal] = field(default_factory=dict)

    def now(self) -> float:
        return time.time() + self.runtime.clock_offset

    def next_id(self) -> str:
        # Snowflake-sized ids that grow with time, like X's.
        self.last_id += 1000
        return str(self.last_id)

    def account(self, ref: str) -> Account | None:
        """An account by id or by its sandbox key (`reader`, `creator`, ...)."""
        if ref in self.accounts:
            return self.accounts[ref]
        return next((a for a in self.accounts.values() if a.key == ref), None)


def engagement_key(user_id: str, tweet_id: str) -> str:
    return f"{user_id}:{tweet_id}"


# --- Persistence ----------------------------------------------------------------------

_RECORDS: dict[str, type] = {
    "accounts": Account,
    "tweets": Tweet,
    "codes": AuthCode,
    "tokens": Token,
    "retweets": Engagement,
    "likes": Engagement,
    "totals": EndpointTotal,
}


_REQUEST_FIELDS = tuple(f.name for f in fields(RequestRecord))


def state_to_json(state: SandboxState) -> dict[str, Any]:
    # Saved twice a second under load: the request log, most of the state, is left
    # out of asdict (which would deep-copy the deque only to be replaced) and its
    # records, flat values only, are read field by field.
    data = asdict(replace(state, request_log=deque()))
    data["request_log"] = [
        {name: getattr(record, name) for name in _REQUEST_FIELDS}
        for record in state.request_log
    ]
    data["version"] = 1
    return data


def state_from_json(data: dict[str, Any]) -> SandboxState:
    state = SandboxState(runtime=_build(Runtime, data["runtime"]))
    for name, record in _RECORDS.items():
        setattr(
            state, name, {k: _build(record, v) for k, v in data.get(name, {}).items()}
        )
    state.mints = [_build(Mint, m) for m in data.get("mints", [])]
    state.undone_retweets = [
        _build(Engagement, e) for e in data.get("undone_retweets", [])
    ]
    state.removed_retweets = [
        _build(Engagement, e) for e in data.get("removed_retweets", [])
    ]
    state.request_log.extend(_build(RequestRecord, r) for r in data["request_log"])
    state.deleted_tweet_ids = list(data.get("deleted_tweet_ids", []))
    state.balances = dict(data.get("balances", {}))
    state.idempotency = dict(data.get("idempotency", {}))
    state.block_number = int(data["block_number"])
    state.last_id = int(data["last_id"])
    return state


def _build(cls: type, values: dict[str, Any]) -> Any:
    # Unknown keys are dropped so an older or newer state file still loads.
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})


def save_state(state: SandboxState, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state_to_json(state), separators=(",", ":")))
    # Atomic replace: a crash mid-write never leaves a half-written state file.
    os.replace(temporary, path)


def load_state(path: Path) -> SandboxState | None:
    try:
        return state_from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
