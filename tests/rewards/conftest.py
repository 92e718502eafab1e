from __future__ import annotations

import pytest

from blockster.redis_client import get_redis


@pytest.fixture
def redis():
    return get_redis()
