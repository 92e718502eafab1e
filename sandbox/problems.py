"""X's error bodies, word for word, and the exception that carries them out."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

PROBLEMS = "https://api.twitter.com/2/problems"


class ApiError(Exception):
    """Raised by a handler to answer with `status` and `body` instead of its result."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def unauthorized() -> dict[str, Any]:
    return {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }


def forbidden() -> dict[str, Any]:
    return {
        "title": "Forbidden",
        "type": "about:blank",
        "status": 403,
        "detail": "You are not permitted to perform this action.",
    }


def client_forbidden(client_id: str) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "detail": "Your client app is not permitted to perform this action on its "
        "current plan: liking posts through the API requires the Enterprise plan.",
        "registration_url": "https://developer.x.com/en/portal/products",
        "title": "Client Forbidden",
        "required_enrollment": "Enterprise",
        "reason": "client-not-enrolled",
        "type": f"{PROBLEMS}/client-forbidden",
    }


def too_many_requests() -> dict[str, Any]:
    return {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }


def usage_capped() -> dict[str, Any]:
    return {
        "title": "UsageCapExceeded",
        "detail": "Usage cap exceeded: Monthly product cap",
        "type": f"{PROBLEMS}/usage-capped",
        "period": "Monthly",
        "scope": "Product",
    }


def credits_depleted() -> dict[str, Any]:
    return {
        "title": "CreditsDepleted",
        "detail": "Your enrolled account does not have any credits to fulfill this "
        "request.",
        "type": f"{PROBLEMS}/credits-depleted",
        "status": 402,
    }


def server_error(status: int) -> dict[str, Any]:
    titles = {
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }
    title = titles.get(status, "Error")
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


def invalid_request(parameter: str, value: str, message: str) -> dict[str, Any]:
    return {
        "errors": [
            {
                "parameters": {parameter: [value]},
                "parameter": parameter,
                "message": message,
            }
        ],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": f"{PROBLEMS}/invalid-request",
    }


def not_found_error(resource: str, parameter: str, value: str) -> dict[str, Any]:
    return {
        "value": value,
        "detail": f"Could not find {resource} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource,
        "parameter": parameter,
        "resource_id": value,
        "type": f"{PROBLEMS}/resource-not-found",
    }


def not_authorized_error(resource: str, parameter: str, value: str) -> dict[str, Any]:
    """A lookup of a post the caller may not see (its author is protected)."""
    return {
        "value": value,
        "detail": f"Sorry, you are not authorized to see the {resource.title()} with "
        f"{parameter}: [{value}].",
        "title": "Authorization Error",
        "resource_type": resource,
        "parameter": parameter,
        "resource_id": value,
        "section": "data",
        "type": f"{PROBLEMS}/not-authorized-for-resource",
    }


def route_not_found() -> dict[str, Any]:
    return {
        "errors": [{"message": "Sorry, that page does not exist", "code": 34}],
    }


def default_api_body(status: int) -> dict[str, Any]:
    """The body X sends with `status` when nothing more specific applies."""
    if status == 400:
        return invalid_request("", "", "Bad request")
    if status == 401:
        return unauthorized()
    if status == 402:
        return credits_depleted()
    if status == 403:
        return forbidden()
    if status == 429:
        return too_many_requests()
    if status >= 500:
        return server_error(status)
    return {
        "title": "Error",
        "detail": "Error",
        "type": "about:blank",
        "status": status,
    }


def default_minter_body(status: int) -> dict[str, Any]:
    """The minter service's body for `status` (ORIGINAL-NOTES.md)."""
    if status == 401:
        return {"error": "Missing or invalid authorization header"}
    if status == 403:
        return {"error": "Invalid API secret"}
    if status == 400:
        return {"error": "amount must be a positive number"}
    if status == 500:
        return {
            "error": "Failed to mint tokens",
            "details": "transaction underpriced: insufficient funds for gas",
        }
    return {"error": f"HTTP {status}"}


def minter_fault_body(status: int) -> dict[str, Any] | str:
    """An injected minter answer: a proxy in front of the service answers 502 and
    504 with its own HTML page; everything else is the service's JSON."""
    if status in (502, 504):
        reason = "Bad Gateway" if status == 502 else "Gateway Time-out"
        return (
            f"<html><head><title>{status} {reason}</title></head><body>"
            f"<center><h1>{status} {reason}</h1></center><hr><center>nginx</center>"
            "</body></html>"
        )
    return default_minter_body(status)


def oauth_error(description: str, *, error: str = "invalid_request") -> dict[str, str]:
    return {"error": error, "error_description": description}
