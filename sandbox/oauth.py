"""OAuth 2.0 authorization code flow with PKCE, as X runs it for confidential clients.

Stricter than X where X is lax, so client bugs show up here first: only S256 PKCE,
unknown scopes refused, and any exchange attempt burns the code (never retry one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from sandbox import pages
from sandbox.config import SCOPE_WORDS
from sandbox.core import Ctx, RouteSpec
from sandbox.problems import oauth_error
from sandbox.seed import TYPICAL_ACCOUNT
from sandbox.state import AuthCode, Token, digest

AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")

INVALID_CODE = "Value passed for the authorization code was invalid."
INVALID_TOKEN = "Value passed for the token was invalid."


class AuthorizeError(ValueError):
    pass


def _form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def validate_authorize(ctx: Ctx, params: Mapping[str, str]) -> list[str]:
    """The requested scopes, once every parameter checks out."""
    if params.get("client_id") != ctx.sandbox.config.client_id:
        raise AuthorizeError("Unknown client_id: this app is not registered.")
    if params.get("redirect_uri") not in ctx.runtime.callback_urls:
        raise AuthorizeError(
            "redirect_uri does not exactly match a callback URL registered for "
            "this app."
        )
    if params.get("response_type") != "code":
        raise AuthorizeError("response_type must be code.")
    scopes = params.get("scope", "").split()
    if not scopes:
        raise AuthorizeError("scope is required.")
    unknown = [s for s in scopes if s not in SCOPE_WORDS]
    if unknown:
        hint = " (did you mean offline.access?)" if "offline_access" in unknown else ""
        raise AuthorizeError(f"Unknown scope: {', '.join(unknown)}{hint}.")
    if not 1 <= len(params.get("state", "")) <= 500:
        raise AuthorizeError("state is required (up to 500 characters).")
    if params.get("code_challenge_method") != "S256":
        raise AuthorizeError(
            "code_challenge_method must be S256 (plain is refused by this sandbox)."
        )
    if not CHALLENGE.match(params.get("code_challenge", "")):
        raise AuthorizeError(
            "code_challenge must be the unpadded base64url SHA-256 of the verifier."
        )
    return list(dict.fromkeys(scopes))


async def authorize_page(ctx: Ctx) -> Response:
    params = dict(ctx.request.query_params)
    try:
        scopes = validate_authorize(ctx, params)
    except AuthorizeError as error:
        return HTMLResponse(pages.error_page(str(error)), status_code=400)
    selectable = [a for a in ctx.state.accounts.values() if a.selectable]
    html = pages.consent_page(
        app_name=ctx.sandbox.config.app_name,
        scopes=scopes,
        accounts=selectable,
        params={k: params[k] for k in AUTHORIZE_PARAMS},
        preselected=TYPICAL_ACCOUNT,
    )
    return HTMLResponse(html)


async def authorize_decision(ctx: Ctx) -> Response:
    form = _form(await ctx.request.body())
    try:
        scopes = validate_authorize(ctx, form)
    except AuthorizeError as error:
        return HTMLResponse(pages.error_page(str(error)), status_code=400)
    redirect_uri, state = form["redirect_uri"], form["state"]
    if form.get("decision") == "cancel":
        return _redirect(redirect_uri, {"error": "access_denied", "state": state})
    account = ctx.state.account(form.get("account", ""))
    if account is None or not account.selectable:
        return HTMLResponse(pages.error_page("Choose an account."), status_code=400)
    code = secrets.token_urlsafe(48)
    ctx.state.codes[digest(code)] = AuthCode(
        client_id=form["client_id"],
        redirect_uri=redirect_uri,
        scopes=scopes,
        code_challenge=form["code_challenge"],
        user_id=account.id,
        issued_at=ctx.now(),
    )
    ctx.user_id = account.id
    return _redirect(redirect_uri, {"state": state, "code": code})


def _redirect(uri: str, params: dict[str, str]) -> RedirectResponse:
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=302)


# --- Token endpoint -------------------------------------------------------------------


def _client_authenticated(ctx: Ctx) -> bool:
    scheme, _, value = ctx.request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        client_id, _, secret = (
            base64.b64decode(value, validate=True).decode().partition(":")
        )
    except ValueError:
        return False
    config = ctx.sandbox.config
    return hmac.compare_digest(client_id, config.client_id) and hmac.compare_digest(
        secret, config.client_secret
    )


def _unauthorized_client() -> JSONResponse:
    return JSONResponse(
        oauth_error("Missing valid authorization header", error="unauthorized_client"),
        status_code=401,
    )


def _bad(description: str) -> JSONResponse:
    return JSONResponse(oauth_error(description), status_code=400)


def _missing(form: dict[str, str], *names: str) -> JSONResponse | None:
    for name in names:
        if not form.get(name):
            return _bad(f"Missing required parameter [{name}].")
    return None


async def token(ctx: Ctx) -> Response:
    if not _client_authenticated(ctx):
        return _unauthorized_client()
    form = _form(await ctx.request.body())
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        return _exchange_code(ctx, form)
    if grant_type == "refresh_token":
        return _refresh(ctx, form)
    if not grant_type:
        return _bad("Missing required parameter [grant_type].")
    return _bad("Value passed for the grant type was invalid.")


def _exchange_code(ctx: Ctx, form: dict[str, str]) -> Response:
    missing = _missing(form, "code", "redirect_uri", "code_verifier")
    if missing is not None:
        return missing
    code = ctx.state.codes.get(digest(form["code"]))
    if code is None or code.used or code.client_id != ctx.sandbox.config.client_id:
        return _bad(INVALID_CODE)
    # Burnt by the first attempt, whatever its outcome: codes are single-use.
    code.used = True
    if ctx.now() - code.issued_at > ctx.runtime.code_ttl:
        return _bad(INVALID_CODE)
    if form["redirect_uri"] != code.redirect_uri:
        return _bad("Value passed for the redirect uri was invalid.")
    verifier = form["code_verifier"]
    if not VERIFIER.match(verifier) or not hmac.compare_digest(
        s256(verifier), code.code_challenge
    ):
        return _bad(INVALID_CODE)
    ctx.user_id = code.user_id
    return _issue_tokens(ctx, code.user_id, code.scopes, grant_id=uuid.uuid4().hex)


def _refresh(ctx: Ctx, form: dict[str, str]) -> Response:
    missing = _missing(form, "refresh_token")
    if missing is not None:
        return missing
    old = ctx.state.tokens.get(digest(form["refresh_token"]))
    if _is_replayed_refresh_token(ctx, old):
        assert old is not None
        # RFC 9700 §4.14.2: a rotated refresh token presented again means two
        # parties hold the grant; which one is the thief cannot be told, so the
        # whole grant dies and the legitimate client must ask for consent again.
        _revoke_grant(ctx, old.grant_id)
        ctx.user_id = old.user_id
        return _bad(INVALID_TOKEN)
    if not _usable_refresh_token(ctx, old):
        return _bad(INVALID_TOKEN)
    assert old is not None
    # Rotation: the presented refresh token dies here, its successor comes back.
    old.used = True
    ctx.user_id = old.user_id
    return _issue_tokens(ctx, old.user_id, old.scopes, grant_id=old.grant_id)


def _is_replayed_refresh_token(ctx: Ctx, token: Token | None) -> bool:
    return (
        token is not None
        and token.kind == "refresh"
        and token.used
        and token.client_id == ctx.sandbox.config.client_id
    )


def _revoke_grant(ctx: Ctx, grant_id: str) -> None:
    for token in ctx.state.tokens.values():
        if token.grant_id == grant_id:
            token.revoked = True


def _usable_refresh_token(ctx: Ctx, token: Token | None) -> bool:
    return (
        token is not None
        and token.kind == "refresh"
        and not token.used
        and not token.revoked
        and token.client_id == ctx.sandbox.config.client_id
        and (token.expires_at is None or token.expires_at > ctx.now())
    )


def _issue_tokens(
    ctx: Ctx, user_id: str, scopes: list[str], *, grant_id: str
) -> JSONResponse:
    now, ttl = ctx.now(), ctx.runtime.access_token_ttl
    access = _new_token(ctx, "access", grant_id, user_id, scopes, now, now + ttl)
    body = {
        "token_type": "bearer",
        "expires_in": ttl,
        "access_token": access,
        "scope": " ".join(scopes),
    }
    # Like X: no refresh token without the offline.access scope.
    if "offline.access" in scopes:
        refresh = _new_token(ctx, "refresh", grant_id, user_id, scopes, now, None)
        body["refresh_token"] = refresh
    return JSONResponse(body, headers={"cache-control": "no-store"})


def _new_token(
    ctx: Ctx,
    kind: str,
    grant_id: str,
    user_id: str,
    scopes: list[str],
    now: float,
    expires_at: float | None,
) -> str:
    """A new token, kept only as its digest."""
    token = secrets.token_urlsafe(64)
    client_id = ctx.sandbox.config.client_id
    ctx.state.tokens[digest(token)] = Token(
        kind, grant_id, user_id, client_id, scopes, now, expires_at
    )
    return token


async def revoke(ctx: Ctx) -> Response:
    if not _client_authenticated(ctx):
        return _unauthorized_client()
    form = _form(await ctx.request.body())
    missing = _missing(form, "token")
    if missing is not None:
        return missing
    record = ctx.state.tokens.get(digest(form["token"]))
    # Unknown tokens are answered the same way (RFC 7009): nothing to learn here.
    if record is not None and record.client_id == ctx.sandbox.config.client_id:
        record.revoked = True
        ctx.user_id = record.user_id
    return JSONResponse({"revoked": True})


def s256(verifier: str) -> str:
    digest_bytes = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest_bytes).decode().rstrip("=")


ROUTES = [
    RouteSpec("GET", "/i/oauth2/authorize", authorize_page, "oauth"),
    RouteSpec("POST", "/i/oauth2/authorize", authorize_decision, "oauth"),
    RouteSpec("POST", "/2/oauth2/token", token, "oauth"),
    RouteSpec("POST", "/2/oauth2/revoke", revoke, "oauth"),
]
