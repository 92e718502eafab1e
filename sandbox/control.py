"""The control API under /_control/: read and shape the sandbox from tests and demos.

It exists only in the sandbox (never in production settings) and listens on loopback.
Tokens are never shown: a token appears as its owner, scopes, times and a short
fingerprint of its digest.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from starlette.responses import JSONResponse, Response

from sandbox import api, pricing
from sandbox.config import PLANS, RATE_PROFILES
from sandbox.core import Ctx, RouteSpec
from sandbox.faults import FaultError
from sandbox.minter import format_ether
from sandbox.ratelimit import PROFILES
from sandbox.seed import iso_from_timestamp
from sandbox.state import Account, Engagement, Runtime, SandboxState, Tweet


class ControlError(ValueError):
    pass


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _object(ctx: Ctx) -> dict[str, Any]:
    body = await ctx.json()
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    return body


# --- Reading --------------------------------------------------------------------------


def token_views(state: SandboxState) -> list[dict[str, Any]]:
    now = state.now()
    views = []
    for fingerprint, token in state.tokens.items():
        account = state.accounts.get(token.user_id)
        views.append(
            {
                "fingerprint": fingerprint[:12],
                "kind": token.kind,
                "grant": token.grant_id[:12],
                "user_id": token.user_id,
                "username": account.username if account else None,
                "scopes": token.scopes,
                "issued_at": token.issued_at,
                "expires_at": token.expires_at,
                "expired": token.expires_at is not None and token.expires_at <= now,
                "revoked": token.revoked,
                "used": token.used,
            }
        )
    return views


def engagement_views(state: SandboxState, kind: str) -> list[dict[str, Any]]:
    records = state.retweets if kind == "retweets" else state.likes
    views = []
    for record in records.values():
        view: dict[str, Any] = {
            "user_id": record.user_id,
            "tweet_id": record.tweet_id,
            "at": record.at,
        }
        if kind == "retweets":
            view["retweet_id"] = record.post_id
        views.append(view)
    return views


def undone_views(state: SandboxState) -> list[dict[str, Any]]:
    return _retweet_log_views(state.undone_retweets)


def removed_views(state: SandboxState) -> list[dict[str, Any]]:
    return _retweet_log_views(state.removed_retweets)


def _retweet_log_views(records: list[Engagement]) -> list[dict[str, Any]]:
    return [
        {
            "user_id": record.user_id,
            "tweet_id": record.tweet_id,
            "retweet_id": record.post_id,
            "at": record.at,
        }
        for record in records
    ]


def mint_views(state: SandboxState) -> list[dict[str, Any]]:
    return [
        {
            "transactionHash": m.transaction_hash,
            "blockNumber": m.block_number,
            "walletAddress": m.wallet_address,
            "amount": m.amount,
            "userId": m.user_id,
            "postId": m.post_id,
            "idempotencyKey": m.idempotency_key,
            "at": m.at,
        }
        for m in state.mints
    ]


def request_views(state: SandboxState, limit: int | None = None) -> dict[str, Any]:
    log = list(state.request_log)
    if limit is not None:
        log = log[-limit:] if limit > 0 else []
    total_micros = sum(t.cost_micros for t in state.totals.values())
    return {
        "total_requests": sum(t.requests for t in state.totals.values()),
        "total_cost_usd": pricing.usd(total_micros),
        "by_route": {
            route: {"requests": t.requests, "cost_usd": pricing.usd(t.cost_micros)}
            for route, t in sorted(state.totals.items())
        },
        "log": [{**asdict(r), "cost_usd": pricing.usd(r.cost_micros)} for r in log],
    }


def account_view(account: Account) -> dict[str, Any]:
    view = asdict(account)
    view["public_metrics"] = account.public_metrics()
    return view


def tweet_view(state: SandboxState, tweet: Tweet) -> dict[str, Any]:
    author = state.accounts.get(tweet.author_id)
    username = author.username if author else "i"
    return {
        "id": tweet.id,
        "author_id": tweet.author_id,
        "text": tweet.text,
        "created_at": tweet.created_at,
        "public_metrics": tweet.public_metrics(),
        "referenced_tweets": tweet.referenced_tweets,
        "url": f"https://x.com/{username}/status/{tweet.id}",
    }


def balances_view(state: SandboxState) -> dict[str, dict[str, str]]:
    return {
        address: {"balance": format_ether(int(wei)), "balanceWei": wei}
        for address, wei in state.balances.items()
    }


async def read_state(ctx: Ctx) -> Response:
    state = ctx.state
    limit = ctx.request.query_params.get("log_limit", "200")
    return JSONResponse(
        {
            "config": asdict(state.runtime),
            "accounts": [account_view(a) for a in state.accounts.values()],
            "tokens": token_views(state),
            "retweets": engagement_views(state, "retweets"),
            "undone_retweets": undone_views(state),
            "removed_retweets": removed_views(state),
            "deleted_tweets": list(state.deleted_tweet_ids),
            "likes": engagement_views(state, "likes"),
            "mints": mint_views(state),
            "balances": balances_view(state),
            "requests": request_views(state, int(limit) if limit.isdigit() else 200),
            "faults": [f.as_json() for f in ctx.sandbox.faults.pending()],
            "now": state.now(),
        }
    )


async def read_part(ctx: Ctx) -> Response:
    state, part = ctx.state, ctx.param("part")
    readers = {
        "tokens": lambda: token_views(state),
        "retweets": lambda: engagement_views(state, "retweets"),
        "undone_retweets": lambda: undone_views(state),
        "removed_retweets": lambda: removed_views(state),
        "likes": lambda: engagement_views(state, "likes"),
        "mints": lambda: mint_views(state),
        "accounts": lambda: [account_view(a) for a in state.accounts.values()],
        "faults": lambda: [f.as_json() for f in ctx.sandbox.faults.pending()],
        "requests": lambda: request_views(state, _int_query(ctx, "limit")),
        "routes": lambda: route_list(ctx),
    }
    if part not in readers:
        return JSONResponse({"error": f"nothing called {part}"}, status_code=404)
    return JSONResponse(readers[part]())


def _int_query(ctx: Ctx, name: str) -> int | None:
    raw = ctx.request.query_params.get(name, "")
    return int(raw) if raw.isdigit() else None


def route_list(ctx: Ctx) -> list[dict[str, Any]]:
    return [
        {"method": s.method, "route": s.route, "group": s.group, "endpoint": s.endpoint}
        for s in ctx.sandbox.routes
        if s.group not in ("control", "page")
    ]


async def ping(ctx: Ctx) -> Response:
    return JSONResponse({"ok": True})


async def list_tweets(ctx: Ctx) -> Response:
    author_ref = ctx.request.query_params.get("author")
    author = ctx.state.account(author_ref) if author_ref else None
    if author_ref and author is None:
        return _bad(f"no account {author_ref}")
    tweets = sorted(ctx.state.tweets.values(), key=lambda t: int(t.id), reverse=True)
    return JSONResponse(
        [
            tweet_view(ctx.state, t)
            for t in tweets
            if author is None or t.author_id == author.id
        ]
    )


# --- Changing -------------------------------------------------------------------------


async def reset(ctx: Ctx) -> Response:
    ctx.sandbox.store.reset()
    ctx.sandbox.faults.clear()
    ctx.sandbox.limiter.reset()
    return JSONResponse({"reset": True})


def apply_config(runtime: Runtime, changes: dict[str, Any]) -> None:
    allowed = {f.name for f in fields(Runtime)} - {"clock_offset"}
    unknown = set(changes) - allowed
    if unknown:
        raise ControlError(f"unknown settings: {', '.join(sorted(unknown))}")
    checks = {
        "plan": lambda v: v in PLANS,
        "rate_profile": lambda v: v in RATE_PROFILES,
        "access_token_ttl": lambda v: isinstance(v, int) and v > 0,
        "code_ttl": lambda v: isinstance(v, int | float) and v > 0,
        "callback_urls": lambda v: (
            isinstance(v, list) and all(isinstance(u, str) and u for u in v)
        ),
        "rate_window": lambda v: v is None or (isinstance(v, int | float) and v > 0),
        "rate_limits": _valid_rate_limits,
        "minter_ignores_idempotency_key": lambda v: isinstance(v, bool),
        "timeline_lag_reads": lambda v: isinstance(v, int) and v >= 0,
        "credits_micros": lambda v: v is None or (isinstance(v, int) and v >= 0),
    }
    for name, value in changes.items():
        if not checks[name](value):
            raise ControlError(f"invalid value for {name}: {value!r}")
    for name, value in changes.items():
        setattr(runtime, name, value)


def _valid_rate_limits(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    endpoints = PROFILES["pay-per-use"]
    for endpoint, limit in value.items():
        if endpoint not in endpoints or not isinstance(limit, dict):
            return False
        if not isinstance(limit.get("limit"), int) or limit["limit"] < 0:
            return False
        window = limit.get("window")
        if window is not None and not (isinstance(window, int | float) and window > 0):
            return False
    return True


async def configure(ctx: Ctx) -> Response:
    apply_config(ctx.runtime, await _object(ctx))
    return JSONResponse(asdict(ctx.runtime))


async def add_fault(ctx: Ctx) -> Response:
    known = {(s.method, s.route) for s in ctx.sandbox.routes if s.group != "control"}
    try:
        fault = ctx.sandbox.faults.add(await _object(ctx), known_routes=known)
    except FaultError as error:
        return _bad(str(error))
    return JSONResponse(fault.as_json(), status_code=201)


async def clear_faults(ctx: Ctx) -> Response:
    ctx.sandbox.faults.clear()
    return JSONResponse({"cleared": True})


async def create_tweet(ctx: Ctx) -> Response:
    body = await _object(ctx)
    state = ctx.state
    author = state.account(str(body.get("author", "blockster")))
    if author is None:
        return _bad(f"no account {body.get('author')}")
    tweet_id = str(body.get("id") or state.next_id())
    if not api.ID.match(tweet_id) or tweet_id in state.tweets:
        return _bad(f"id {tweet_id} is not a free 1-19 digit id")
    metrics = {k: body[k] for k in _TWEET_METRICS if k in body}
    if not all(isinstance(v, int) and v >= 0 for v in metrics.values()):
        return _bad("metrics must be non-negative integers")
    tweet = Tweet(
        id=tweet_id,
        author_id=author.id,
        text=str(body.get("text") or "Read this on Blockster and earn BUX."),
        created_at=iso_from_timestamp(ctx.now()),
        **metrics,
    )
    state.tweets[tweet.id] = tweet
    state.last_id = max(state.last_id, int(tweet.id))
    author.tweet_count += 1
    return JSONResponse(tweet_view(state, tweet), status_code=201)


_TWEET_METRICS = (
    "like_count",
    "retweet_count",
    "reply_count",
    "quote_count",
    "bookmark_count",
    "impression_count",
)
_ACCOUNT_FIELDS = {
    "username": str,
    "name": str,
    "created_at": str,
    "description": str,
    "location": str,
    "followers_count": int,
    "following_count": int,
    "tweet_count": int,
    "listed_count": int,
    "like_count": int,
    "verified": bool,
    "protected": bool,
    "selectable": bool,
}


def _account_changes(body: dict[str, Any]) -> dict[str, Any]:
    for name, value in body.items():
        kind = _ACCOUNT_FIELDS.get(name)
        if kind is None:
            raise ControlError(f"unknown account field {name}")
        if not isinstance(value, kind) or (isinstance(value, int) and value < 0):
            raise ControlError(f"invalid value for {name}: {value!r}")
    return body


async def create_account(ctx: Ctx) -> Response:
    body = await _object(ctx)
    key = str(body.pop("key", "") or "")
    if not key or ctx.state.account(key) is not None:
        return _bad("key is required and must be unused")
    changes = _account_changes(body)
    account = Account(
        id=ctx.state.next_id(),
        key=key,
        username=changes.pop("username", key),
        name=changes.pop("name", key.title()),
        created_at=changes.pop("created_at", iso_from_timestamp(ctx.now())),
    )
    for name, value in changes.items():
        setattr(account, name, value)
    ctx.state.accounts[account.id] = account
    return JSONResponse(account_view(account), status_code=201)


async def revoke_tokens(ctx: Ctx) -> Response:
    body = await _object(ctx)
    kind = body.get("kind", "access")
    if kind not in ("access", "refresh", "all"):
        return _bad("kind must be access, refresh or all")
    ref = body.get("user_id") or body.get("account")
    account = ctx.state.account(str(ref)) if ref else None
    if ref and account is None:
        return _bad(f"no account {ref}")
    count = 0
    for token in ctx.state.tokens.values():
        if account is not None and token.user_id != account.id:
            continue
        if kind != "all" and token.kind != kind:
            continue
        token.revoked = True
        count += 1
    return JSONResponse({"revoked": count})


async def delete_tweet(ctx: Ctx) -> Response:
    """The author deletes the tweet on X: reads no longer find it, retweeting it is
    answered as for a tweet that never existed, and every retweet of it leaves its
    retweeter's timeline (logged in `removed_retweets`, not as an undo)."""
    tweet_id = ctx.param("id")
    tweet = ctx.state.tweets.pop(tweet_id, None)
    if tweet is None:
        return JSONResponse({"error": f"no tweet {tweet_id}"}, status_code=404)
    ctx.state.deleted_tweet_ids.append(tweet_id)
    author = ctx.state.accounts.get(tweet.author_id)
    if author is not None:
        author.tweet_count = max(author.tweet_count - 1, 0)
    removed = api.remove_retweets_of(ctx.state, tweet_id, at=ctx.now())
    return JSONResponse({"deleted": True, "id": tweet_id, "retweets_removed": removed})


async def undo_retweet(ctx: Ctx) -> Response:
    """The account takes its retweet back, as a reader does in X's app."""
    body = await _object(ctx)
    account = ctx.state.account(str(body.get("account", "")))
    if account is None:
        return _bad(f"no account {body.get('account')}")
    tweet_id = str(body.get("tweet_id", ""))
    if not api.ID.match(tweet_id):
        return _bad("tweet_id must be a 1-19 digit id")
    undone = api.undo_retweet(ctx.state, account, tweet_id, at=ctx.now())
    return JSONResponse({"undone": undone})


async def undo_like(ctx: Ctx) -> Response:
    """The account takes its like back, as a reader does in X's app."""
    body = await _object(ctx)
    account = ctx.state.account(str(body.get("account", "")))
    if account is None:
        return _bad(f"no account {body.get('account')}")
    tweet_id = str(body.get("tweet_id", ""))
    if not api.ID.match(tweet_id):
        return _bad("tweet_id must be a 1-19 digit id")
    undone = api.undo_like(ctx.state, account, tweet_id)
    return JSONResponse({"undone": undone})


async def advance_clock(ctx: Ctx) -> Response:
    seconds = (await _object(ctx)).get("seconds")
    if not isinstance(seconds, int | float) or seconds < 0:
        return _bad("seconds must be a non-negative number")
    ctx.runtime.clock_offset += seconds
    return JSONResponse({"clock_offset": ctx.runtime.clock_offset, "now": ctx.now()})


async def save(ctx: Ctx) -> Response:
    ctx.sandbox.store.changed()
    ctx.sandbox.store.flush()
    return JSONResponse({"saved": ctx.sandbox.store.path is not None})


def _guarded(handler: Any) -> Any:
    async def run(ctx: Ctx) -> Response:
        try:
            return await handler(ctx)
        except ControlError as error:
            return _bad(str(error))

    return run


def _c(method: str, route: str, handler: Any, *, persists: bool = True) -> RouteSpec:
    return RouteSpec(
        method, f"/_control{route}", _guarded(handler), "control", persists=persists
    )


ROUTES = [
    _c("GET", "/ping", ping),
    _c("GET", "/state", read_state),
    _c("POST", "/reset", reset, persists=False),
    _c("POST", "/save", save, persists=False),
    _c("POST", "/config", configure),
    _c("POST", "/faults", add_fault, persists=False),
    _c("DELETE", "/faults", clear_faults, persists=False),
    _c("GET", "/tweets", list_tweets),
    _c("POST", "/tweets", create_tweet),
    _c("DELETE", "/tweets/:id", delete_tweet),
    _c("POST", "/accounts", create_account),
    _c("POST", "/tokens/revoke", revoke_tokens),
    _c("POST", "/retweets/undo", undo_retweet),
    _c("POST", "/likes/undo", undo_like),
    _c("POST", "/clock", advance_clock),
    _c("GET", "/:part", read_part),
]
