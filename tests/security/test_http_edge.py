"""The HTTP edge in production: gunicorn as the Dockerfile starts it, DEBUG off,
behind a TLS-terminating proxy on loopback (tests/security/stack.py)."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest

from tests.security.stack import give_production_password, new_address

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
TOO_MANY = "Too many failed login attempts"


def log_in(client: httpx.Client, email: str, password: str, **headers: str):
    client.get("/accounts/login/")
    return client.post(
        "/accounts/login/",
        data={
            "login": email,
            "password": password,
            "csrfmiddlewaretoken": client.cookies["__Host-csrftoken"],
        },
        headers=headers,
    )


def test_one_attackers_failed_logins_lock_out_only_the_attacker(
    web_stack, user_factory
):
    reader = user_factory()
    give_production_password(reader, PASSWORD)
    attacker = web_stack.client(new_address())

    failures = [
        log_in(attacker, f"someone{n}@example.com", "guess").text for n in range(10)
    ]
    refused = log_in(attacker, "someone-else@example.com", "guess")
    # A made-up X-Forwarded-For is only the leftmost entry: the proxy appends the
    # attacker's real address, and that is the one counted.
    spoofed = log_in(
        attacker, reader.email, PASSWORD, **{"X-Forwarded-For": "203.0.113.7"}
    )
    readers_login = log_in(web_stack.client(new_address()), reader.email, PASSWORD)

    assert not any(TOO_MANY in page for page in failures)
    assert TOO_MANY in refused.text
    assert spoofed.status_code == 200 and TOO_MANY in spoofed.text
    assert readers_login.status_code == 302, readers_login.text
    assert readers_login.headers["Location"] == "/"


@pytest.mark.parametrize("path", ["/accounts/login/", "/static/css/site.css"])
def test_only_the_proxy_can_say_a_request_came_over_https(web_stack, path):
    through_proxy = web_stack.client(new_address()).get(path)
    outsider = web_stack.direct(new_address()).get(
        path, headers={"X-Forwarded-Proto": "https"}
    )

    assert through_proxy.status_code == 200
    assert outsider.status_code == 301
    assert outsider.headers["Location"].startswith("https://")
    assert outsider.headers["Location"].endswith(path)


def test_a_load_balancer_probes_healthz_over_plain_http(web_stack):
    probe = web_stack.direct(new_address()).get("/healthz")

    assert probe.status_code == 200
    assert probe.json()["database"] == "ok"


def test_the_access_log_never_shows_the_authorization_code(web_stack, wait_for):
    code, state = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    callback = f"/auth/x/callback?state={state}&code={code}"
    browser = web_stack.client(new_address())

    browser.get(callback)
    browser.get("/", headers={"Referer": f"{web_stack.url}{callback}"})

    assert wait_for(lambda: web_stack.log().count("/auth/x/callback?") >= 2)
    log = web_stack.log()
    assert code not in log and state not in log
    assert "/auth/x/callback?state=[redacted]&code=[redacted]" in log


def test_session_and_csrf_cookies_are_host_only_and_secure(web_stack, user_factory):
    reader = user_factory()
    give_production_password(reader, PASSWORD)
    browser = web_stack.client(new_address())

    login_page = browser.get("/accounts/login/")
    logged_in = log_in(browser, reader.email, PASSWORD)
    cookies = login_page.headers.get_list("set-cookie") + logged_in.headers.get_list(
        "set-cookie"
    )

    names = {cookie.split("=", 1)[0] for cookie in cookies}
    assert {"__Host-csrftoken", "__Host-sessionid"} <= names
    for cookie in cookies:
        if cookie.startswith("__Host-"):
            attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
            assert "secure" in attributes
            assert "path=/" in attributes
            assert not any(part.startswith("domain=") for part in attributes)


def test_pages_carry_the_content_security_policy(web_stack):
    response = web_stack.client(new_address()).get("/accounts/login/")

    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


def test_the_sites_icon_is_served_from_our_static_files_within_the_policy(web_stack):
    browser = web_stack.client(new_address())
    page = browser.get("/accounts/login/")
    policy = page.headers["Content-Security-Policy"]
    img_src = next(d for d in policy.split("; ") if d.startswith("img-src "))
    icons = re.findall(r"<link rel=\"icon\" href=\"([^\"]+)\"", page.text)
    redirect = browser.get("/favicon.ico")

    assert "'self'" in img_src.split()
    # Collected, hashed static files on our own origin, as the policy allows.
    assert [re.sub(r"\.[0-9a-f]{12}\.", ".", href) for href in icons] == [
        "/static/favicon.ico",
        "/static/favicon.svg",
    ]
    for href, content_type in zip(
        icons, ("image/x-icon", "image/svg+xml"), strict=True
    ):
        answer = browser.get(href)
        assert answer.status_code == 200, href
        assert answer.headers["Content-Type"].startswith(content_type), href
    assert redirect.status_code == 302
    assert redirect.headers["Location"] == icons[0]
