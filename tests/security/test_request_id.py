"""A request id from outside is used only when it is a short token of safe characters
(else the app makes its own)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "incoming",
    [
        "proxy-id\n",  # `$` in a regular expression matches before a final newline
        "proxy id",
        "a" * 65,
        "id;rm -rf",
        "ïd",
        "",
    ],
)
def test_an_unsafe_request_id_is_replaced_by_a_fresh_one(client, db, incoming):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)

    assert response.status_code == 200
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.parametrize("incoming", ["proxy-id-123", "a" * 64, "Root-1-abc.def_9"])
def test_a_safe_request_id_is_kept(client, db, incoming):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] == incoming
