"""What a failed call to X raises: one typed error per kind of failure, each with the
message a reader sees (`user_message`) and whether a retry may help (`permanent`)."""

from __future__ import annotations

from datetime import UTC, datetime


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

    def __init__(self, detail: str, *, reset_at: datetime | None):
        super().__init__(detail, status=429)
        self.reset_at = reset_at

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


def is_already_retweeted(error: XApiError) -> bool:
    return any("already retweeted" in message.lower() for message in error.messages)
