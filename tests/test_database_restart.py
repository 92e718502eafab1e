"""PostgreSQL stopped and started again (a deploy, a failover): requests meanwhile
answer 503 "back in a moment" with Retry-After, never 500; then the site is back by
itself. An error that is not an outage (an IntegrityError) stays a 500."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.backends.postgresql.base import DatabaseWrapper

from accounts.models import User
from blockster.unavailable import RETRY_AFTER_SECONDS, is_outage, server_error
from devprocs import Process, free_port
from tests.outages import PostgresProcess
from tests.test_production_settings import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parent.parent


class Site:
    def __init__(self, url: str, database: PostgresProcess) -> None:
        self.url, self.database = url, database

    def get(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(self.url + path, headers=headers, timeout=30)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The site in production mode under gunicorn, on a PostgreSQL this test owns."""
    database = PostgresProcess()
    try:
        yield from _serve(database, tmp_path)
    finally:
        database.cleanup()


def _serve(database: PostgresProcess, tmp_path: Path) -> Iterator[Site]:
    port = free_port()
    env = {
        **os.environ,
        **PRODUCTION_ENV,
        "DATABASE_URL": database.url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "REDIS_KEY_PREFIX": f"test:{uuid.uuid4().hex[:12]}:",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "STATIC_ROOT": str(tmp_path / "static"),
        "WEB_CONCURRENCY": "1",
    }
    env.pop("SANDBOX", None)
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    command = [
        sys.executable, "-m", "gunicorn", "blockster.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--threads", "2",
    ]  # fmt: skip
    log = tmp_path / "gunicorn.log"
    web = Process("gunicorn", command, log_path=log, env=env, cwd=ROOT)
    site = Site(f"http://127.0.0.1:{port}", database)
    try:
        web.start().wait_ready(lambda: site.get("/").status_code == 200, timeout=60)
        yield site
    finally:
        web.stop(timeout=20)


def test_while_postgresql_restarts_pages_answer_503_and_then_come_back(site):
    assert site.get("/").status_code == 200

    site.database.stop("fast")
    page = site.get("/")
    box = site.get("/campaigns/7/box", **{"HX-Request": "true"})
    health = site.get("/healthz")
    site.database.start()

    assert page.status_code == 503
    assert page.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "Back in a moment" in page.text
    assert "try again in a few seconds" in page.text
    assert "Traceback" not in page.text and "Server Error" not in page.text
    # The htmx box polls itself until the site is back.
    assert box.status_code == 503 and box.headers["Retry-After"]
    assert 'id="campaign-box"' in box.text
    assert 'hx-get="/campaigns/7/box"' in box.text
    assert health.status_code == 503 and health.json()["database"] == "unavailable"

    assert site.get("/").status_code == 200
    assert site.get("/healthz").json()["database"] == "ok"


def _refused_connection() -> DatabaseWrapper:
    return DatabaseWrapper(
        {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": free_port()}
    )


@pytest.mark.django_db
def test_a_lost_connection_is_an_outage_and_a_broken_rule_is_not(user_factory):
    user = user_factory()
    with pytest.raises(OperationalError) as refused:
        _refused_connection().ensure_connection()
    with pytest.raises(IntegrityError) as duplicate, transaction.atomic():
        User.objects.create(email=user.email)
    with (
        pytest.raises(OperationalError) as cancelled,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL statement_timeout = 10")
        cursor.execute("SELECT pg_sleep(1)")

    assert is_outage(refused.value)
    assert not is_outage(duplicate.value)
    assert not is_outage(cancelled.value)


@pytest.mark.django_db
def test_an_outage_outside_a_view_answers_503_and_a_bug_500(rf):
    try:
        _refused_connection().ensure_connection()
    except OperationalError:
        unavailable = server_error(rf.get("/settings/"))
    try:
        raise IntegrityError("duplicate key")
    except IntegrityError:
        bug = server_error(rf.get("/settings/"))

    assert unavailable.status_code == 503
    assert unavailable["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert b"Back in a moment" in unavailable.content
    assert bug.status_code == 500
