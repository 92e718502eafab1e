"""The web process as production runs it, for tests of what happens at the HTTP edge.

    # tests/security/conftest.py: from tests.security.stack import web_stack

    def test_something(web_stack, transactional_db):
        reader = web_stack.client("127.0.0.2")     # through the proxy, from 127.0.0.2
        outsider = web_stack.direct("127.0.0.3")   # straight to gunicorn
        ...
        assert "..." not in web_stack.log()

gunicorn runs the Dockerfile's command (read from the Dockerfile) with DEBUG=0 and
production settings, on this test process's PostgreSQL database and Redis. In front of
it a TLS-terminating reverse proxy on loopback does what a well-configured proxy does:
it appends the caller's address to X-Forwarded-For and overwrites X-Forwarded-Proto.
Clients pick their source address in 127.0.0.0/8, so each one is a different client.

Data the app must see is committed: tests use `transactional_db`.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from devprocs import Process, free_port
from tests.production import production_environ, this_runs_database_url

BASE_DIR = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
# The proxy's own address towards gunicorn, and so the only one gunicorn trusts.
PROXY_ADDRESS = HOST
# Headers that describe one connection, not the request (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


def dockerfile_command() -> list[str]:
    """The web process's command, exactly as the Dockerfile's CMD gives it."""
    lines = (BASE_DIR / "Dockerfile").read_text().splitlines()
    cmd = next(line for line in reversed(lines) if line.startswith("CMD "))
    return json.loads(cmd.removeprefix("CMD "))


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "proxy.crt", directory / "proxy.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        # Like nginx's `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`
        # and `X-Forwarded-Proto $scheme`: append the caller, overwrite the scheme.
        prior = ", ".join(self.headers.get_all("X-Forwarded-For") or [])
        caller = self.client_address[0]
        headers = [
            (name, value)
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP
            and name.lower() not in {"x-forwarded-for", "x-forwarded-proto"}
        ]
        headers += [
            ("X-Forwarded-For", f"{prior}, {caller}" if prior else caller),
            ("X-Forwarded-Proto", "https"),
        ]
        try:
            with self.server.upstream.stream(
                self.command, self.path, headers=headers, content=body
            ) as upstream:
                # The body as sent (compressed if the client asked for that).
                content = b"".join(upstream.iter_raw())
        except httpx.TransportError:
            self.send_error(502)  # as a proxy answers while the app is not up
            return
        self.send_response_only(upstream.status_code, upstream.reason_phrase)
        for name, value in upstream.headers.multi_items():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass  # gunicorn's access log is the one under test


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    upstream: httpx.Client


class TlsProxy:
    """HTTPS on a loopback port, forwarding plain HTTP to `upstream` from HOST."""

    def __init__(self, upstream: str, cert_file: Path, key_file: Path) -> None:
        self.server = _ProxyServer((HOST, 0), _ProxyHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.server.upstream = httpx.Client(
            base_url=upstream,
            transport=httpx.HTTPTransport(local_address=PROXY_ADDRESS),
            # The client's own Accept-Encoding, else none (not httpx's default).
            headers={"Accept-Encoding": "identity"},
            timeout=60,
        )
        self.url = f"https://{HOST}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.upstream.close()


class WebStack:
    """gunicorn (DEBUG=0) behind the TLS proxy; see the module's docstring."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.directory = directory
        self.port = free_port()
        self.upstream = f"http://{HOST}:{self.port}"
        self.log_file = directory / "gunicorn.log"
        self.cert_file, key_file = _self_signed_certificate(directory)
        self.proxy = TlsProxy(self.upstream, self.cert_file, key_file)
        self.url = self.proxy.url
        self.env = production_environ(
            DATABASE_URL=database_url,
            REDIS_URL=_required_env("REDIS_URL"),
            # Rate limits and sessions of this stack only.
            REDIS_KEY_PREFIX=f"test:{uuid.uuid4().hex[:12]}:",
            ALLOWED_HOSTS=HOST,
            STATIC_ROOT=str(directory / "static"),
            TRUSTED_PROXY_COUNT="1",
            FORWARDED_ALLOW_IPS=PROXY_ADDRESS,
            X_CALLBACK_URL=f"{self.url}/auth/x/callback",
            GUNICORN_CMD_ARGS=f"--bind {HOST}:{self.port} --workers 2",
        )
        self._process = Process(
            "gunicorn behind the proxy",
            [sys.executable, "-m", *dockerfile_command()],
            log_path=self.log_file,
            env=self.env,
            cwd=BASE_DIR,
        )
        self._clients: list[httpx.Client] = []
        self._probe = self.client(HOST)

    def start(self) -> None:
        # As the Dockerfile's build step does.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=BASE_DIR,
            env={**self.env, "DEBUG": "1", "STATIC_MANIFEST": "1"},
            check=True,
        )
        self.proxy.start()
        self._process.start().wait_ready(self._ready, timeout=60)

    def _ready(self) -> bool:
        return self._probe.get("/healthz").status_code == 200

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self.proxy.stop()
        # gunicorn's quick shutdown: nothing is in flight once the tests are done.
        self._process.stop(timeout=20, sig=signal.SIGINT)

    def client(self, source: str) -> httpx.Client:
        """A browser-like client reaching the site through the proxy from `source`."""
        verify = ssl.create_default_context(cafile=str(self.cert_file))
        return self._track(
            httpx.Client(
                base_url=self.url,
                transport=httpx.HTTPTransport(local_address=source, verify=verify),
                # A browser sends its origin with every form post.
                headers={"Origin": self.url},
                timeout=60,
            )
        )

    def direct(self, source: str) -> httpx.Client:
        """A client reaching gunicorn itself, past the proxy, over plain HTTP."""
        return self._track(
            httpx.Client(
                base_url=self.upstream,
                transport=httpx.HTTPTransport(local_address=source),
                timeout=60,
            )
        )

    def _track(self, client: httpx.Client) -> httpx.Client:
        self._clients.append(client)
        return client

    def log(self) -> str:
        """Everything gunicorn and the app wrote: the access log and the error log."""
        return self.log_file.read_text(errors="replace")


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests through `make test`")
    return value


_addresses = itertools.count(2)


def new_address() -> str:
    """A loopback address (other than the proxy's) that no other client has used."""
    n = next(_addresses)
    return f"127.0.{n // 250}.{n % 250 + 2}"


@pytest.fixture(scope="module")
def web_stack(django_db_setup: None) -> Iterator[WebStack]:
    """One gunicorn and proxy per test module (and xdist worker)."""
    with tempfile.TemporaryDirectory(prefix="web-stack-") as directory:
        stack = WebStack(Path(directory), this_runs_database_url())
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()


def give_production_password(user: Any, password: str) -> None:
    """Store `password` with production's hasher: the tests' fast one (MD5, set in
    conftest.py) is not among the hashers the web process accepts."""
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(password, hasher.salt())
    user.save(update_fields=["password"])
