import pytest


@pytest.mark.django_db
def test_healthz_reports_every_part_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_names_redis_and_broker_when_redis_is_down(owned_redis, client):
    with owned_redis.down():
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "database": "ok",
        "redis": "unavailable",
        "broker": "unavailable",
    }


def test_healthz_is_get_only(client):
    assert client.post("/healthz").status_code == 405
