from __future__ import annotations

import html
import itertools
import os
import re
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client

from accounts.models import User
from blockster.celery import app as celery_app
from blockster.celery import worker_queues
from campaigns.models import ShareCampaign, ShareReward
from posts.models import Post
from social.models import XConnection
from tests import factories
from tests.mirror_servers import (  # noqa: F401
    mark_mirror_built,
    owned_redis_cluster,
    redis_cluster,
)
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
    mark_mirror_built()


@pytest.fixture(autouse=True)
def _shares_paid_on_x_answer(settings):
    """Tests of the share flow and what follows it take X's answer as enough
    (X_VERIFY_SHARES=off): one stage at a time. The confirmation stage's tests, the
    browser journeys and the soak run production's default (`confirm_shares`)."""
    settings.X_VERIFY_SHARES = "off"


@pytest.fixture
def confirm_shares(settings):
    """Production's policy (every share confirmed on X before minting), with looks
    close together so a worker finishes them quickly."""
    settings.X_VERIFY_SHARES = "all"
    settings.X_VERIFY_FIRST_DELAY_SECONDS = 0
    settings.X_VERIFY_RETRY_SECONDS = 0.2
    settings.X_VERIFY_ATTEMPTS = 3


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker thread consuming this process's queues (the default one
    and each job's) on the Redis broker.

    Tasks run in another thread with their own database connection, so tests that use it
    need committed data (`transactional_db`), as production does.
    """
    with start_worker(
        celery_app,
        pool="solo",
        perform_ping_check=False,
        queues=worker_queues(TEST_QUEUE),
        shutdown_timeout=30,
    ) as worker:
        yield worker


@pytest.fixture
def fast_retries(settings):
    """The X client's retry delays, without the waiting."""
    settings.X_RETRY_DELAYS = [0, 0]


@pytest.fixture
def user_factory(db) -> type[factories.UserFactory]:
    return factories.UserFactory


@pytest.fixture
def owner(user_factory) -> User:
    return user_factory(email="owner@example.com", display_name="Olive Owner")


@pytest.fixture
def other_user(user_factory) -> User:
    return user_factory(email="other@example.com", display_name="Oscar Other")


@pytest.fixture
def reader(user_factory) -> User:
    """A reader with a wallet address, ready to earn."""
    return user_factory(display_name="Rita Reader", wallet_address=factories.WALLET)


@pytest.fixture
def staff(user_factory) -> User:
    return user_factory(email="staff@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(staff) -> Client:
    """The staff persona, logged in on a client of its own."""
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def post_factory(owner) -> Callable[..., Post]:
    """Posts by the owner persona."""
    return partial(factories.PostFactory.create, author=owner)


@pytest.fixture
def campaign_factory(owner) -> Callable[..., ShareCampaign]:
    """Campaigns on new posts by the owner, for made-up tweets."""
    return partial(factories.CampaignFactory.create, post__author=owner)


@pytest.fixture
def sandbox_campaign_factory(owner, sandbox) -> Callable[..., ShareCampaign]:  # noqa: F811
    """Campaigns on new posts by the owner, for tweets that exist in the sandbox
    (what sharing needs: the share flow retweets them there)."""
    return partial(
        factories.CampaignFactory.create, post__author=owner, sandbox=sandbox
    )


@pytest.fixture
def connection_factory(db) -> Callable[..., XConnection]:
    """`make(user, **fields)`: an X connection saved as the OAuth callback saves it,
    without going through X (its tokens work nowhere)."""

    def make(user: User, **fields: Any) -> XConnection:
        return factories.ConnectionFactory.create(user=user, **fields)

    return make


@pytest.fixture
def reward_factory(campaign_factory) -> Callable[..., ShareReward]:
    """`make(user, campaign=None, **traits_and_fields)`: a reward row in PostgreSQL
    (factories.RewardFactory's traits), on a new campaign unless one is given."""

    def make(
        user: User, campaign: ShareCampaign | None = None, **fields: Any
    ) -> ShareReward:
        return factories.RewardFactory.create(
            user=user, campaign=campaign or campaign_factory(), **fields
        )

    return make


@pytest.fixture
def many_rewards(user_factory, campaign_factory) -> Callable[..., list[ShareReward]]:
    """`make(users, campaigns)`: users × campaigns reward rows in every status,
    bulk-inserted."""

    def make(users: int, campaigns: int) -> list[ShareReward]:
        readers = user_factory.create_batch(users)
        shared = [campaign_factory() for _ in range(campaigns)]
        return factories.reward_grid(readers, shared)

    return make


@pytest.fixture
def bulk_rewards(db) -> Callable[[ShareCampaign, int], None]:
    """`make(campaign, count)`: count readers with an X connection and a reward in
    the campaign, in every status in turn, bulk-inserted (for volume)."""
    return factories.bulk_rewards


@pytest.fixture
def messages_of() -> Callable[..., list[str]]:
    """The flash messages a rendered response shows."""

    def read(response) -> list[str]:
        return [str(message) for message in response.context["messages"]]

    return read


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
def connect_x(sandbox, connection_factory):  # noqa: F811
    """Connect a user to a sandbox account (created on demand) as the callback would:
    its tokens work on the sandbox's X."""
    accounts = itertools.count(1)

    def connect(user, account: str | None = None, *, score: int | None = 10):
        if account is None:
            account = f"reader_{next(accounts)}_{user.pk}"
            sandbox.create_account(account, followers_count=100, following_count=50)
        tokens = sandbox.connect(account)
        profile = sandbox.account(account)
        return connection_factory(
            user,
            x_user_id=profile["id"],
            username=profile["username"],
            name="",
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            expires_in=tokens["expires_in"],
            scopes=tuple(tokens["scope"].split()),
            score=score,
        )

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
