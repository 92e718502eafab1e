from __future__ import annotations

import uuid

import pytest

from accounts.models import User


@pytest.fixture(autouse=True)
def _isolated_redis(settings):
    """Every test writes its Redis keys under a prefix of its own."""
    settings.REDIS_KEY_PREFIX = f"test:{uuid.uuid4().hex[:12]}:"


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
