from __future__ import annotations

import html
import itertools
import os
import re
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from accounts.models import User
from blockster.celery import app as celery_app
from blockster.redis_client import get_redis
from rewards.mirror.schema import mirror_built_key
from social import services as social_services
from social.models import XConnection
from social.x_api import TokenSet, XUser
from tests.outages import owned_persistent_redis, owned_redis  # noqa: F401
from tests.sandbox_fixtures import idempotent_minter, sandbox, sandbox_server  # noqa: F401

# One broker queue per test process: tasks sent by this xdist worker are consumed only
# by the Celery worker it starts, which uses this process's test database.
TEST_QUEUE = (
    f"test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex[:8]}"
)


def pytest_configure(config):
    from django.conf import settings

    celery_app.conf.task_default_queue = TEST_QUEUE
    # Password hashing is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_redis(settings):
    """Every test writes its Redis keys (mirror and cache) under a prefix of its own."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    settings.REDIS_KEY_PREFIX = prefix
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"{prefix}cache"}
    }


@pytest.fixture(autouse=True)
def _mirror_built(_isolated_redis):
    """The shared Redis's mirror counts as built, as in a running system. Tests of a
    mirror that Redis lost use a Redis of their own (`owned_redis`), which starts
    empty."""
    get_redis().set(mirror_built_key(), "tests")


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker thread consuming this process's queue on the Redis broker.

    Tasks run in another thread with their own database connection, so tests that use it
    need committed data (`transactional_db`), as production does.
    """
    with start_worker(
        celery_app,
        pool="solo",
        perform_ping_check=False,
        queues=[TEST_QUEUE],
        shutdown_timeout=30,
    ) as worker:
        yield worker


@pytest.fixture
def fast_retries(settings):
    """The X client's retry delays, without the waiting."""
    settings.X_RETRY_DELAYS = [0, 0]


@pytest.fixture
def user_factory(db):
    counter = iter(range(1, 10_000))

    def make(**fields) -> User:
        n = next(counter)
        fields.setdefault("email", f"reader{n}-{uuid.uuid4().hex[:6]}@example.com")
        password = fields.pop("password", "correct horse battery staple")
        return User.objects.create_user(password=password, **fields)

    return make


@pytest.fixture
def owner(user_factory) -> User:
    return user_factory(email="owner@example.com", display_name="Olive Owner")


@pytest.fixture
def other_user(user_factory) -> User:
    return user_factory(email="other@example.com", display_name="Oscar Other")


@pytest.fixture
def staff(user_factory) -> User:
    return user_factory(email="staff@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def page_text():
    """A response as a reader reads it: no tags, entities decoded, spaces folded."""

    def read(response) -> str:
        text = re.sub(r"<[^>]+>", " ", response.content.decode())
        return re.sub(r"\s+", " ", html.unescape(text))

    return read


@pytest.fixture
def wait_for():
    """Poll `condition` until it holds (True) or `timeout` passes (False)."""

    def wait(condition, *, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.1)
        return False

    return wait


@pytest.fixture
def connect_x(sandbox):  # noqa: F811
    """Connect a user to a sandbox account (created on demand) as the callback would."""
    accounts = itertools.count(1)

    def connect(user, account: str | None = None, *, score: int | None = 10):
        if account is None:
            account = f"reader_{next(accounts)}_{user.pk}"
            sandbox.create_account(account, followers_count=100, following_count=50)
        tokens = sandbox.connect(account)
        profile = sandbox.account(account)
        connection = social_services.upsert_x_connection(
            user,
            profile=XUser(id=profile["id"], username=profile["username"]),
            tokens=TokenSet(
                tokens["access_token"],
                tokens["refresh_token"],
                tokens["expires_in"],
                tuple(tokens["scope"].split()),
            ),
        )
        if score is not None:
            XConnection.objects.filter(pk=connection.pk).update(
                x_score=score, score_calculated_at=timezone.now()
            )
            connection.refresh_from_db()
        return connection

    return connect


@pytest.fixture
def start_oauth(db):
    """Log `user` in on `client` and start connecting X, as the Connect button does;
    returns the stored state (bound to that client's session)."""
    from social.models import XOAuthState

    def start(client, user, *, redirect_to: str = "/") -> XOAuthState:
        client.force_login(user)
        response = client.get("/auth/x/authorize", {"redirect_to": redirect_to})
        assert response.status_code == 302
        return XOAuthState.objects.filter(user=user).latest("pk")

    return start
