"""Request lines in every log the product ships hide the OAuth callback's code and
state: gunicorn's access and error logs, and runserver's in development."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from blockster.serving import RedactingLogger, drop_untrusted_forwarding_headers

CODE, STATE = "Zm9vYmFyYmF6cXV4LWF1dGgtY29kZQ", "c3RhdGUtdmFsdWUtZm9yLXRlc3Q"
REQUEST_LINE = f"GET /auth/x/callback?state={STATE}&code={CODE} HTTP/1.1"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_runserver_request_lines_hide_the_code_and_state():
    logger = logging.getLogger("django.server")
    record = logger.makeRecord(
        logger.name,
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        (REQUEST_LINE, 302, 0),
        None,
    )

    lines = [
        handler.format(record) for handler in logger.handlers if handler.filter(record)
    ]

    assert lines, "runserver's log has no handler"
    assert not any(CODE in line or STATE in line for line in lines)
    assert "state=[redacted]&code=[redacted]" in lines[0]


@pytest.mark.parametrize("log", ["access_log", "error_log"])
def test_gunicorn_logs_hide_the_code_and_state(log):
    logger = getattr(RedactingLogger(Config()), log)
    captured = Lines()
    logger.addHandler(captured)
    try:
        logger.info("%(r)s %(f)s", {"r": REQUEST_LINE, "f": "-"})
    finally:
        logger.removeHandler(captured)

    assert captured.lines == [
        "GET /auth/x/callback?state=[redacted]&code=[redacted] HTTP/1.1 -"
    ]


def gunicorn_request(peer, headers):
    return SimpleNamespace(peer_addr=peer, headers=list(headers))


def worker(forwarded_allow_ips: str):
    config = Config()
    config.set("forwarded_allow_ips", forwarded_allow_ips)
    return SimpleNamespace(cfg=config)


HEADERS = [
    ("HOST", "blockster.example"),
    ("X-FORWARDED-FOR", "203.0.113.9"),
    ("X-FORWARDED-PROTO", "https"),
    ("FORWARDED", "for=203.0.113.9"),
]


@pytest.mark.parametrize(
    ("peer", "allowed", "kept"),
    [
        (("10.0.0.2", 5000), "10.0.0.2", True),
        (("10.0.0.2", 5000), "10.0.0.0/24", True),
        (("::ffff:10.0.0.2", 5000, 0, 0), "10.0.0.2", True),
        (("10.0.0.2", 5000), "*", True),
        ("/run/gunicorn.sock", "127.0.0.1", True),
        (("198.51.100.1", 5000), "10.0.0.2,127.0.0.1", False),
        (("::1", 5000, 0, 0), "127.0.0.1", False),
    ],
)
def test_forwarding_headers_reach_the_app_only_from_trusted_proxies(
    peer, allowed, kept
):
    request = gunicorn_request(peer, HEADERS)

    drop_untrusted_forwarding_headers(worker(allowed), request)

    names = [name for name, _ in request.headers]
    assert "HOST" in names
    assert ("X-FORWARDED-FOR" in names) is kept
    assert ("X-FORWARDED-PROTO" in names) is kept
    assert ("FORWARDED" in names) is kept
