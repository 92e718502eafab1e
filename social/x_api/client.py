"""The X API v2 client: OAuth 2.0 token calls and the user-context endpoints we use.

One private `_request` holds the retry loop: it retries only where it is safe and
maps every failure to a typed `XApiError`; `_send` makes one attempt, with timeouts,
and records X's rate-limit headers (`rate_limits`). Tokens, auth headers and
token-endpoint bodies are never logged, nor shown in a repr or an error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from django.conf import settings

from ..spend import PriceKind, Purpose, record_x_request
from .errors import (
    XApiError,
    XBadRequest,
    XRateLimited,
    XResponseError,
    XTransportError,
    XUnauthorized,
    XUnavailable,
    is_already_retweeted,
)
from .parsing import (
    ScoreData,
    ShareResult,
    TokenSet,
    XTweet,
    XTweetCard,
    XUser,
    parse_flag,
    parse_token_set,
    parse_tweet_card,
    parse_tweets,
    parse_user,
    read_response,
)
from .rate_limits import (
    exhausted_by,
    rate_limit_exhausted,
    rate_limits_exhausted,
    remember_rate_limit,
    remember_rate_limits,
    window_state,
)

logger = logging.getLogger(__name__)

# Which failures a call may repeat: "read" any, "connect" only those where the
# request never left, "never" none (a single-use authorization code).
Retry = Literal["read", "connect", "never"]
USER_FIELDS = "public_metrics,created_at,profile_image_url,name,username"
TWEET_CARD_FIELDS = "created_at,public_metrics,author_id"


# --- The client -----------------------------------------------------------------------


@dataclass
class _RateLimitBatch:
    """Windows read ahead for a run of calls, and X's answers to keep after it."""

    read: dict[tuple[str, str], datetime | None]
    answers: list[tuple[str, str, httpx.Response]] = field(default_factory=list)


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
        app_bearer_token: str = "",
    ):
        self.api_base = api_base.rstrip("/")
        self.authorize_endpoint = authorize_endpoint
        self.client_id = client_id
        self._client_secret = client_secret
        self._app_bearer_token = app_bearer_token
        self.callback_url = callback_url
        self.scopes = scopes
        self.retry_delays = retry_delays
        self._http = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
            headers={"User-Agent": "blockster-share-to-earn"},
        )
        self._local = threading.local()  # this thread's _RateLimitBatch

    def __repr__(self) -> str:
        return f"<XApiClient {self.api_base} client_id={self.client_id!r}>"

    @classmethod
    def from_settings(cls) -> XApiClient:
        return _client_for(
            api_base=settings.X_API_BASE,
            authorize_endpoint=settings.X_AUTHORIZE_URL,
            client_id=settings.X_CLIENT_ID,
            client_secret=settings.X_CLIENT_SECRET,
            app_bearer_token=settings.X_BEARER_TOKEN,
            callback_url=settings.X_CALLBACK_URL,
            scopes=tuple(settings.X_SCOPES),
            connect_timeout=settings.X_CONNECT_TIMEOUT,
            read_timeout=settings.X_READ_TIMEOUT,
            retry_delays=tuple(settings.X_RETRY_DELAYS),
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
            spend=(PriceKind.USER_READ, Purpose.CONNECT),
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
            spend=(PriceKind.USER_READ, Purpose.SCORE),
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
            spend=(PriceKind.POST_READ, Purpose.SCORE),
        )
        return [tweet for tweet in parse_tweets(body) if not tweet.is_retweet][
            :max_results
        ]

    def find_retweet(
        self,
        access_token: str,
        user_id: str,
        tweet_id: str,
        *,
        max_results: int = 5,
        post_id: str | None = None,
    ) -> str | None:
        """The id of the user's post that retweets `tweet_id`, or None. Looked for
        among their newest `max_results` posts (retweets included), or, given
        `post_id` (the retweet an earlier look found), that post alone: a window of
        one id, so the reader's later posts cannot push it out of sight."""
        params: dict[str, Any] = {
            # X accepts 5..100.
            "max_results": min(max(max_results, 5), 100),
            "tweet.fields": "referenced_tweets",
            "post.fields": "referenced_tweets",
        }
        if post_id is not None:
            params.update(since_id=int(post_id) - 1, until_id=int(post_id) + 1)
        body = self._request(
            "GET",
            f"/users/{user_id}/tweets",
            token=access_token,
            params=params,
            retry="read",
            rate_limit=("users/:id/tweets", user_id),
            spend=(PriceKind.POST_READ, Purpose.VERIFY),
        )
        for tweet in parse_tweets(body):
            if tweet.retweet_of == tweet_id and post_id in (None, tweet.id):
                return tweet.id
        return None

    def find_like(
        self, access_token: str, user_id: str, tweet_id: str, *, max_results: int = 10
    ) -> bool:
        """Whether `tweet_id` is among the posts the user liked last (newest like
        first; X answers 10..100 of them)."""
        body = self._request(
            "GET",
            f"/users/{user_id}/liked_tweets",
            token=access_token,
            params={"max_results": min(max(max_results, 10), 100)},
            retry="read",
            rate_limit=("users/:id/liked_tweets", user_id),
            spend=(PriceKind.POST_READ, Purpose.VERIFY),
        )
        return any(tweet.id == tweet_id for tweet in parse_tweets(body))

    def get_tweet_card(self, tweet_id: str) -> XTweetCard:
        """A tweet and its author, read with the app's own Bearer token (no reader
        involved). XNotFound when X does not show it to the public."""
        if not self._app_bearer_token:
            raise XUnauthorized("X_BEARER_TOKEN is not set")
        body = self._request(
            "GET",
            f"/tweets/{tweet_id}",
            token=self._app_bearer_token,
            params={
                "tweet.fields": TWEET_CARD_FIELDS,
                "expansions": "author_id",
                "user.fields": "name,username",
            },
            retry="read",
            spend=(PriceKind.POST_READ, Purpose.CAMPAIGN_TWEET),
        )
        return parse_tweet_card(body)

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
            spend=(
                PriceKind.POST_WRITE,
                Purpose.SHARE if action == "retweets" else Purpose.LIKE,
            ),
        )
        return parse_flag(body, {"retweets": "retweeted", "likes": "liked"}[action])

    def retweet_and_like(
        self, access_token: str, user_id: str, tweet_id: str, *, like: bool = True
    ) -> ShareResult:
        """Retweet, then like. A failed retweet raises; a failed like is reported.
        Both rate-limit windows are read in one Redis round trip before the
        retweet, and X's word on them kept in one after the like."""
        windows = [("users/:id/retweets", user_id)]
        if like:
            windows.append(("users/:id/likes", user_id))
        with self._rate_limits_batched(windows):
            return self._retweet_and_like(access_token, user_id, tweet_id, like=like)

    def _retweet_and_like(
        self, access_token: str, user_id: str, tweet_id: str, *, like: bool
    ) -> ShareResult:
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
            return ShareResult(already_retweeted=already)
        try:
            liked = self.like_tweet(access_token, user_id, tweet_id)
        except XUnauthorized:
            raise
        except XApiError as error:
            return ShareResult(already_retweeted=already, like_error=error)
        return ShareResult(already_retweeted=already, liked=liked)

    # Rate-limit bookkeeping -----------------------------------------------------------

    @contextmanager
    def _rate_limits_batched(self, windows: list[tuple[str, str]]) -> Iterator[None]:
        """Calls made in the block on these windows check the state read here, in
        one round trip, and their answers are kept in one round trip at the end."""
        if getattr(self._local, "batch", None) is not None:
            yield  # an enclosing batch already reads and keeps them
            return
        read = dict(zip(windows, rate_limits_exhausted(windows), strict=True))
        self._local.batch = batch = _RateLimitBatch(read)
        try:
            yield
        finally:
            self._local.batch = None
            remember_rate_limits(batch.answers)

    def _exhausted(self, window: tuple[str, str]) -> datetime | None:
        batch: _RateLimitBatch | None = getattr(self._local, "batch", None)
        if batch is None or window not in batch.read:
            return rate_limit_exhausted(*window)
        # Read ahead; an answer in the block since then (not kept yet) says more.
        answered = [a for e, u, a in batch.answers if (e, u) == window]
        for answer in reversed(answered):
            if window_state(answer) is not None:
                return exhausted_by(answer)
        return batch.read[window]

    def _remember(self, window: tuple[str, str], response: httpx.Response) -> None:
        batch: _RateLimitBatch | None = getattr(self._local, "batch", None)
        if batch is not None and window in batch.read:
            batch.answers.append((*window, response))
        else:
            remember_rate_limit(*window, response)

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
            spend=(PriceKind.OAUTH, Purpose.TOKEN),
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
        spend: tuple[PriceKind, Purpose],
    ) -> Any:
        """The parsed body of X's answer; the attempts `retry` allows, then the last
        failure raised as a typed XApiError. Every answer is priced and recorded
        (`spend`: what X bills it as, and why we asked)."""
        if rate_limit and (reset_at := self._exhausted(rate_limit)):
            raise XRateLimited(
                f"{rate_limit[0]} rate limit exhausted until {reset_at:%H:%M:%S} UTC",
                reset_at=reset_at,
            )
        # Built once: httpx.Request shows neither headers nor body in a repr, so an
        # error report's frames never show the token.
        request = self._http.build_request(
            method,
            self.api_base + path,
            params=params,
            json=json,
            data=form,
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        attempts = len(self.retry_delays) + 1
        for attempt in range(attempts):
            try:
                response = self._send(request, path, auth=auth, rate_limit=rate_limit)
            except XTransportError as error:
                failure: XApiError = error
            else:
                if response.status_code < 500:
                    return self._read(response, spend, token_call=token_call)
                record_x_request(*spend, status=response.status_code, body=None)
                failure = XUnavailable(
                    f"X answered {response.status_code}", status=response.status_code
                )
            logger.warning(
                "X %s %s failed (attempt %d/%d): %s",
                method,
                path,
                attempt + 1,
                attempts,
                failure.detail,
            )
            if attempt == attempts - 1 or not _may_repeat(failure, retry):
                raise failure
            time.sleep(self.retry_delays[attempt])
        raise AssertionError("unreachable")

    def _read(
        self,
        response: httpx.Response,
        spend: tuple[PriceKind, Purpose],
        *,
        token_call: bool,
    ) -> Any:
        try:
            body = read_response(response, token_call=token_call)
        except XApiError:
            record_x_request(*spend, status=response.status_code, body=None)
            raise
        record_x_request(*spend, status=response.status_code, body=body)
        return body

    def _send(
        self,
        request: httpx.Request,
        path: str,
        *,
        auth: tuple[str, str] | None,
        rate_limit: tuple[str, str] | None,
    ) -> httpx.Response:
        """One attempt: X's answer, 5xx included; XTransportError when none came."""
        started = time.monotonic()
        try:
            response = self._http.send(request, auth=auth)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise XTransportError("connect", type(exc).__name__) from None
        except httpx.TimeoutException as exc:
            raise XTransportError("timeout", type(exc).__name__) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise XTransportError("closed", type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise XTransportError("network", type(exc).__name__) from None
        logger.info(
            "X %s %s -> %s in %.0f ms",
            request.method,
            path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if rate_limit:
            self._remember(rate_limit, response)
        return response


def _may_repeat(failure: XApiError, retry: Retry) -> bool:
    if retry == "read":
        return True
    # The request never left: safe to repeat, even a write.
    connect_failed = isinstance(failure, XTransportError) and failure.kind == "connect"
    return retry == "connect" and connect_failed


# One client per configuration, reused: its connection pool outlives a request.
_client_for = cache(XApiClient)
