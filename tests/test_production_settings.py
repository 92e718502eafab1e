"""Start-up with DEBUG off, in a fresh interpreter as a deployment would start."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from blockster.settings import REQUIRED_IN_PRODUCTION
from tests.production import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parent.parent


def run_python(
    script: str, env_overrides: dict[str, str], drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`python -c script` with the production environment and these changes."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in PRODUCTION_ENV and key != "SANDBOX"
    }
    env.update(PRODUCTION_ENV)
    env.update(env_overrides)
    for name in drop:
        env.pop(name, None)
    env["DJANGO_SETTINGS_MODULE"] = "blockster.settings"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_django(env_overrides: dict[str, str], drop: tuple[str, ...] = ()):
    return run_python(
        "import django; django.setup(); print('started')", env_overrides, drop
    )


def production_settings(expression: str, **env_overrides: str) -> object:
    """The JSON value of `expression` over settings `s`, under production settings."""
    result = run_python(
        "import django, json; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({expression}))",
        env_overrides,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_starts_with_every_secret_set():
    result = start_django({})

    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize("missing", REQUIRED_IN_PRODUCTION)
def test_production_refuses_a_missing_secret_and_names_it(missing):
    result = start_django({}, drop=(missing,))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{missing} is not set" in result.stderr
    # One message names only what is actually missing.
    others = [name for name in REQUIRED_IN_PRODUCTION if name != missing]
    assert not any(f"{name} is not set" in result.stderr for name in others)


def test_production_names_every_missing_secret_in_one_message():
    result = start_django({}, drop=REQUIRED_IN_PRODUCTION)

    assert result.returncode != 0
    message = next(
        line
        for line in result.stderr.splitlines()
        if line.startswith("django.core.exceptions.ImproperlyConfigured:")
    )
    for name in REQUIRED_IN_PRODUCTION:
        assert f"{name} is not set" in message


def test_production_refuses_the_sandbox():
    result = start_django({"SANDBOX": "1"})

    assert result.returncode != 0
    assert "SANDBOX=1 is refused" in result.stderr


def test_the_development_secrets_never_apply_in_production():
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SECRET_KEY); print(settings.TOKEN_ENCRYPTION_KEYS); "
        "print('sandbox' in settings.INSTALLED_APPS); print(settings.X_API_BASE)"
    )
    env = {
        **os.environ,
        **PRODUCTION_ENV,
        "DJANGO_SETTINGS_MODULE": "blockster.settings",
    }
    env.pop("SANDBOX", None)
    env.pop("X_API_BASE", None)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    secret, keys, sandbox_installed, api_base = result.stdout.splitlines()
    assert secret == PRODUCTION_ENV["SECRET_KEY"]
    assert "dev:" not in keys
    assert sandbox_installed == "False"
    assert api_base == "https://api.x.com/2"


def test_manage_py_prints_the_configuration_error_without_a_traceback():
    env = {key: value for key, value in os.environ.items() if key != "SANDBOX"}
    env.update(PRODUCTION_ENV)
    env.pop("SECRET_KEY")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("Configuration error: Refusing to start")
    assert "SECRET_KEY is not set" in result.stderr


def test_env_example_lists_every_variable_the_settings_read():
    settings_source = (ROOT / "blockster" / "settings.py").read_text()
    example = (ROOT / ".env.example").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', settings_source))
    listed = set(re.findall(r"^#? ?([A-Z_]+)=", example, flags=re.MULTILINE))

    assert read, "no env reads found in settings.py"
    assert read - listed == set()


def test_check_deploy_is_clean_under_production_settings():
    env = {key: value for key, value in os.environ.items() if key != "SANDBOX"}
    env.update(PRODUCTION_ENV)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_cookies_sessions_and_proxy_trust():
    values = production_settings(
        "[s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_DOMAIN, "
        "s.CSRF_COOKIE_DOMAIN, s.SESSION_COOKIE_PATH, s.CSRF_COOKIE_PATH, "
        "s.SECURE_PROXY_SSL_HEADER, s.TRUSTED_PROXY_COUNT, "
        "s.ALLAUTH_TRUSTED_PROXY_COUNT, s.SESSION_COOKIE_AGE, "
        "'csp.middleware.CSPMiddleware' in s.MIDDLEWARE]",
        TRUSTED_PROXY_COUNT="2",
        SESSION_IDLE_TIMEOUT="3600",
    )

    assert values == [
        "__Host-sessionid",
        "__Host-csrftoken",
        True,
        True,
        None,
        None,
        "/",
        "/",
        # X-Forwarded-Proto is gunicorn's to judge (forwarded_allow_ips), never
        # believed from any peer.
        None,
        2,
        2,
        3600,
        True,
    ]


def test_admins_are_read_from_the_environment():
    admins = production_settings(
        "s.ADMINS", ADMINS="Ops Team <ops@example.com>,oncall@example.com"
    )

    assert admins == [
        ["Ops Team", "ops@example.com"],
        ["oncall@example.com", "oncall@example.com"],
    ]
