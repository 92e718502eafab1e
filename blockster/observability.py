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
from urllib.parse import parse_qsl, urlencode

from django.http import HttpRequest, HttpResponseBase, QueryDict
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

request_id: ContextVar[str] = ContextVar("request_id", default="-")

# Anything shaped like a credential, in case one ever reaches a log message.
_SECRETS = re.compile(
    r"(?i)(bearer\s+|basic\s+|(?:access|refresh)_token[\"'=:\s]+|code_verifier[\"'=:\s]+)"
    r"[A-Za-z0-9._~+/=-]{8,}"
)
# The OAuth callback's code and state in a logged URL (an access log line, a referer),
# also percent-encoded inside another parameter.
_QUERY_SECRETS = re.compile(
    r"(?i)((?:[?&]|%3F|%26)(?:code|state)(?:=|%3D))(?:(?!%26)[^&\s\"'#])+"
)
# A request id from outside is used only when it is this: short, and safe in a header
# and a log line.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def redact(text: str) -> str:
    text = _SECRETS.sub(lambda match: match.group(1) + "[redacted]", text)
    return _QUERY_SECRETS.sub(lambda match: match.group(1) + "[redacted]", text)


class RequestIdMiddleware:
    """Tag each request with an id (the proxy's X-Request-ID when it is sane), echo it
    in the response, and make every log line of the request carry it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        incoming = request.headers.get("X-Request-ID", "")
        value = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
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
    r"token|secret|verifier|password|authorization|^code$|^state$|^auth$|^headers$"
    r"|^form$",
    flags=re.IGNORECASE,
)
# Query parameters masked in error reports: the OAuth callback's `code` and `state`,
# and anything named like a credential.
_SENSITIVE_QUERY_NAMES = re.compile(
    r"^(code|state)$|token|secret|verifier|password|signature|key", flags=re.IGNORECASE
)
# Values shorter than this are not hunted down elsewhere in a report: too common.
_MIN_HUNTED_LENGTH = 6


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
        hunted = self.sensitive_query_values(request)
        return {
            name: self.cleansed_substitute
            if _SENSITIVE_NAMES.search(name) or _shows_any(value, hunted)
            else value
            for name, value in variables
        }.items()

    def cleanse_special_types(self, request: HttpRequest | None, value: Any) -> Any:
        # A request's repr carries its full path, query string included.
        if isinstance(value, HttpRequest):
            return f"<{type(value).__name__}: {value.method} {self.safe_path(value)!r}>"
        if isinstance(value, QueryDict):
            return self.cleanse_query_dict(value)
        return super().cleanse_special_types(request, value)

    # --- the query string, wherever a report shows it ---------------------------------

    def cleanse_query_dict(self, query: QueryDict) -> QueryDict:
        cleansed = query.copy()
        for name in cleansed:
            if _SENSITIVE_QUERY_NAMES.search(name):
                cleansed.setlist(name, [self.cleansed_substitute])
        return cleansed

    def cleanse_query_string(self, query: str) -> str:
        pairs = parse_qsl(query, keep_blank_values=True)
        return urlencode(
            [
                (name, self.cleansed_substitute)
                if _SENSITIVE_QUERY_NAMES.search(name)
                else (name, value)
                for name, value in pairs
            ],
            safe="*",
        )

    def cleanse_url(self, url: str) -> str:
        head, mark, query = url.partition("?")
        if not mark:
            return url
        query, hash_mark, fragment = query.partition("#")
        return f"{head}?{self.cleanse_query_string(query)}{hash_mark}{fragment}"

    def safe_path(self, request: HttpRequest) -> str:
        return self.cleanse_url(request.get_full_path())

    def sensitive_query_values(self, request: HttpRequest | None) -> set[str]:
        """The values of the request's sensitive query parameters, to hunt down in
        anything else a report shows (a local variable, a header, the message)."""
        if request is None or not hasattr(request, "GET"):
            return set()
        return {
            value
            for name, values in request.GET.lists()
            if _SENSITIVE_QUERY_NAMES.search(name)
            for value in values
            if len(value) >= _MIN_HUNTED_LENGTH
        }

    def hide_values(self, text: str, hunted: set[str]) -> str:
        for value in hunted:
            text = text.replace(value, self.cleansed_substitute)
        return text

    def get_safe_request_meta(self, request: HttpRequest) -> dict[str, Any]:
        meta = super().get_safe_request_meta(request)
        hunted = self.sensitive_query_values(request)
        for name, value in meta.items():
            if not isinstance(value, str):
                continue
            if name == "QUERY_STRING":
                value = self.cleanse_query_string(value)
            elif "?" in value:  # RAW_URI, REQUEST_URI, HTTP_REFERER...
                value = self.cleanse_url(value)
            meta[name] = self.hide_values(value, hunted)
        return meta


def _shows_any(value: Any, hunted: set[str]) -> bool:
    if not hunted:
        return False
    try:
        text = repr(value)
    except Exception:  # a broken repr shows nothing either
        return False
    return any(secret in text for secret in hunted)


class SafeExceptionReporter(ExceptionReporter):
    """Error reports (the mail to ADMINS, the debug page) with the request's URL and
    GET parameters cleansed like its META: the OAuth callback's URL carries the
    authorization code and the state."""

    filter: SensitiveSettingsFilter

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if self.request is None:
            return data
        data["request_GET_items"] = self.filter.cleanse_query_dict(
            self.request.GET
        ).items()
        data["request_insecure_uri"] = self.filter.cleanse_url(
            data["request_insecure_uri"]
        )
        hunted = self.filter.sensitive_query_values(self.request)
        for key in ("exception_value", "exception_notes"):
            if isinstance(data.get(key), str):
                data[key] = self.filter.hide_values(data[key], hunted)
        return data
