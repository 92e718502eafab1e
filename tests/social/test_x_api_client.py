"""HTTP edge cases of the X client, with respx standing in for X."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
import respx

from blockster.redis_client import get_redis
from social.x_api import (
    XApiClient,
    XBadRequest,
    XCreditsDepleted,
    XForbidden,
    XNotFound,
    XOAuthError,
    XRateLimited,
    XResponseError,
    XTransportError,
    XUnauthorized,
    XUnavailable,
    parse_token_set,
)

API = "https://api.x.test/2"
TOKEN = "secret-access-token-abcdefghijklmnop"

# Every answer the client gets is priced and recorded in PostgreSQL (social.spend).
pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return XApiClient(
        api_base=API,
        authorize_endpoint="https://x.test/i/oauth2/authorize",
        client_id="client-id",
        client_secret="client-secret",
        callback_url="https://blockster.test/auth/x/callback",
        scopes=("tweet.read", "users.read"),
        retry_delays=(0, 0),
    )


@pytest.fixture
def x():
    with respx.mock(base_url=API, assert_all_called=False) as mock:
        yield mock


def user_body(**metrics):
    return {
        "data": {
            "id": "42",
            "username": "reader",
            "name": "Reader",
            "created_at": "2020-05-12T19:44:51.000Z",
            "public_metrics": metrics,
        }
    }


def test_authorize_url_carries_pkce_state_and_scopes(client):
    url = httpx.URL(client.authorize_url("the-state", "the-challenge"))

    assert url.params["code_challenge"] == "the-challenge"
    assert url.params["code_challenge_method"] == "S256"
    assert url.params["state"] == "the-state"
    assert url.params["scope"] == "tweet.read users.read"
    assert url.params["redirect_uri"] == "https://blockster.test/auth/x/callback"


def test_reads_are_retried_on_5xx_then_succeed(client, x):
    route = x.get("/users/42").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=user_body())]
    )

    assert client.get_user_with_metrics(TOKEN, "42").username == "reader"
    assert route.call_count == 2


def test_reads_give_up_after_two_retries(client, x):
    route = x.get("/users/42").mock(side_effect=httpx.ReadTimeout("slow"))

    with pytest.raises(XTransportError) as raised:
        client.get_user_with_metrics(TOKEN, "42")

    assert route.call_count == 3
    assert raised.value.kind == "timeout"
    assert raised.value.user_message == "Request timed out - please try again"


def test_writes_are_not_retried_once_the_request_may_have_reached_x(client, x):
    for side_effect in (
        httpx.Response(500),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
    ):
        route = x.post("/users/42/retweets").mock(side_effect=side_effect)
        with pytest.raises((XUnavailable, XTransportError)):
            client.create_retweet(TOKEN, "42", "100")
        assert route.call_count == 1
        x.reset()


def test_writes_are_retried_when_the_connection_never_opened(client, x):
    route = x.post("/users/42/retweets").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(200, json={"data": {"retweeted": True, "id": "9"}}),
        ]
    )

    assert client.create_retweet(TOKEN, "42", "100") is True
    assert route.call_count == 2


def test_the_code_exchange_is_never_retried(client, x):
    route = x.post("/oauth2/token").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(XTransportError):
        client.exchange_code("code", "verifier")

    assert route.call_count == 1


def test_4xx_is_never_retried(client, x):
    route = x.get("/users/42").mock(
        return_value=httpx.Response(401, json={"title": "Unauthorized", "status": 401})
    )

    with pytest.raises(XUnauthorized):
        client.get_user_with_metrics(TOKEN, "42")

    assert route.call_count == 1


def test_token_calls_use_basic_auth_and_pkce(client, x):
    route = x.post("/oauth2/token").mock(
        return_value=httpx.Response(
            200,
            json={
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": "new-access",
                "refresh_token": "new-refresh",
                "scope": "tweet.read users.read",
            },
        )
    )

    tokens = client.exchange_code("the-code", "the-verifier")

    request = route.calls.last.request
    assert request.headers["Authorization"].startswith("Basic ")
    body = request.content.decode()
    assert "code_verifier=the-verifier" in body and "code=the-code" in body
    assert tokens.scopes == ("tweet.read", "users.read")
    assert "new-access" not in repr(tokens) and "new-refresh" not in repr(tokens)


def test_a_reused_code_is_a_clear_oauth_error(client, x):
    x.post("/oauth2/token").mock(
        return_value=httpx.Response(
            400,
            json={
                "error": "invalid_request",
                "error_description": "Value passed for the authorization code was "
                "invalid.",
            },
        )
    )

    with pytest.raises(XOAuthError) as raised:
        client.exchange_code("used", "verifier")

    assert raised.value.error == "invalid_request"
    assert "authorization code was invalid" in raised.value.user_message


@pytest.mark.parametrize(
    "body",
    [
        [],
        "not an object",
        {},
        {"access_token": ""},
        {"access_token": 12},
        {"token_type": "bearer", "expires_in": 7200},
    ],
)
def test_malformed_token_responses_are_refused(body):
    with pytest.raises(XResponseError):
        parse_token_set(body)


def test_a_token_response_without_lifetime_or_refresh_token_gets_safe_defaults():
    tokens = parse_token_set({"access_token": "a"})

    assert tokens.expires_in == 7200
    assert tokens.refresh_token is None


def test_a_token_response_that_is_not_json_is_refused(client, x):
    x.post("/oauth2/token").mock(return_value=httpx.Response(200, text="<html>"))

    with pytest.raises(XResponseError):
        client.exchange_code("code", "verifier")


def test_spec_drift_post_count_and_rest_id_are_accepted(client, x):
    x.get("/users/42").mock(
        return_value=httpx.Response(
            200,
            json={
                "data": {
                    "rest_id": "42",
                    "username": "reader",
                    "public_metrics": {"followers_count": 10, "post_count": 77},
                }
            },
        )
    )

    user = client.get_user_with_metrics(TOKEN, "42")

    assert user.id == "42"
    assert user.metrics.tweet_count == 77
    assert user.metrics.followers_count == 10


def test_a_lookup_answered_200_with_only_errors_is_not_found(client, x):
    x.get("/users/42").mock(
        return_value=httpx.Response(
            200,
            json={"errors": [{"title": "Not Found Error", "detail": "Could not find"}]},
        )
    )

    with pytest.raises(XNotFound):
        client.get_user_with_metrics(TOKEN, "42")


def test_tweets_drop_retweets_and_keep_at_most_ten(client, x):
    tweets: list[dict[str, Any]] = [
        {"id": str(n), "public_metrics": {"like_count": n}} for n in range(1, 13)
    ]
    tweets.insert(0, {"id": "99", "referenced_tweets": [{"type": "retweeted"}]})
    route = x.get("/users/42/tweets").mock(
        return_value=httpx.Response(200, json={"data": tweets})
    )

    result = client.get_user_tweets_with_metrics(TOKEN, "42", 10)

    assert [t.id for t in result] == [str(n) for n in range(1, 11)]
    assert route.calls.last.request.url.params["exclude"] == "retweets"


def test_a_user_without_tweets_gets_an_empty_list(client, x):
    x.get("/users/42/tweets").mock(
        return_value=httpx.Response(200, json={"meta": {"result_count": 0}})
    )

    assert client.get_user_tweets_with_metrics(TOKEN, "42") == []


@pytest.mark.parametrize(
    ("status", "body", "error_type", "message"),
    [
        (
            400,
            {
                "errors": [
                    {
                        "message": "You cannot retweet a Tweet that you have "
                        "already retweeted."
                    }
                ]
            },
            XBadRequest,
            "already retweeted",
        ),
        (
            403,
            {"detail": "You are not permitted to perform this action."},
            XForbidden,
            "not permitted",
        ),
        (402, {"title": "CreditsDepleted"}, XCreditsDepleted, "unavailable"),
        (429, {"title": "Too Many Requests"}, XRateLimited, "Rate limited"),
    ],
)
def test_error_statuses_map_to_typed_errors_with_user_messages(
    client, x, status, body, error_type, message
):
    x.post("/users/42/likes").mock(return_value=httpx.Response(status, json=body))

    with pytest.raises(error_type) as raised:
        client.like_tweet(TOKEN, "42", "100")

    assert message in raised.value.user_message


def test_retweet_and_like_treats_an_earlier_retweet_as_done(client, x):
    x.post("/users/42/retweets").mock(
        return_value=httpx.Response(
            400,
            json={
                "errors": [
                    {
                        "message": "You cannot retweet a Tweet that you have "
                        "already retweeted."
                    }
                ]
            },
        )
    )
    x.post("/users/42/likes").mock(
        return_value=httpx.Response(200, json={"data": {"liked": True}})
    )

    result = client.retweet_and_like(TOKEN, "42", "100")

    assert result.already_retweeted and result.liked


def test_retweet_and_like_reports_a_refused_like_without_failing(client, x):
    x.post("/users/42/retweets").mock(
        return_value=httpx.Response(200, json={"data": {"retweeted": True}})
    )
    x.post("/users/42/likes").mock(
        return_value=httpx.Response(
            403, json={"title": "Client Forbidden", "reason": "client-not-enrolled"}
        )
    )

    result = client.retweet_and_like(TOKEN, "42", "100")

    assert not result.liked
    assert isinstance(result.like_error, XForbidden)


def test_retweet_and_like_can_skip_the_like(client, x):
    x.post("/users/42/retweets").mock(
        return_value=httpx.Response(200, json={"data": {"retweeted": True}})
    )
    likes = x.post("/users/42/likes")

    result = client.retweet_and_like(TOKEN, "42", "100", like=False)

    assert not result.liked
    assert likes.call_count == 0


@pytest.mark.django_db
def test_after_a_429_the_client_refuses_locally_until_the_reset(client, x):
    reset = int(time.time()) + 900
    route = x.post("/users/42/retweets").mock(
        return_value=httpx.Response(
            429,
            headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
            json={"title": "Too Many Requests"},
        )
    )

    with pytest.raises(XRateLimited):
        client.create_retweet(TOKEN, "42", "100")
    with pytest.raises(XRateLimited) as second:
        client.create_retweet(TOKEN, "42", "100")

    assert route.call_count == 1  # the second refusal cost no request
    assert second.value.reset_at is not None
    assert second.value.reset_at.timestamp() == reset
    # Other users' windows are their own.
    x.post("/users/43/retweets").mock(
        return_value=httpx.Response(200, json={"data": {"retweeted": True}})
    )
    assert client.create_retweet(TOKEN, "43", "100") is True


@pytest.mark.django_db
def test_the_local_refusal_ends_when_the_window_resets(client, x):
    x.post("/users/42/retweets").mock(
        side_effect=[
            httpx.Response(
                200,
                headers={
                    "x-rate-limit-remaining": "0",
                    "x-rate-limit-reset": str(int(time.time()) + 2),
                },
                json={"data": {"retweeted": True}},
            ),
            httpx.Response(200, json={"data": {"retweeted": True}}),
        ]
    )

    client.create_retweet(TOKEN, "42", "100")
    with pytest.raises(XRateLimited):
        client.create_retweet(TOKEN, "42", "101")
    time.sleep(2.2)

    assert client.create_retweet(TOKEN, "42", "102") is True


@pytest.mark.django_db
def test_the_rate_limit_window_is_kept_under_its_documented_key(client, x, settings):
    reset = int(time.time()) + 900
    x.post("/users/42/likes").mock(
        return_value=httpx.Response(
            200,
            headers={"x-rate-limit-remaining": "7", "x-rate-limit-reset": str(reset)},
            json={"data": {"liked": True}},
        )
    )

    client.like_tweet(TOKEN, "42", "100")

    key = f"{settings.REDIS_KEY_PREFIX}x_rate_limit:users/:id/likes:42"
    assert get_redis().hgetall(key) == {"remaining": "7", "reset": str(reset)}


def test_tokens_never_reach_logs_or_errors(client, x, caplog):
    caplog.set_level(logging.DEBUG)
    x.get("/users/me").mock(side_effect=httpx.ConnectError("refused"))
    x.post("/oauth2/token").mock(
        return_value=httpx.Response(400, json={"error": "invalid_request"})
    )

    with pytest.raises(XTransportError) as transport_error:
        client.get_me(TOKEN)
    with pytest.raises(XOAuthError) as oauth_error:
        client.refresh_token(TOKEN)

    for error in (transport_error.value, oauth_error.value):
        assert TOKEN not in repr(error) and TOKEN not in str(error)
    assert TOKEN not in caplog.text
    assert "client-secret" not in caplog.text
    assert TOKEN not in repr(client)
