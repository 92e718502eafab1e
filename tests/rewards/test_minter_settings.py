"""BUX_MINTER_IDEMPOTENT is off unless set: production's minter has no idempotency."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def idempotent_setting(**env: str) -> str:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("BUX_MINTER_IDEMPOTENT", "SANDBOX")
    }
    environment.update(DEBUG="1", DJANGO_SETTINGS_MODULE="blockster.settings", **env)
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.BUX_MINTER_IDEMPOTENT)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("sandbox", ["0", "1"])
def test_the_minter_is_not_assumed_idempotent_unless_configured(sandbox):
    assert idempotent_setting(SANDBOX=sandbox) == "False"
    assert idempotent_setting(SANDBOX=sandbox, BUX_MINTER_IDEMPOTENT="1") == "True"


def test_a_lease_shorter_than_a_mint_request_stops_start_up(settings):
    from rewards.checks import check_mint_lease

    settings.BUX_MINTER_CONNECT_TIMEOUT = 5.0
    settings.BUX_MINTER_READ_TIMEOUT = 60.0
    settings.BUX_MINT_LEASE_SECONDS = 60
    (error,) = check_mint_lease()
    assert error.id == "rewards.E001"
    assert "65 s" in error.msg

    settings.BUX_MINT_LEASE_SECONDS = 300
    assert check_mint_lease() == []
