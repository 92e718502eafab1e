"""No credential reaches a log record, a Celery message or a Redis command, anywhere in
the product's flow: connect, score, share with a token refresh, mint, disconnect."""

from __future__ import annotations

import base64
import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from celery.signals import before_task_publish
from django.conf import settings as django_settings
from django.db import connection as db_connection
from django.db.backends.signals import connection_created
from django.utils import timezone

from campaigns.models import ShareReward
from social.crypto import decrypt_token
from social.models import XConnection, XOAuthState
from social.services import get_access_token, get_code_verifier
from tests.factories import WALLET

# Shorter values could turn up by chance; every credential here is far longer.
MIN_SECRET_LENGTH = 12


class EveryRecord:
    """Every log record as it is created, before any filter or handler could clean it
    up: a filter only protects the handlers it is attached to."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []
        self.paused = False
        self._make = logging.getLogRecordFactory()

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._make(*args, **kwargs)
        if not self.paused:
            self.records.append((record.name, self._text(record)))
        return record

    @staticmethod
    def _text(record: logging.LogRecord) -> str:
        parts = [str(record.msg), repr(record.args), record.exc_text or ""]
        # A malformed record still gets its raw parts checked.
        with contextlib.suppress(Exception):
            parts.append(record.getMessage())
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        return "\n".join(parts)

    @contextlib.contextmanager
    def pause(self) -> Iterator[None]:
        """For what the reader's browser does: its traffic is not the product's."""
        self.paused = True
        try:
            yield
        finally:
            self.paused = False


@pytest.fixture
def every_log_record() -> Iterator[EveryRecord]:
    """Every logger at DEBUG, SQL included (Django logs queries only with a debug
    cursor, so every connection gets one)."""
    capture = EveryRecord()
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False

    def debug_cursor(sender: Any, connection: Any, **kwargs: Any) -> None:
        connection.force_debug_cursor = True

    connection_created.connect(debug_cursor)
    db_connection.force_debug_cursor = True
    logging.setLogRecordFactory(capture)
    try:
        yield capture
    finally:
        logging.setLogRecordFactory(capture._make)
        connection_created.disconnect(debug_cursor)
        db_connection.force_debug_cursor = False
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled


@pytest.fixture
def task_messages() -> Iterator[list[str]]:
    """Every Celery message the product sends: its arguments and headers."""
    sent: list[str] = []

    def capture(body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        sent.append(repr(body) + repr(headers))

    before_task_publish.connect(capture, weak=False)
    try:
        yield sent
    finally:
        before_task_publish.disconnect(capture)


@pytest.fixture
def redis_commands() -> Iterator[list[str]]:
    """Every command the Redis server receives meanwhile (MONITOR)."""
    commands: list[str] = []
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    marker = f"end-of-monitor-{uuid.uuid4().hex}"
    ready = threading.Event()

    def watch() -> None:
        with client.monitor() as monitor:
            ready.set()
            for entry in monitor.listen():
                if marker in entry["command"]:
                    return
                commands.append(entry["command"])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ready.wait(10)
    try:
        yield commands
    finally:
        client.echo(marker)
        watcher.join(10)
        client.close()


def _tokens_of(connection: XConnection) -> list[str]:
    assert connection.refresh_token_encrypted is not None
    refresh = decrypt_token(
        connection.refresh_token_encrypted,
        column="refresh_token",
        user_id=connection.user_id,
    )
    return [get_access_token(connection), refresh]


@pytest.mark.django_db(transaction=True)
def test_no_secret_reaches_a_log_a_task_message_or_redis(
    celery_worker,  # first: starting it applies Django's LOGGING levels again
    every_log_record,
    task_messages,
    redis_commands,
    client,
    user_factory,
    sandbox_campaign_factory,
    sandbox,
    settings,
    wait_for,
):
    reader = user_factory(wallet_address=WALLET)
    client.force_login(reader)
    secrets = [
        settings.X_CLIENT_SECRET,
        settings.BUX_MINTER_SECRET,
        base64.b64encode(
            f"{settings.X_CLIENT_ID}:{settings.X_CLIENT_SECRET}".encode()
        ).decode(),
        settings.SECRET_KEY,
        *(entry.split(":", 1)[1] for entry in settings.TOKEN_ENCRYPTION_KEYS),
    ]

    # Connect through X's consent page; the score is computed by a real worker.
    authorize = client.get("/auth/x/authorize", {"redirect_to": "/"})
    secrets.append(get_code_verifier(XOAuthState.objects.get(user=reader)) or "")
    with every_log_record.pause():
        location = sandbox.authorize(authorize["Location"], account="reader")
    secrets.append(parse_qs(urlsplit(location).query)["code"][0])
    client.get(location.replace("http://testserver", ""))
    connection = XConnection.objects.get(user=reader)
    secrets += _tokens_of(connection)
    assert wait_for(lambda: XConnection.objects.get(pk=connection.pk).x_score)

    # Share with a token due for refresh; a real worker mints the reward.
    XConnection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(minutes=5)
    )
    campaign = sandbox_campaign_factory()
    shared = client.post(f"/campaigns/{campaign.pk}/share", HTTP_HX_REQUEST="true")
    assert "You earned" in shared.content.decode()
    secrets += _tokens_of(XConnection.objects.get(pk=connection.pk))
    assert wait_for(lambda: ShareReward.objects.get(user=reader).status == "rewarded")

    client.post("/auth/x/disconnect")
    assert not XConnection.objects.filter(user=reader).exists()

    secrets = [s for s in secrets if len(s) >= MIN_SECRET_LENGTH]
    assert len(set(secrets)) >= 10  # the code, verifier, two token pairs, ...
    seen = {name for name, _ in every_log_record.records}
    # The capture saw SQL, the HTTP clients, the tasks the worker ran (the score,
    # the mint), the task messages and the Redis commands...
    assert {"django.db.backends", "httpx", "httpcore.http11"} <= seen
    assert {"social.score", "rewards.services.minting"} <= seen
    assert task_messages and redis_commands
    # ...and none of them holds a credential.
    for name, text in every_log_record.records:
        for secret in secrets:
            assert secret not in text, f"a credential in a {name} log record"
    for message in task_messages:
        assert not any(secret in message for secret in secrets), message
    for command in redis_commands:
        assert not any(secret in command for secret in secrets), command
