"""What every handler shares: the server, the per-request context, route specs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.config import SandboxConfig
from sandbox.faults import FaultRegistry
from sandbox.ratelimit import RateLimiter
from sandbox.state import Runtime, SandboxState
from sandbox.store import Store


@dataclass
class Sandbox:
    config: SandboxConfig
    store: Store
    faults: FaultRegistry = field(default_factory=FaultRegistry)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    routes: list[RouteSpec] = field(default_factory=list)

    @property
    def state(self) -> SandboxState:
        return self.store.state


@dataclass
class Ctx:
    sandbox: Sandbox
    request: Request
    spec: RouteSpec
    # Filled in by the handler for the request log and the rate-limit headers.
    user_id: str | None = None
    rate_headers: dict[str, str] | None = None
    cost_micros: int = 0
    fault: str | None = None

    @property
    def state(self) -> SandboxState:
        return self.sandbox.store.state

    @property
    def runtime(self) -> Runtime:
        return self.sandbox.store.state.runtime

    def now(self) -> float:
        return self.state.now()

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    async def json(self) -> Any:
        """The JSON body, or None when it is missing or not JSON."""
        try:
            return json.loads(await self.request.body() or b"null")
        except ValueError:
            return None


Handler = Callable[[Ctx], Awaitable[Response]]


@dataclass(frozen=True)
class RouteSpec:
    method: str
    # X's notation (`/2/users/:id/retweets`); faults name routes this way.
    route: str
    handler: Handler
    # "oauth" | "api" | "minter" | "control" | "page"
    group: str
    # The rate-limit and pricing key of API routes.
    endpoint: str | None = None
    # Whether a call changes what the state file holds (faults and rate-limit
    # counters are not saved; a reset deletes the file).
    persists: bool = True

    @property
    def starlette_path(self) -> str:
        return "/".join(
            "{" + p[1:] + "}" if p.startswith(":") else p for p in self.route.split("/")
        )
