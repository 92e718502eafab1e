"""Injected faults: the next N calls of one route answer something other than normal.

Kinds:
- `status`: answer `status` with `body` (X's or the minter's body for that status
  when none is given).
- `hang`: hold the request for `seconds`, past the client's timeout.
- `drop`: send the status line and headers, part of the body, then close the socket.

`when` says whether the route's action (a retweet, a like, a mint) happens:
- `before` (default for `status` and `hang`): the fault strikes before the action.
  A `status` fault answers without acting. A `hang` holds the request; if the client
  gives up meanwhile, the action never happens; if it is still waiting when the hang
  ends, the request is then handled normally (a slow server).
- `after` (default for `drop`): the action happens first, then the fault shapes the
  answer: the injected status instead of the real one, a late answer, or a cut one.
  This is "outcome unknown" for the client: the action took effect but it never got
  (or could not read) the answer.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("status", "hang", "drop")
WHENS = ("before", "after")


class FaultError(ValueError):
    pass


@dataclass
class Fault:
    id: int
    method: str
    route: str
    kind: str
    when: str
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    # Calls still to be answered by this fault; None means until cleared.
    remaining: int | None = 1
    hits: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultRegistry:
    def __init__(self) -> None:
        self._faults: dict[tuple[str, str], list[Fault]] = {}
        self._ids = itertools.count(1)

    def add(self, spec: dict[str, Any], *, known_routes: set[tuple[str, str]]) -> Fault:
        fault = _parse(spec, next(self._ids))
        if (fault.method, fault.route) not in known_routes:
            raise FaultError(
                f"no route {fault.method} {fault.route}; see GET /_control/routes"
            )
        self._faults.setdefault((fault.method, fault.route), []).append(fault)
        return fault

    def take(self, method: str, route: str) -> Fault | None:
        """The fault that answers this call, if any, counting the call against it."""
        queue = self._faults.get((method, route))
        if not queue:
            return None
        fault = queue[0]
        fault.hits += 1
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    def pending(self) -> list[Fault]:
        return [fault for queue in self._faults.values() for fault in queue]


def _parse(spec: dict[str, Any], fault_id: int) -> Fault:
    method, route = _method_and_route(spec)
    kind = spec.get("kind") or _infer_kind(spec)
    if kind not in KINDS:
        raise FaultError(f"kind must be one of {', '.join(KINDS)}")
    when = spec.get("when") or ("after" if kind == "drop" else "before")
    if when not in WHENS:
        raise FaultError("when must be 'before' or 'after'")
    status = spec.get("status")
    if kind == "status" and not (isinstance(status, int) and 100 <= status <= 599):
        raise FaultError("a status fault needs an HTTP status (100-599)")
    seconds = spec.get("seconds", 0)
    if kind == "hang" and not (isinstance(seconds, int | float) and seconds > 0):
        raise FaultError("a hang needs seconds > 0")
    times = spec.get("times", 1)
    if times is not None and not (isinstance(times, int) and times > 0):
        raise FaultError("times must be a positive integer or null (until cleared)")
    headers = spec.get("headers") or {}
    if not isinstance(headers, dict):
        raise FaultError("headers must be an object")
    return Fault(
        id=fault_id,
        method=method,
        route=route,
        kind=kind,
        when=when,
        status=status,
        body=spec.get("body"),
        headers={str(k): str(v) for k, v in headers.items()},
        seconds=float(seconds),
        remaining=times,
    )


def _method_and_route(spec: dict[str, Any]) -> tuple[str, str]:
    route = str(spec.get("route", "")).strip()
    method = str(spec.get("method", "")).strip().upper()
    if " " in route:
        # "POST /2/users/:id/retweets" in one field.
        method, route = route.split(None, 1)
        method = method.upper()
    if not method or not route:
        raise FaultError("give method and route, e.g. 'POST /2/users/:id/retweets'")
    return method, normalise_route(route)


def normalise_route(route: str) -> str:
    """`/2/users/{id}/retweets` and `/2/users/:id/retweets` name the same route."""
    parts = []
    for part in route.strip().rstrip("/").split("/"):
        if part.startswith("{") and part.endswith("}"):
            part = ":" + part[1:-1]
        parts.append(part)
    return "/".join(parts)


def _infer_kind(spec: dict[str, Any]) -> str:
    if spec.get("seconds") is not None and spec.get("status") is None:
        return "hang"
    return "status"
