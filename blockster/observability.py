"""Request ids, structured logs, and the guards that keep secrets out of them."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, ItemsView
from contextvars import ContextVar
from types import FrameType
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.views.debug import SafeExceptionReporterFilter

request_id: ContextVar[str] = ContextVar("request_id", default="-")

# Anything shaped like a credential, in case one ever reaches a log message.
_SECRETS = re.compile(
    r"(?i)(bearer\s+|basic\s+|(?:access|refresh)_token[\"'=:\s]+|code_verifier[\"'=:\s]+)"
    r"[A-Za-z0-9._~+/=-]{8,}"
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def redact(text: str) -> str:
    return _SECRETS.sub(lambda match: match.group(1) + "[redacted]", text)


class RequestIdMiddleware:
    """Tag each request with an id (the proxy's X-Request-ID when it is sane), echo it
    in the response, and make every log line of the request carry it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        incoming = request.headers.get("X-Request-ID", "")
        value = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(value)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = value
        return response


class ContextFilter(logging.Filter):
    """Adds the request id to every record and redacts credential-shaped text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


# Local variable names whose values are credentials, wherever they appear.
_SENSITIVE_NAMES = re.compile(
    r"token|secret|verifier|password|authorization|^code$|^auth$|^headers$|^form$",
    flags=re.IGNORECASE,
)


class SensitiveSettingsFilter(SafeExceptionReporterFilter):
    """Error reports hide connection URLs (they can carry passwords) and any local
    variable named like a credential, on top of Django's @sensitive_variables."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|_URL$|LOCATION|DATABASES",
        flags=re.IGNORECASE,
    )

    def get_traceback_frame_variables(
        self, request: HttpRequest | None, tb_frame: FrameType
    ) -> ItemsView[str, Any]:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return {
            name: self.cleansed_substitute if _SENSITIVE_NAMES.search(name) else value
            for name, value in variables
        }.items()
