"""The X API v2 client: OAuth 2.0 token calls and the user-context endpoints we use.

One private `_request` sets timeouts, retries only where it is safe, tracks X's
rate-limit headers, and maps every failure to a typed `XApiError`; the `parse_*`
functions turn bodies into dataclasses and tolerate X's spec drift. Tokens, auth
headers and token-endpoint bodies are never logged, nor shown in a repr or an error.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from django.conf import settings

from blockster.redis_client import get_redis
from rewards.mirror import rate_limit_key

logger = logging.getLogger(__name__)

Retry = Literal["read", "connect", "never"]
DEFAULT_EXPIRES_IN = 7200
USER_FIELDS = "public_metrics,created_at,profile_image_url,name,username"
# When X answers 429 without a reset header, refuse locally for this long.
FALLBACK_RATE_LIMIT_WAIT = 60


# --- Errors ---------------------------------------------------------------------------


class XApiError(Exception):
    """A failed call to X. `permanent` errors are not worth retrying."""

    permanent = True

    def __init__(
        self, detail: str, *, status: int | None = None, messages: tuple[str, ...] = ()
    ):
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.messages = messages

    @property
    def user_message(self) -> str:
        return f"X request failed ({self.status or 'no answer'}) - please try again"


class XUnauthorized(XApiError):
    """401: the access token is missing, expired or revoked."""

    @property
    def user_message(self) -> str:
        return "X session expired. Please reconnect your account."


class XForbidden(XApiError):
    @property
    def user_message(self) -> str:
        return "; ".join(self.messages) or "Forbidden - may be rate limited"


class XNotFound(XApiError):
    @property
    def user_message(self) -> str:
        return "; ".join(self.messages) or "Not found on X"


class XBadRequest(XApiError):
    @property
    def user_message(self) -> str:
        return "X rejected the request: " + ("; ".join(self.messages) or self.detail)


class XOAuthError(XBadRequest):
    """The token endpoint refused a grant: bad, reused or expired code or token."""

    def __init__(self, error: str, description: str, *, status: int):
        super().__init__(
            f"{error}: {description}" if description else error,
            status=status,
            messages=(description,) if description else (),
        )
        self.error = error

    @property
    def user_message(self) -> str:
        return self.messages[0] if self.messages else self.error


class XRateLimited(XApiError):
    permanent = False

    def __init__(self, detail: str, *, reset_at: datetime | None, local: bool = False):
        super().__init__(detail, status=429)
        self.reset_at = reset_at
        self.local = local

    @property
    def user_message(self) -> str:
        if self.reset_at is None:
            return "Rate limited - please try again later"
        return (
            "Rate limited - please try again after "
            f"{self.reset_at.astimezone(UTC):%H:%M} UTC"
        )


class XCreditsDepleted(XApiError):
    """402: the X app has run out of pay-per-use credits (an operator problem)."""

    @property
    def user_message(self) -> str:
        return "X is unavailable right now - please try again later"


class XUnavailable(XApiError):
    permanent = False

    @property
    def user_message(self) -> str:
        return "X is unavailable right now - please try again later"


class XTransportError(XApiError):
    """No usable answer: `kind` is connect, timeout, closed or network."""

    permanent = False
    MESSAGES = {
        "closed": "Connection lost - please try again",
        "timeout": "Request timed out - please try again",
    }

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind

    @property
    def user_message(self) -> str:
        return self.MESSAGES.get(self.kind, "Network error - please try again")


class XResponseError(XApiError):
    """X answered 2xx with a body we cannot use."""


# --- Parsed shapes --------------------------------------------------------------------


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
    created_at: datetime | None = None


@dataclass(frozen=True)
class ScoreData:
    user: XUser
    tweets: list[XTweet]


@dataclass(frozen=True)
class ShareResult:
    retweeted: bool
    already_retweeted: bool = False
    liked: bool = False
    like_error: XApiError | None = None


# --- Parsing --------------------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
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
        created_at=_parse_time(data.get("created_at")),
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
                created_at=_parse_time(item.get("created_at")),
            )
        )
    return tweets


def _flag(body: Any, name: str) -> bool:
    data = _data(body)
    if not isinstance(data, dict) or not isinstance(data.get(name), bool):
        raise XResponseError(f"response has no {name} flag")
    return data[name]


# --- Rate-limit tracking --------------------------------------------------------------


def _rate_limit_exhausted(endpoint: str, x_user_id: str) -> datetime | None:
    """The reset time if X told us this user's window is used up, else None."""
    try:
        state = get_redis().hgetall(rate_limit_key(endpoint, x_user_id))
    except Exception as error:  # tracking only saves requests; never block on it
        logger.warning("rate-limit tracking unavailable: %s", type(error).__name__)
        return None
    if not state or state.get("remaining") != "0":
        return None
    reset = int(state.get("reset", "0"))
    return datetime.fromtimestamp(reset, UTC) if reset > time.time() else None


def _remember_rate_limit(
    endpoint: str, x_user_id: str, response: httpx.Response
) -> None:
    headers = response.headers
    remaining = headers.get("x-rate-limit-remaining")
    reset = headers.get("x-rate-limit-reset")
    if response.status_code == 429:
        remaining = "0"
        reset = reset or str(int(time.time()) + FALLBACK_RATE_LIMIT_WAIT)
    if remaining is None or reset is None or not reset.isdigit():
        return
    key = rate_limit_key(endpoint, x_user_id)
    try:
        with get_redis().pipeline() as pipe:
            pipe.hset(key, mapping={"remaining": remaining, "reset": reset})
            pipe.expireat(key, int(reset) + 1)
            pipe.execute()
    except Exception as error:
        logger.warning("rate-limit tracking unavailable: %s", type(error).__name__)


# --- The client -----------------------------------------------------------------------


class XApiClient:
    """X API v2 for one app registration. Thread-safe; reuse it (`from_settings`)."""

    def __init__(
        self,
        *,
        api_base: str,
        authorize_endpoint: str,
        client_id: str,
        client_secret: str,
        callback_url: str,
        scopes: tuple[str, ...],
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        retry_delays: tuple[float, ...] = (0.5, 1.0),
        transport: httpx.BaseTransport | None = None,
    ):
        self.api_base = api_base.rstrip("/")
        self.authorize_endpoint = authorize_endpoint
        self.client_id = client_id
        self._client_secret = client_secret
        self.callback_url = callback_url
        self.scopes = scopes
        self.retry_delays = retry_delays
        self._http = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
            headers={"User-Agent": "blockster-share-to-earn"},
        )

    def __repr__(self) -> str:
        return f"<XApiClient {self.api_base} client_id={self.client_id!r}>"

    @classmethod
    def from_settings(cls) -> XApiClient:
        return _client_for(
            settings.X_API_BASE,
            settings.X_AUTHORIZE_URL,
            settings.X_CLIENT_ID,
            settings.X_CLIENT_SECRET,
            settings.X_CALLBACK_URL,
            tuple(settings.X_SCOPES),
            settings.X_CONNECT_TIMEOUT,
            settings.X_READ_TIMEOUT,
            tuple(settings.X_RETRY_DELAYS),
        )

    # OAuth 2.0 ------------------------------------------------------------------------

    def authorize_url(self, state: str, code_challenge: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.callback_url,
            "scope": " ".join(self.scopes),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.authorize_endpoint}?{urlencode(query)}"

    def exchange_code(self, code: str, code_verifier: str) -> TokenSet:
        # Authorization codes are single-use: never retried, even on a connect error.
        body = self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.callback_url,
                "code_verifier": code_verifier,
                "client_id": self.client_id,
            },
            retry="never",
        )
        return parse_token_set(body)

    def refresh_token(self, refresh_token: str) -> TokenSet:
        # Refresh tokens rotate on use; retry only when the request never reached X.
        body = self._token_request(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.client_id,
            },
            retry="connect",
        )
        return parse_token_set(body)

    def revoke_token(self, token: str) -> None:
        self._token_request(
            {"token": token, "client_id": self.client_id},
            path="/oauth2/revoke",
            retry="connect",
        )

    # Users and tweets -----------------------------------------------------------------

    def get_me(self, access_token: str) -> XUser:
        body = self._request(
            "GET",
            "/users/me",
            token=access_token,
            params={"user.fields": "profile_image_url,name,username"},
            retry="read",
        )
        return parse_user(body)

    def get_user_with_metrics(self, access_token: str, user_id: str) -> XUser:
        body = self._request(
            "GET",
            f"/users/{user_id}",
            token=access_token,
            params={"user.fields": USER_FIELDS},
            retry="read",
            rate_limit=("users/:id", user_id),
        )
        return parse_user(body)

    def get_user_tweets_with_metrics(
        self, access_token: str, user_id: str, max_results: int = 10
    ) -> list[XTweet]:
        fields = "public_metrics,referenced_tweets,created_at"
        body = self._request(
            "GET",
            f"/users/{user_id}/tweets",
            token=access_token,
            params={
                # X accepts 5..100; we never need more than 100.
                "max_results": min(max(max_results, 5), 100),
                "tweet.fields": fields,
                "post.fields": fields,
                "exclude": "retweets",
            },
            retry="read",
            rate_limit=("users/:id/tweets", user_id),
        )
        return [tweet for tweet in parse_tweets(body) if not tweet.is_retweet][
            :max_results
        ]

    def fetch_score_data(self, access_token: str, user_id: str) -> ScoreData:
        user = self.get_user_with_metrics(access_token, user_id)
        tweets = self.get_user_tweets_with_metrics(access_token, user_id, 10)
        return ScoreData(user=user, tweets=tweets)

    # Retweet and like -----------------------------------------------------------------

    def create_retweet(self, access_token: str, user_id: str, tweet_id: str) -> bool:
        """Retweet; True when it is done (also when it had already been done)."""
        return self._act_on_tweet(access_token, user_id, tweet_id, "retweets")

    def like_tweet(self, access_token: str, user_id: str, tweet_id: str) -> bool:
        return self._act_on_tweet(access_token, user_id, tweet_id, "likes")

    def _act_on_tweet(
        self, access_token: str, user_id: str, tweet_id: str, action: str
    ) -> bool:
        body = self._request(
            "POST",
            f"/users/{user_id}/{action}",
            token=access_token,
            json={"tweet_id": tweet_id},
            retry="connect",
            rate_limit=(f"users/:id/{action}", user_id),
        )
        return _flag(body, {"retweets": "retweeted", "likes": "liked"}[action])

    def retweet_and_like(
        self, access_token: str, user_id: str, tweet_id: str, *, like: bool = True
    ) -> ShareResult:
        """Retweet, then like. A failed retweet raises; a failed like is reported."""
        already = False
        try:
            retweeted = self.create_retweet(access_token, user_id, tweet_id)
        except XBadRequest as error:
            if not is_already_retweeted(error):
                raise
            retweeted, already = True, True
        if not retweeted:
            raise XResponseError("X did not confirm the retweet")
        if not like:
            return ShareResult(retweeted=True, already_retweeted=already)
        try:
            liked = self.like_tweet(access_token, user_id, tweet_id)
        except XUnauthorized:
            raise
        except XApiError as error:
            return ShareResult(
                retweeted=True, already_retweeted=already, like_error=error
            )
        return ShareResult(retweeted=True, already_retweeted=already, liked=liked)

    # Transport ------------------------------------------------------------------------

    def _token_request(
        self, form: dict[str, str], *, retry: Retry, path: str = "/oauth2/token"
    ) -> Any:
        return self._request(
            "POST",
            path,
            form=form,
            auth=(self.client_id, self._client_secret),
            retry=retry,
            token_call=True,
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        retry: Retry,
        rate_limit: tuple[str, str] | None = None,
        token_call: bool = False,
    ) -> Any:
        if rate_limit and (reset_at := _rate_limit_exhausted(*rate_limit)):
            raise XRateLimited(
                f"{rate_limit[0]} rate limit exhausted until {reset_at:%H:%M:%S} UTC",
                reset_at=reset_at,
                local=True,
            )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        attempts = len(self.retry_delays) + 1
        for attempt in range(attempts):
            started = time.monotonic()
            try:
                response = self._http.request(
                    method,
                    self.api_base + path,
                    params=params,
                    json=json,
                    data=form,
                    auth=auth,
                    headers=headers,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # The request never left: safe to repeat, even a write.
                error: XApiError = XTransportError("connect", type(exc).__name__)
                retryable = retry in ("read", "connect")
            except httpx.TimeoutException as exc:
                error = XTransportError("timeout", type(exc).__name__)
                retryable = retry == "read"
            except (
                httpx.RemoteProtocolError,
                httpx.ReadError,
                httpx.WriteError,
            ) as exc:
                error = XTransportError("closed", type(exc).__name__)
                retryable = retry == "read"
            except httpx.HTTPError as exc:
                error = XTransportError("network", type(exc).__name__)
                retryable = retry == "read"
            else:
                logger.info(
                    "X %s %s -> %s in %.0f ms",
                    method,
                    _path_for_log(path),
                    response.status_code,
                    (time.monotonic() - started) * 1000,
                )
                if rate_limit:
                    _remember_rate_limit(*rate_limit, response)
                if response.status_code < 500:
                    return _read_response(response, token_call=token_call)
                error = XUnavailable(
                    f"X answered {response.status_code}", status=response.status_code
                )
                retryable = retry == "read"
            logger.warning(
                "X %s %s failed (attempt %d/%d): %s",
                method,
                _path_for_log(path),
                attempt + 1,
                attempts,
                error.detail,
            )
            if not retryable or attempt == attempts - 1:
                raise error
            time.sleep(self.retry_delays[attempt])
        raise AssertionError("unreachable")


def _path_for_log(path: str) -> str:
    return path.split("?", 1)[0]


def _read_response(response: httpx.Response, *, token_call: bool) -> Any:
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


def is_already_retweeted(error: XApiError) -> bool:
    return any("already retweeted" in message.lower() for message in error.messages)


@cache
def _client_for(*args: Any) -> XApiClient:
    (
        api_base,
        authorize,
        client_id,
        secret,
        callback,
        scopes,
        connect,
        read,
        delays,
    ) = args
    return XApiClient(
        api_base=api_base,
        authorize_endpoint=authorize,
        client_id=client_id,
        client_secret=secret,
        callback_url=callback,
        scopes=scopes,
        connect_timeout=connect,
        read_timeout=read,
        retry_delays=delays,
    )
