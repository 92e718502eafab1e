"""X's answers turned into dataclasses, in one place: bodies that do not fit raise
XResponseError, error answers their typed XApiError. Tolerates X's spec drift."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from .errors import (
    XApiError,
    XBadRequest,
    XCreditsDepleted,
    XForbidden,
    XNotFound,
    XOAuthError,
    XRateLimited,
    XResponseError,
    XUnauthorized,
)

# The access token's lifetime when X does not say.
DEFAULT_EXPIRES_IN = 7200


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class PublicMetrics:
    followers_count: int = 0
    following_count: int = 0
    tweet_count: int = 0
    listed_count: int = 0


@dataclass(frozen=True)
class XUser:
    id: str
    username: str
    name: str = ""
    profile_image_url: str = ""
    created_at: datetime | None = None
    metrics: PublicMetrics | None = None


@dataclass(frozen=True)
class XTweet:
    id: str
    like_count: int = 0
    retweet_count: int = 0
    reply_count: int = 0
    quote_count: int = 0
    is_retweet: bool = False
    # The id of the post this one retweets, when X says which.
    retweet_of: str | None = None


@dataclass(frozen=True)
class XTweetCard:
    """A tweet as a card shows it: its text, its author and when it was posted."""

    id: str
    text: str
    author_id: str
    author_name: str
    author_username: str
    created_at: datetime | None


@dataclass(frozen=True)
class ScoreData:
    user: XUser
    tweets: list[XTweet]


@dataclass(frozen=True)
class ShareResult:
    """A done retweet (a failed one raises), and what became of the like."""

    already_retweeted: bool = False
    liked: bool = False
    like_error: XApiError | None = None


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _data(body: Any) -> Any:
    if not isinstance(body, dict) or "data" not in body:
        if isinstance(body, dict) and body.get("errors"):
            raise XNotFound("resource not found", status=200, messages=_messages(body))
        raise XResponseError("response has no data")
    return body["data"]


def _messages(body: Any) -> tuple[str, ...]:
    """X's human-readable messages from a problem object or an errors[] list."""
    if not isinstance(body, dict):
        return ()
    found: list[str] = []
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            text = error.get("message") or error.get("detail") or error.get("title")
            if isinstance(text, str) and text not in found:
                found.append(text)
    if not found and isinstance(body.get("detail"), str):
        found.append(body["detail"])
    return tuple(found)


def parse_token_set(body: Any) -> TokenSet:
    if not isinstance(body, dict):
        raise XResponseError("token response is not a JSON object")
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise XResponseError("token response has no access_token")
    refresh = body.get("refresh_token")
    expires_in = body.get("expires_in")
    scope = body.get("scope")
    return TokenSet(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        # A missing lifetime means X's default, never "does not expire".
        expires_in=expires_in
        if isinstance(expires_in, int) and expires_in > 0
        else DEFAULT_EXPIRES_IN,
        scopes=tuple(scope.split()) if isinstance(scope, str) else (),
    )


def parse_user(body: Any) -> XUser:
    data = _data(body)
    if not isinstance(data, dict):
        raise XResponseError("user data is not an object")
    user_id = data.get("id") or data.get("rest_id")
    username = data.get("username")
    if not isinstance(user_id, str) or not isinstance(username, str):
        raise XResponseError("user data has no id or username")
    name, image = data.get("name"), data.get("profile_image_url")
    metrics = data.get("public_metrics")
    return XUser(
        id=user_id,
        username=username,
        name=name if isinstance(name, str) else "",
        profile_image_url=image if isinstance(image, str) else "",
        created_at=parse_time(data.get("created_at")),
        metrics=PublicMetrics(
            followers_count=_as_int(metrics.get("followers_count")),
            following_count=_as_int(metrics.get("following_count")),
            # Renamed to post_count in X's newer spec.
            tweet_count=_as_int(metrics.get("tweet_count", metrics.get("post_count"))),
            listed_count=_as_int(metrics.get("listed_count")),
        )
        if isinstance(metrics, dict)
        else None,
    )


def parse_tweets(body: Any) -> list[XTweet]:
    if isinstance(body, dict) and "data" not in body and not body.get("errors"):
        return []  # a user with no tweets: X omits `data`, meta.result_count is 0
    data = _data(body)
    if not isinstance(data, list):
        raise XResponseError("tweets data is not a list")
    tweets = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        metrics = item.get("public_metrics") or {}
        references = item.get("referenced_tweets") or []
        tweets.append(
            XTweet(
                id=item["id"],
                like_count=_as_int(metrics.get("like_count")),
                retweet_count=_as_int(metrics.get("retweet_count")),
                reply_count=_as_int(metrics.get("reply_count")),
                quote_count=_as_int(metrics.get("quote_count")),
                is_retweet=any(
                    isinstance(ref, dict) and ref.get("type") == "retweeted"
                    for ref in references
                ),
                retweet_of=_retweeted_id(references),
            )
        )
    return tweets


def parse_tweet_card(body: Any) -> XTweetCard:
    """GET /2/tweets/:id with the author expanded. A tweet X does not show (deleted,
    never posted, or its author protected) comes as `errors` alone: XNotFound."""
    data = _data(body)
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise XResponseError("tweet data has no id")
    text, author_id = data.get("text"), data.get("author_id")
    if not isinstance(text, str) or not isinstance(author_id, str):
        raise XResponseError("tweet data has no text or author_id")
    includes = body.get("includes") if isinstance(body, dict) else None
    users = includes.get("users") if isinstance(includes, dict) else None
    author = next(
        (
            user
            for user in users or []
            if isinstance(user, dict) and user.get("id") == author_id
        ),
        None,
    )
    if author is None or not isinstance(author.get("username"), str):
        raise XResponseError("tweet answer has no author in includes.users")
    name = author.get("name")
    return XTweetCard(
        id=data["id"],
        text=text,
        author_id=author_id,
        author_name=name if isinstance(name, str) else "",
        author_username=author["username"],
        created_at=parse_time(data.get("created_at")),
    )


def _retweeted_id(references: Any) -> str | None:
    if not isinstance(references, list):
        return None
    for ref in references:
        if isinstance(ref, dict) and ref.get("type") == "retweeted":
            original = ref.get("id")
            return original if isinstance(original, str) else None
    return None


def parse_flag(body: Any, name: str) -> bool:
    data = _data(body)
    if not isinstance(data, dict) or not isinstance(data.get(name), bool):
        raise XResponseError(f"response has no {name} flag")
    return data[name]


def read_response(response: httpx.Response, *, token_call: bool) -> Any:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if 200 <= status < 300:
        if body is None and status != 204:
            raise XResponseError(f"X answered {status} with a body that is not JSON")
        return body
    if token_call and isinstance(body, dict) and isinstance(body.get("error"), str):
        description = body.get("error_description")
        description = description if isinstance(description, str) else ""
        if status == 401:
            raise XUnauthorized(f"{body['error']}: {description}", status=status)
        raise XOAuthError(body["error"], description, status=status)
    messages = _messages(body)
    detail = f"X answered {status}" + (f": {'; '.join(messages)}" if messages else "")
    if status == 401:
        raise XUnauthorized(detail, status=status, messages=messages)
    if status == 402:
        raise XCreditsDepleted(detail, status=status, messages=messages)
    if status == 403:
        raise XForbidden(detail, status=status, messages=messages)
    if status == 404:
        raise XNotFound(detail, status=status, messages=messages)
    if status == 429:
        reset = response.headers.get("x-rate-limit-reset", "")
        reset_at = datetime.fromtimestamp(int(reset), UTC) if reset.isdigit() else None
        raise XRateLimited(detail, reset_at=reset_at)
    raise XBadRequest(detail, status=status, messages=messages)
