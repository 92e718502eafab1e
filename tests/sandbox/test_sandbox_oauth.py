from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.testing import CLIENT_ID, CLIENT_SECRET, SCOPES, Sandbox, pkce_pair

INVALID_CODE = {
    "error": "invalid_request",
    "error_description": "Value passed for the authorization code was invalid.",
}
INVALID_TOKEN = {
    "error": "invalid_request",
    "error_description": "Value passed for the token was invalid.",
}
MISSING_AUTH = {
    "error": "unauthorized_client",
    "error_description": "Missing valid authorization header",
}


def authorize_params(sandbox: Sandbox, challenge: str, **changes: str) -> dict:
    params = {
        "response_type": "code",
        "client_id": sandbox.client_id,
        "redirect_uri": sandbox.callback_url,
        "scope": " ".join(SCOPES),
        "state": "state-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


def get_code(sandbox: Sandbox, **changes: str) -> tuple[str, str]:
    """A fresh authorization code for the reader, and its PKCE verifier."""
    verifier, challenge = pkce_pair()
    url = httpx.URL(sandbox.authorize_url, params=authorize_params(sandbox, challenge))
    location = sandbox.authorize(str(url), account="reader")
    return parse_qs(urlsplit(location).query)["code"][0], verifier


REGISTERED = ("registered", "credentials")


def exchange(
    sandbox: Sandbox,
    code: str,
    verifier: str,
    *,
    auth: Any = REGISTERED,
    **changes: str,
):
    """The code exchange, with the sandbox's registered credentials unless `auth`
    says otherwise (None: no Authorization header)."""
    data = {
        "code": code,
        "grant_type": "authorization_code",
        "redirect_uri": sandbox.callback_url,
        "code_verifier": verifier,
        **changes,
    }
    if auth is REGISTERED:
        auth = (sandbox.client_id, sandbox.client_secret)
    return sandbox.http.post(sandbox.token_url, data=data, auth=auth)


def refresh(sandbox: Sandbox, refresh_token: str) -> httpx.Response:
    return sandbox.http.post(
        sandbox.token_url,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(sandbox.client_id, sandbox.client_secret),
    )


def me(sandbox: Sandbox, access_token: str) -> httpx.Response:
    return sandbox.http.get(
        f"{sandbox.api_base}/users/me",
        headers={"Authorization": f"Bearer {access_token}"},
    )


def test_consent_page_names_the_app_the_scopes_and_the_accounts(sandbox):
    _, challenge = pkce_pair()
    page = sandbox.http.get(
        sandbox.authorize_url, params=authorize_params(sandbox, challenge)
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Blockster wants to access your X account" in html
    assert "Like and unlike posts for you." in html
    assert "Stay connected to your account until you revoke access." in html
    for name in ("Fresh Start", "Quiet Observer", "Dana Reader", "Mo | Chain Builder"):
        assert name in html
    assert "Crypto Queen" in html
    assert "BlocksterCom" not in html
    assert "Authorize app" in html and "Cancel" in html


def test_consent_page_preselects_the_ordinary_reader(sandbox):
    _, challenge = pkce_pair()
    html = sandbox.http.get(
        sandbox.authorize_url, params=authorize_params(sandbox, challenge)
    ).text

    checked = re.findall(
        r"<input type='radio' name='account' value='(\w+)' checked>", html
    )
    # Pressing Authorize straight away signs in as @danareadscrypto (score 25),
    # not the brand-new account (score 1).
    assert checked == ["reader"]


def test_consent_page_escapes_what_the_client_sent(sandbox):
    _, challenge = pkce_pair()
    params = authorize_params(sandbox, challenge, state="<script>alert(1)</script>")
    html = sandbox.http.get(sandbox.authorize_url, params=params).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"client_id": "someone-else"}, "client_id"),
        ({"redirect_uri": "http://testserver/auth/x/callback/"}, "redirect_uri"),
        ({"redirect_uri": "https://evil.example/callback"}, "redirect_uri"),
        ({"response_type": "token"}, "response_type"),
        ({"scope": ""}, "scope"),
        ({"scope": "tweet.read offline_access"}, "offline.access"),
        ({"state": None}, "state"),
        ({"state": "x" * 501}, "state"),
        ({"code_challenge_method": "plain"}, "plain"),
        ({"code_challenge_method": None}, "S256"),
        ({"code_challenge": None}, "code_challenge"),
        ({"code_challenge": "too-short"}, "code_challenge"),
    ],
)
def test_bad_authorize_parameters_show_an_error_page_not_a_redirect(
    sandbox, changes, reason
):
    _, challenge = pkce_pair()
    params = authorize_params(sandbox, challenge, **changes)
    for answer in (
        sandbox.http.get(sandbox.authorize_url, params=params),
        sandbox.http.post(sandbox.authorize_url, data={**params, "account": "reader"}),
    ):
        assert answer.status_code == 400
        assert "location" not in answer.headers
        assert answer.headers["content-type"].startswith("text/html")
        assert reason in answer.text


def test_cancel_redirects_with_access_denied_and_the_state(sandbox):
    _, challenge = pkce_pair()
    url = httpx.URL(sandbox.authorize_url, params=authorize_params(sandbox, challenge))
    location = sandbox.authorize(str(url), cancel=True)
    assert location.startswith(sandbox.callback_url + "?")
    assert parse_qs(urlsplit(location).query) == {
        "error": ["access_denied"],
        "state": ["state-123"],
    }


def test_authorize_redirects_with_state_and_code(sandbox):
    _, challenge = pkce_pair()
    url = httpx.URL(sandbox.authorize_url, params=authorize_params(sandbox, challenge))
    query = parse_qs(urlsplit(sandbox.authorize(str(url))).query)
    assert query["state"] == ["state-123"]
    assert len(query["code"][0]) > 40


def test_code_exchange_returns_xs_token_response(sandbox):
    code, verifier = get_code(sandbox)
    answer = exchange(sandbox, code, verifier)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 7200
    assert body["scope"] == " ".join(SCOPES)
    assert body["access_token"] and body["refresh_token"]
    assert me(sandbox, body["access_token"]).json()["data"]["username"] == (
        "danareadscrypto"
    )


def test_wrong_verifier_is_refused(sandbox):
    code, _ = get_code(sandbox)
    other_verifier, _ = pkce_pair()
    answer = exchange(sandbox, code, other_verifier)
    assert answer.status_code == 400
    assert answer.json() == INVALID_CODE


def test_code_is_single_use(sandbox):
    code, verifier = get_code(sandbox)
    assert exchange(sandbox, code, verifier).status_code == 200
    again = exchange(sandbox, code, verifier)
    assert again.status_code == 400
    assert again.json() == INVALID_CODE


def test_a_failed_exchange_burns_the_code(sandbox):
    code, verifier = get_code(sandbox)
    wrong, _ = pkce_pair()
    assert exchange(sandbox, code, wrong).status_code == 400
    assert exchange(sandbox, code, verifier).json() == INVALID_CODE


def test_code_older_than_its_lifetime_is_refused(sandbox):
    code, verifier = get_code(sandbox)
    sandbox.advance_clock(31)
    answer = exchange(sandbox, code, verifier)
    assert answer.status_code == 400
    assert answer.json() == INVALID_CODE


def test_code_lifetime_is_configurable(sandbox):
    sandbox.configure(code_ttl=5)
    code, verifier = get_code(sandbox)
    sandbox.advance_clock(6)
    assert exchange(sandbox, code, verifier).json() == INVALID_CODE


def test_code_within_its_lifetime_is_accepted(sandbox):
    code, verifier = get_code(sandbox)
    sandbox.advance_clock(25)
    assert exchange(sandbox, code, verifier).status_code == 200


def test_redirect_uri_must_match_the_authorize_request(sandbox):
    code, verifier = get_code(sandbox)
    answer = exchange(
        sandbox, code, verifier, redirect_uri="http://testserver/elsewhere"
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "auth",
    [None, (CLIENT_ID, "wrong-secret"), ("someone", CLIENT_SECRET)],
)
def test_token_endpoint_requires_basic_auth(sandbox, auth):
    code, verifier = get_code(sandbox)
    answer = exchange(sandbox, code, verifier, auth=auth)
    assert answer.status_code == 401
    assert answer.json() == MISSING_AUTH
    # The code was not spent by an unauthenticated call.
    assert exchange(sandbox, code, verifier).status_code == 200


def test_missing_parameters_are_named(sandbox):
    code, _ = get_code(sandbox)
    answer = exchange(sandbox, code, "")
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_request",
        "error_description": "Missing required parameter [code_verifier].",
    }


def test_refresh_rotates_and_the_old_refresh_token_dies(sandbox):
    first = sandbox.connect("reader")
    rotated = refresh(sandbox, first["refresh_token"])
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert me(sandbox, second["access_token"]).status_code == 200

    third = refresh(sandbox, second["refresh_token"])
    assert third.status_code == 200
    assert refresh(sandbox, second["refresh_token"]).json() == INVALID_TOKEN


def test_reusing_a_rotated_refresh_token_revokes_the_whole_grant(sandbox):
    first = sandbox.connect("reader")
    second = refresh(sandbox, first["refresh_token"]).json()
    other_grant = sandbox.connect("reader")

    reused = refresh(sandbox, first["refresh_token"])

    assert reused.status_code == 400
    assert reused.json() == INVALID_TOKEN
    # Every token of the grant is dead, the newest pair included...
    assert me(sandbox, second["access_token"]).status_code == 401
    assert refresh(sandbox, second["refresh_token"]).json() == INVALID_TOKEN
    assert me(sandbox, first["access_token"]).status_code == 401
    # ...and another grant of the same account is untouched.
    assert me(sandbox, other_grant["access_token"]).status_code == 200
    assert refresh(sandbox, other_grant["refresh_token"]).status_code == 200


def test_refresh_requires_basic_auth(sandbox):
    tokens = sandbox.connect("reader")
    answer = sandbox.http.post(
        sandbox.token_url,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert answer.status_code == 401
    assert answer.json() == MISSING_AUTH


def test_no_refresh_token_without_offline_access(sandbox):
    tokens = sandbox.connect("reader", scopes=["tweet.read", "users.read"])
    assert "refresh_token" not in tokens
    assert tokens["scope"] == "tweet.read users.read"


def test_expired_access_token_is_refused(sandbox):
    tokens = sandbox.connect("reader")
    sandbox.advance_clock(7201)  # past the access token's two hours
    answer = me(sandbox, tokens["access_token"])
    assert answer.status_code == 401
    assert answer.json() == {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }
    # The refresh token still works and brings a live access token.
    renewed = refresh(sandbox, tokens["refresh_token"]).json()
    assert me(sandbox, renewed["access_token"]).status_code == 200


def test_access_token_expires_after_the_configured_lifetime(sandbox):
    sandbox.configure(access_token_ttl=60)
    tokens = sandbox.connect("reader")
    assert tokens["expires_in"] == 60
    assert me(sandbox, tokens["access_token"]).status_code == 200
    sandbox.advance_clock(61)
    assert me(sandbox, tokens["access_token"]).status_code == 401


def test_revoked_access_token_is_refused(sandbox):
    tokens = sandbox.connect("reader")
    answer = sandbox.http.post(
        sandbox.revoke_url,
        data={"token": tokens["access_token"], "token_type_hint": "access_token"},
        auth=(sandbox.client_id, sandbox.client_secret),
    )
    assert answer.status_code == 200
    assert answer.json() == {"revoked": True}
    assert me(sandbox, tokens["access_token"]).status_code == 401


def test_revoked_refresh_token_is_refused(sandbox):
    tokens = sandbox.connect("reader")
    sandbox.http.post(
        sandbox.revoke_url,
        data={"token": tokens["refresh_token"]},
        auth=(sandbox.client_id, sandbox.client_secret),
    )
    assert refresh(sandbox, tokens["refresh_token"]).json() == INVALID_TOKEN


def test_revoke_requires_basic_auth(sandbox):
    tokens = sandbox.connect("reader")
    answer = sandbox.http.post(
        sandbox.revoke_url, data={"token": tokens["access_token"]}
    )
    assert answer.status_code == 401
    assert answer.json() == MISSING_AUTH
    assert me(sandbox, tokens["access_token"]).status_code == 200


def test_tokens_never_leave_the_sandbox_through_control_or_state_file(
    sandbox, sandbox_server
):
    tokens = sandbox.connect("reader")
    sandbox.http.post("/_control/save")
    everything = sandbox.http.get("/_control/state").text
    on_disk = sandbox_server.state_file.read_text()
    for secret in (tokens["access_token"], tokens["refresh_token"]):
        assert secret not in everything
        assert secret not in on_disk
    views = sandbox.tokens()
    assert {v["kind"] for v in views} == {"access", "refresh"}
    assert all(v["username"] == "danareadscrypto" for v in views)
