"""The sandbox ASGI app: routing, fault injection, rate-limit headers, request log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sandbox import api, control, minter, oauth, pages, problems
from sandbox.config import SandboxConfig
from sandbox.core import Ctx, RouteSpec, Sandbox
from sandbox.faults import Fault
from sandbox.state import EndpointTotal, RequestRecord
from sandbox.store import Store

logger = logging.getLogger("sandbox")

# nginx's code for "the client closed the connection before the answer".
CLIENT_GONE = 499


class ConnectionDropped(Exception):
    """Raised after a partial answer: the server then closes the socket."""


class DroppedResponse(Response):
    """Sends the status line, the headers and half the body, then aborts."""

    def __init__(self, inner: Response) -> None:
        self.inner = inner
        self.status_code = inner.status_code
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.inner.body
        await send(
            {
                "type": "http.response.start",
                "status": self.inner.status_code,
                "headers": self.inner.raw_headers,
            }
        )
        await send(
            {
                "type": "http.response.body",
                "body": body[: len(body) // 2],
                "more_body": True,
            }
        )
        raise ConnectionDropped


class _HideDroppedConnections(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


async def _pages_index(ctx: Ctx) -> Response:
    accounts = ctx.state.accounts.values()
    return HTMLResponse(pages.index_page(accounts, ctx.sandbox.config.public_url))


async def _avatar(ctx: Ctx) -> Response:
    account = ctx.state.accounts.get(ctx.param("file").removesuffix(".svg"))
    if account is None:
        return Response(status_code=404)
    return Response(pages.avatar_svg(account), media_type="image/svg+xml")


PAGE_ROUTES = [
    RouteSpec("GET", "/", _pages_index, "page"),
    RouteSpec("GET", "/avatars/:file", _avatar, "page"),
]


def all_routes() -> list[RouteSpec]:
    return [
        *oauth.ROUTES,
        *api.ROUTES,
        *minter.ROUTES,
        *control.ROUTES,
        *PAGE_ROUTES,
    ]


def create_app(config: SandboxConfig) -> Starlette:
    sandbox = Sandbox(config=config, store=Store(config), routes=all_routes())
    logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sandbox.store.start()
        try:
            yield
        finally:
            await sandbox.store.stop()

    routes = [
        Route(spec.starlette_path, _endpoint(sandbox, spec), methods=[spec.method])
        for spec in sandbox.routes
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _not_allowed},
    )
    app.state.sandbox = sandbox
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse(problems.route_not_found(), status_code=404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        {"title": "Method Not Allowed", "type": "about:blank", "status": 405},
        status_code=405,
        headers=exc.headers,
    )


def _endpoint(sandbox: Sandbox, spec: RouteSpec) -> Any:
    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        ctx = Ctx(sandbox=sandbox, request=request, spec=spec)
        response = await _respond(ctx)
        _finish(ctx, response, started)
        return response

    return endpoint


async def _respond(ctx: Ctx) -> Response:
    credits = ctx.runtime.credits_micros
    if ctx.spec.group == "api" and credits is not None and credits <= 0:
        ctx.fault = "credits"
        return JSONResponse(problems.default_api_body(402), status_code=402)
    fault = None
    if ctx.spec.group not in ("control", "page"):
        fault = ctx.sandbox.faults.take(ctx.spec.method, ctx.spec.route)
    if fault is None:
        return await _handle(ctx)
    ctx.fault = fault.kind
    # Read the body now, so that a hang can notice the client hanging up.
    await ctx.request.body()
    if fault.when == "before":
        if fault.kind == "status":
            return _injected(ctx, fault)
        if fault.kind == "drop":
            return DroppedResponse(JSONResponse({"data": {}}))
        if await _client_left_within(ctx.request, fault.seconds):
            return Response(status_code=CLIENT_GONE)
        return await _handle(ctx)
    response = await _handle(ctx)
    if fault.kind == "status":
        return _injected(ctx, fault)
    if fault.kind == "drop":
        return DroppedResponse(response)
    if await _client_left_within(ctx.request, fault.seconds):
        return Response(status_code=CLIENT_GONE)
    return response


async def _handle(ctx: Ctx) -> Response:
    try:
        return await ctx.spec.handler(ctx)
    except problems.ApiError as error:
        return error.response()


def _injected(ctx: Ctx, fault: Fault) -> Response:
    status = fault.status or 500
    body = fault.body
    if body is None:
        if ctx.spec.group == "minter":
            body = problems.minter_fault_body(status)
        else:
            body = problems.default_api_body(status)
    headers = dict(fault.headers)
    if ctx.spec.group == "api" and status == 429:
        headers.setdefault("x-rate-limit-remaining", "0")
    if isinstance(body, str):
        media_type = "text/html" if body.startswith("<") else "text/plain"
        return Response(
            body, status_code=status, headers=headers, media_type=media_type
        )
    return JSONResponse(body, status_code=status, headers=headers)


async def _client_left_within(request: Request, seconds: float) -> bool:
    """Wait up to `seconds`; True as soon as the client closes the connection."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnected(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def _finish(ctx: Ctx, response: Response, started: float) -> None:
    spec = ctx.spec
    target = response.inner if isinstance(response, DroppedResponse) else response
    if spec.group == "api":
        headers = ctx.rate_headers
        if headers is None:
            assert spec.endpoint is not None
            headers = ctx.sandbox.limiter.peek(ctx.runtime, spec.endpoint, ctx.now())
        for name, value in headers.items():
            target.headers.setdefault(name, value)
    if spec.group not in ("control", "page"):
        _record(ctx, response.status_code)
    if spec.group not in ("control", "page") or (
        spec.persists and spec.method != "GET"
    ):
        ctx.sandbox.store.changed()
    if ctx.sandbox.config.log_requests:
        logger.info(
            "%s %s %s %.1fms%s",
            spec.method,
            ctx.request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            f" fault={ctx.fault}" if ctx.fault else "",
        )


def _record(ctx: Ctx, status: int) -> None:
    # X bills what it returns: only a successful answer costs anything.
    cost = ctx.cost_micros if 200 <= status < 300 and ctx.fault != "drop" else 0
    route = f"{ctx.spec.method} {ctx.spec.route}"
    state = ctx.state
    state.request_log.append(
        RequestRecord(
            at=state.now(),
            method=ctx.spec.method,
            route=ctx.spec.route,
            path=ctx.request.url.path,
            status=status,
            user_id=ctx.user_id,
            cost_micros=cost,
            fault=ctx.fault,
        )
    )
    total = state.totals.setdefault(route, EndpointTotal())
    total.requests += 1
    total.cost_micros += cost
    if ctx.runtime.credits_micros is not None:
        ctx.runtime.credits_micros = max(ctx.runtime.credits_micros - cost, 0)
