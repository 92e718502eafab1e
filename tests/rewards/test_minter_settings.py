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
