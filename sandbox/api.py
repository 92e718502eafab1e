"""X API v2: the user-context endpoints the product calls.

Every handler authenticates the Bearer token, counts the call against the user's
rate-limit window, checks scopes, then answers with X's shapes and status codes.
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from starlette.responses import JSONResponse, Response

from sandbox import pricing, problems
from sandbox.core import Ctx, RouteSpec
from sandbox.problems import ApiError
from sandbox.seed import iso_from_timestamp
from sandbox.state import (
    Account,
    Engagement,
    SandboxState,
    Token,
    Tweet,
    digest,
    engagement_key,
)

READ = ("tweet.read", "users.read")
RETWEET = ("tweet.read", "tweet.write", "users.read")
LIKE = ("tweet.read", "users.read", "like.write")
LIKED = ("tweet.read", "users.read", "like.read")

ID = re.compile(r"^\d{1,19}$")

USER_FIELDS = frozenset(
    [
        "affiliation",
        "connection_status",
        "created_at",
        "description",
        "entities",
        "id",
        "is_identity_verified",
        "location",
        "most_recent_tweet_id",
        "name",
        "parody",
        "pinned_tweet_id",
        "profile_banner_url",
        "profile_image_url",
        "protected",
        "public_metrics",
        "receives_your_dm",
        "subscription",
        "subscription_type",
        "url",
        "username",
        "verified",
        "verified_followers_count",
        "verified_type",
        "withheld",
    ]
)
TWEET_FIELDS = frozenset(
    [
        "article",
        "attachments",
        "author_id",
        "card_uri",
        "community_id",
        "context_annotations",
        "conversation_id",
        "created_at",
        "display_text_range",
        "edit_controls",
        "edit_history_tweet_ids",
        "entities",
        "geo",
        "id",
        "in_reply_to_user_id",
        "lang",
        "non_public_metrics",
        "note_tweet",
        "organic_metrics",
        "possibly_sensitive",
        "promoted_metrics",
        "public_metrics",
        "referenced_tweets",
        "reply_settings",
        "scopes",
        "source",
        "text",
        "withheld",
    ]
)


# --- Authentication -------------------------------------------------------------------


def authenticate(ctx: Ctx, scopes: Iterable[str]) -> Account:
    token = _valid_token(ctx)
    if token is None:
        raise ApiError(401, problems.unauthorized())
    ctx.user_id = token.user_id
    assert ctx.spec.endpoint is not None
    allowed, headers = ctx.sandbox.limiter.consume(
        ctx.runtime, token.user_id, ctx.spec.endpoint, ctx.now()
    )
    ctx.rate_headers = headers
    if not allowed:
        raise ApiError(429, problems.too_many_requests())
    if not set(scopes) <= set(token.scopes):
        raise ApiError(403, problems.forbidden())
    account = ctx.state.accounts.get(token.user_id)
    if account is None:
        raise ApiError(401, problems.unauthorized())
    return account


def _valid_token(ctx: Ctx) -> Token | None:
    scheme, _, value = ctx.request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    token = ctx.state.tokens.get(digest(value.strip()))
    if token is None or token.kind != "access" or token.revoked:
        return None
    if token.expires_at is not None and token.expires_at <= ctx.now():
        return None
    return token


# The rate-limit key of calls made with the app-only Bearer token.
APP_CONTEXT = "app"


def authenticate_app_or_user(ctx: Ctx, scopes: Iterable[str]) -> Account | None:
    """Reads X allows in either context: the app-only Bearer token (None is
    returned) or a user's access token with `scopes` (their account)."""
    if not _is_app_token(ctx):
        return authenticate(ctx, scopes)
    assert ctx.spec.endpoint is not None
    allowed, headers = ctx.sandbox.limiter.consume(
        ctx.runtime, APP_CONTEXT, ctx.spec.endpoint, ctx.now()
    )
    ctx.rate_headers = headers
    if not allowed:
        raise ApiError(429, problems.too_many_requests())
    return None


def _is_app_token(ctx: Ctx) -> bool:
    expected = ctx.sandbox.config.app_bearer_token
    scheme, _, value = ctx.request.headers.get("authorization", "").partition(" ")
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(value.strip().encode(), expected.encode())
    )


def require_self(ctx: Ctx, account: Account) -> None:
    """Writes act for the token's user only: another id in the path is refused."""
    if path_id(ctx, "id") != account.id:
        raise ApiError(403, problems.forbidden())


# --- Parameters -----------------------------------------------------------------------


def path_id(ctx: Ctx, name: str) -> str:
    value = ctx.param(name)
    if not ID.match(value):
        raise ApiError(
            400,
            problems.invalid_request(
                name,
                value,
                f"The `{name}` query parameter value [{value}] is not valid",
            ),
        )
    return value


def requested_fields(
    ctx: Ctx, names: tuple[str, ...], known: frozenset[str]
) -> set[str]:
    # X renamed tweet.fields to post.fields; both spellings are accepted.
    wanted: set[str] = set()
    for name in names:
        raw = ctx.request.query_params.get(name)
        if raw is None:
            continue
        for value in raw.split(","):
            if value not in known:
                raise ApiError(
                    400,
                    problems.invalid_request(
                        name,
                        value,
                        f"The `{name}` query parameter value [{value}] is not one of "
                        f"[{', '.join(sorted(known))}]",
                    ),
                )
            wanted.add(value)
    return wanted


def max_results(ctx: Ctx, *, low: int, high: int, default: int) -> int:
    raw = ctx.request.query_params.get("max_results")
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(
            400,
            problems.invalid_request(
                "max_results",
                raw,
                f"The `max_results` query parameter value [{raw}] is not between "
                f"{low} and {high}",
            ),
        )
    return int(raw)


def page_start(ctx: Ctx, items: list[str]) -> int:
    """Index of the first item after `pagination_token` (opaque to clients)."""
    token = ctx.request.query_params.get("pagination_token")
    if token is None:
        return 0
    try:
        after = base64.b32decode(token.upper() + "=" * (-len(token) % 8)).decode()
        return items.index(after.removeprefix("after:")) + 1
    except ValueError:
        raise ApiError(
            400,
            problems.invalid_request(
                "pagination_token",
                token,
                f"The `pagination_token` query parameter value [{token}] is not valid",
            ),
        ) from None


def next_token(last_id: str) -> str:
    return base64.b32encode(f"after:{last_id}".encode()).decode().rstrip("=").lower()


def paginate(ctx: Ctx, ids: list[str], size: int) -> tuple[list[str], dict[str, Any]]:
    start = page_start(ctx, ids)
    page = ids[start : start + size]
    meta: dict[str, Any] = {"result_count": len(page)}
    if page and start + size < len(ids):
        meta["next_token"] = next_token(page[-1])
    return page, meta


# --- Serialisation --------------------------------------------------------------------


def user_json(ctx: Ctx, account: Account, wanted: set[str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": account.id,
        "name": account.name,
        "username": account.username,
    }
    optional = {
        "created_at": account.created_at,
        "description": account.description,
        "location": account.location,
        "profile_image_url": (
            f"{ctx.sandbox.config.public_url}/avatars/{account.id}.svg"
        ),
        "protected": account.protected,
        "public_metrics": account.public_metrics(),
        "verified": account.verified,
        "url": "",
    }
    data.update({k: v for k, v in optional.items() if k in wanted})
    return data


def tweet_json(ctx: Ctx, tweet: Tweet, wanted: set[str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": tweet.id,
        "text": tweet.text,
        "edit_history_tweet_ids": [tweet.id],
    }
    optional: dict[str, Any] = {
        "author_id": tweet.author_id,
        "created_at": tweet.created_at,
        "public_metrics": tweet.public_metrics(),
        "conversation_id": tweet.id,
        "lang": "en",
        "possibly_sensitive": False,
    }
    if tweet.referenced_tweets:
        optional["referenced_tweets"] = [dict(r) for r in tweet.referenced_tweets]
    data.update({k: v for k, v in optional.items() if k in wanted})
    return data


def _user_fields(ctx: Ctx) -> set[str]:
    return requested_fields(ctx, ("user.fields",), USER_FIELDS)


def _tweet_fields(ctx: Ctx) -> set[str]:
    return requested_fields(ctx, ("tweet.fields", "post.fields"), TWEET_FIELDS)


def _not_found(resource: str, parameter: str, value: str) -> JSONResponse:
    # X answers lookups of missing resources with 200 and only `errors`.
    return JSONResponse(
        {"errors": [problems.not_found_error(resource, parameter, value)]}
    )


# --- Users ----------------------------------------------------------------------------


async def users_me(ctx: Ctx) -> Response:
    account = authenticate(ctx, READ)
    ctx.cost_micros = pricing.USER_READ_MICROS
    return JSONResponse({"data": user_json(ctx, account, _user_fields(ctx))})


async def users_lookup(ctx: Ctx) -> Response:
    authenticate(ctx, READ)
    user_id = path_id(ctx, "id")
    fields = _user_fields(ctx)
    target = ctx.state.accounts.get(user_id)
    if target is None:
        return _not_found("user", "id", user_id)
    ctx.cost_micros = pricing.USER_READ_MICROS
    return JSONResponse({"data": user_json(ctx, target, fields)})


async def users_tweets(ctx: Ctx) -> Response:
    authenticate(ctx, READ)
    user_id = path_id(ctx, "id")
    size = max_results(ctx, low=5, high=100, default=10)
    excluded = _exclude(ctx)
    fields = _tweet_fields(ctx)
    newer_than, older_than = _id_bound(ctx, "since_id"), _id_bound(ctx, "until_id")
    if user_id not in ctx.state.accounts:
        return _not_found("user", "id", user_id)
    timeline = sorted(
        (
            t
            for t in ctx.state.tweets.values()
            if t.author_id == user_id
            and t.kind() not in excluded
            and (newer_than is None or int(t.id) > newer_than)
            and (older_than is None or int(t.id) < older_than)
            and _visible(t)
        ),
        key=lambda t: int(t.id),
        reverse=True,
    )
    ids, meta = paginate(ctx, [t.id for t in timeline], size)
    if not ids:
        return JSONResponse({"meta": meta})
    ctx.cost_micros = pricing.POST_READ_MICROS * len(ids)
    meta.update(newest_id=ids[0], oldest_id=ids[-1])
    data = [tweet_json(ctx, ctx.state.tweets[i], fields) for i in ids]
    return JSONResponse({"data": data, "meta": _ordered_meta(meta)})


async def liked_tweets(ctx: Ctx) -> Response:
    """The posts the user liked, the newest like first (as X orders them)."""
    authenticate(ctx, LIKED)
    user_id = path_id(ctx, "id")
    size = max_results(ctx, low=10, high=100, default=100)
    fields = _tweet_fields(ctx)
    if user_id not in ctx.state.accounts:
        return _not_found("user", "id", user_id)
    likes = sorted(
        (
            like
            for like in ctx.state.likes.values()
            if like.user_id == user_id and like.tweet_id in ctx.state.tweets
        ),
        key=lambda like: like.at,
        reverse=True,
    )
    ids, meta = paginate(ctx, [like.tweet_id for like in likes], size)
    if not ids:
        return JSONResponse({"meta": meta})
    ctx.cost_micros = pricing.POST_READ_MICROS * len(ids)
    data = [tweet_json(ctx, ctx.state.tweets[i], fields) for i in ids]
    return JSONResponse({"data": data, "meta": _ordered_meta(meta)})


def _id_bound(ctx: Ctx, name: str) -> int | None:
    """`since_id` (only newer posts) or `until_id` (only older), as numbers."""
    raw = ctx.request.query_params.get(name)
    if raw is None:
        return None
    if not ID.match(raw):
        raise ApiError(
            400,
            problems.invalid_request(
                name, raw, f"The `{name}` query parameter value [{raw}] is not valid"
            ),
        )
    return int(raw)


def _visible(tweet: Tweet) -> bool:
    """Whether a timeline read shows the post yet: a lagging one is left out, and
    each read it misses brings it closer."""
    if tweet.lag_reads <= 0:
        return True
    tweet.lag_reads -= 1
    return False


def _exclude(ctx: Ctx) -> set[str]:
    raw = ctx.request.query_params.get("exclude")
    if not raw:
        return set()
    kinds = {"retweets": "retweet", "replies": "reply"}
    excluded = set()
    for value in raw.split(","):
        if value not in kinds:
            raise ApiError(
                400,
                problems.invalid_request(
                    "exclude",
                    value,
                    f"The `exclude` query parameter value [{value}] is not one of "
                    "[replies, retweets]",
                ),
            )
        excluded.add(kinds[value])
    return excluded


def _ordered_meta(meta: dict[str, Any]) -> dict[str, Any]:
    order = ("result_count", "newest_id", "oldest_id", "next_token")
    return {k: meta[k] for k in order if k in meta}


# --- Tweets ---------------------------------------------------------------------------


async def tweets_lookup(ctx: Ctx) -> Response:
    viewer = authenticate_app_or_user(ctx, READ)
    tweet_id = path_id(ctx, "id")
    fields = _tweet_fields(ctx)
    user_fields = _user_fields(ctx)
    expansions = _expansions(ctx)
    tweet = ctx.state.tweets.get(tweet_id)
    if tweet is None:
        # A deleted tweet is answered as one that never existed.
        return _not_found("tweet", "id", tweet_id)
    author = ctx.state.accounts[tweet.author_id]
    if author.protected and (viewer is None or viewer.id != author.id):
        return JSONResponse(
            {"errors": [problems.not_authorized_error("tweet", "id", tweet_id)]}
        )
    body: dict[str, Any] = {"data": tweet_json(ctx, tweet, fields)}
    ctx.cost_micros = pricing.POST_READ_MICROS
    if "author_id" in expansions:
        body["includes"] = {"users": [user_json(ctx, author, user_fields)]}
        # X bills every resource returned: the expanded author is a user read.
        ctx.cost_micros += pricing.USER_READ_MICROS
    return JSONResponse(body)


EXPANSIONS = frozenset(
    [
        "attachments.media_keys",
        "attachments.poll_ids",
        "author_id",
        "edit_history_tweet_ids",
        "entities.mentions.username",
        "geo.place_id",
        "in_reply_to_user_id",
        "referenced_tweets.id",
        "referenced_tweets.id.author_id",
    ]
)


def _expansions(ctx: Ctx) -> set[str]:
    return requested_fields(ctx, ("expansions",), EXPANSIONS)


# --- Retweets and likes ---------------------------------------------------------------


async def _target_tweet(ctx: Ctx) -> Tweet | str:
    """The tweet named by the JSON body's `tweet_id`, or its id when unknown."""
    body = await ctx.json()
    tweet_id = body.get("tweet_id") if isinstance(body, dict) else None
    if not isinstance(tweet_id, str) or not ID.match(tweet_id):
        value = "" if tweet_id is None else str(tweet_id)
        raise ApiError(
            400,
            problems.invalid_request(
                "tweet_id",
                value,
                f"The `tweet_id` body parameter value [{value}] is not valid",
            ),
        )
    return ctx.state.tweets.get(tweet_id) or tweet_id


async def retweet(ctx: Ctx) -> Response:
    account = authenticate(ctx, RETWEET)
    require_self(ctx, account)
    target = await _target_tweet(ctx)
    if isinstance(target, str):
        return _not_found("tweet", "tweet_id", target)
    key = engagement_key(account.id, target.id)
    if key in ctx.state.retweets:
        raise ApiError(400, _already_retweeted())
    post = _record_retweet(ctx, account, target)
    ctx.cost_micros = pricing.WRITE_MICROS
    return JSONResponse({"data": {"id": post.id, "retweeted": True}})


def _already_retweeted() -> dict[str, Any]:
    body = problems.invalid_request("tweet_id", "", "")
    body["errors"] = [
        {"message": "You cannot retweet a Tweet that you have already retweeted."}
    ]
    return body


def _record_retweet(ctx: Ctx, account: Account, target: Tweet) -> Tweet:
    state = ctx.state
    author = state.accounts[target.author_id]
    post = Tweet(
        id=state.next_id(),
        author_id=account.id,
        text=f"RT @{author.username}: {target.text}",
        created_at=iso_from_timestamp(ctx.now()),
        retweet_count=target.retweet_count + 1,
        referenced_tweets=[{"type": "retweeted", "id": target.id}],
        lag_reads=ctx.runtime.timeline_lag_reads,
    )
    state.tweets[post.id] = post
    target.retweet_count += 1
    account.tweet_count += 1
    state.retweets[engagement_key(account.id, target.id)] = Engagement(
        user_id=account.id, tweet_id=target.id, at=ctx.now(), post_id=post.id
    )
    return post


async def unretweet(ctx: Ctx) -> Response:
    account = authenticate(ctx, RETWEET)
    require_self(ctx, account)
    undo_retweet(ctx.state, account, path_id(ctx, "tweet_id"), at=ctx.now())
    ctx.cost_micros = pricing.WRITE_MICROS
    return JSONResponse({"data": {"retweeted": False}})


def undo_retweet(
    state: SandboxState, account: Account, tweet_id: str, *, at: float
) -> bool:
    """Remove the account's retweet of `tweet_id` (its post leaves the timeline) and
    log the undo; False when there was none."""
    record = state.retweets.pop(engagement_key(account.id, tweet_id), None)
    if record is None:
        return False
    state.tweets.pop(record.post_id, None)
    account.tweet_count = max(account.tweet_count - 1, 0)
    target = state.tweets.get(tweet_id)
    if target is not None:
        target.retweet_count = max(target.retweet_count - 1, 0)
    state.undone_retweets.append(replace(record, at=at))
    return True


def remove_retweets_of(state: SandboxState, tweet_id: str, *, at: float) -> int:
    """The original's author deleted it: as on X, every retweet of it leaves its
    retweeter's timeline. Logged apart from the undone retweets (no reader took
    anything back); answers how many left."""
    keys = [key for key, r in state.retweets.items() if r.tweet_id == tweet_id]
    for key in keys:
        record = state.retweets.pop(key)
        state.tweets.pop(record.post_id, None)
        retweeter = state.accounts.get(record.user_id)
        if retweeter is not None:
            retweeter.tweet_count = max(retweeter.tweet_count - 1, 0)
        state.removed_retweets.append(replace(record, at=at))
    return len(keys)


async def like(ctx: Ctx) -> Response:
    account = authenticate(ctx, LIKE)
    if ctx.runtime.plan != "enterprise":
        # Since 2026-04-20 only Enterprise apps may like through the API.
        raise ApiError(403, problems.client_forbidden(ctx.sandbox.config.client_id))
    require_self(ctx, account)
    target = await _target_tweet(ctx)
    if isinstance(target, str):
        return _not_found("tweet", "tweet_id", target)
    key = engagement_key(account.id, target.id)
    if key not in ctx.state.likes:
        # A second like is no error on X: 200 and liked, counted once.
        ctx.state.likes[key] = Engagement(
            user_id=account.id, tweet_id=target.id, at=ctx.now()
        )
        target.like_count += 1
        account.like_count += 1
    ctx.cost_micros = pricing.WRITE_MICROS
    return JSONResponse({"data": {"liked": True}})


def undo_like(state: SandboxState, account: Account, tweet_id: str) -> bool:
    """Remove the account's like of `tweet_id`; False when there was none."""
    if state.likes.pop(engagement_key(account.id, tweet_id), None) is None:
        return False
    account.like_count = max(account.like_count - 1, 0)
    target = state.tweets.get(tweet_id)
    if target is not None:
        target.like_count = max(target.like_count - 1, 0)
    return True


ROUTES = [
    RouteSpec("GET", "/2/users/me", users_me, "api", "users_me"),
    RouteSpec("GET", "/2/users/:id", users_lookup, "api", "users_lookup"),
    RouteSpec("GET", "/2/users/:id/tweets", users_tweets, "api", "users_tweets"),
    RouteSpec("POST", "/2/users/:id/retweets", retweet, "api", "retweet"),
    RouteSpec(
        "DELETE", "/2/users/:id/retweets/:tweet_id", unretweet, "api", "unretweet"
    ),
    RouteSpec("POST", "/2/users/:id/likes", like, "api", "like"),
    RouteSpec("GET", "/2/users/:id/liked_tweets", liked_tweets, "api", "liked_tweets"),
    RouteSpec("GET", "/2/tweets/:id", tweets_lookup, "api", "tweets_lookup"),
]
