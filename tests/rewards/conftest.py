from __future__ import annotations

import pytest

from blockster.redis_client import get_mirror_redis
from tests.mirror_servers import mark_mirror_built, use_cluster_for_the_mirror

# A test of the mirror (one that uses `mirror_server`, or `redis`, the mirror's
# client) runs twice: on a single server and on a Redis Cluster. A test that stops
# its own single Redis (`owned_redis`) runs on the single server only; the cluster's
# outages are the failover test's.
MIRROR_SERVERS = ("single", "cluster")
SINGLE_SERVER_ONLY = {"owned_redis", "owned_persistent_redis"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mirror_server" in metafunc.fixturenames and not (
        SINGLE_SERVER_ONLY & set(metafunc.fixturenames)
    ):
        metafunc.parametrize("mirror_server", MIRROR_SERVERS, indirect=True)


@pytest.fixture
def mirror_server(request: pytest.FixtureRequest, settings) -> str:
    """Where the mirror lives in this test: the shared single server, or the test
    process's cluster (marked built, as the root conftest marks the server)."""
    server = getattr(request, "param", "single")
    if server == "cluster":
        use_cluster_for_the_mirror(settings, request.getfixturevalue("redis_cluster"))
        mark_mirror_built()
    return server


@pytest.fixture
def redis(mirror_server):
    """The mirror's Redis (a cluster client on the cluster)."""
    return get_mirror_redis()
