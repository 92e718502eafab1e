"""Finding Chromium for the browser journeys, and installing it where we may.

One rule, used by the journeys and by `make test` (`python -m tests.e2e.chromium`):
the `CHROMIUM` environment variable, then `chromium` or `chromium-browser` on PATH.
With none found, `make test` installs Debian's package when it runs as root with
apt, and otherwise stops with one line naming the package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

PACKAGE = "chromium"
NAMES = ("chromium", "chromium-browser")


def find_chromium() -> str | None:
    """The Chromium executable to drive, or None."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return shutil.which(configured)
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_message() -> str:
    return (
        f"No Chromium for the browser tests: install Debian's {PACKAGE!r} package "
        f"(apt-get install {PACKAGE}), or set CHROMIUM to its path."
    )


def _can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def _install() -> None:
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with tempfile.NamedTemporaryFile("w+", prefix="apt-", suffix=".log") as log:
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", PACKAGE],
        ):
            done = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, env=environment
            )
            if done.returncode != 0:
                log.seek(0)
                tail = "".join(log.readlines()[-20:])
                sys.exit(f"{' '.join(command)} failed:\n{tail}{missing_message()}")


def ensure_chromium() -> str:
    """The executable, installing Debian's package first when none is found."""
    found = find_chromium()
    if found:
        return found
    if os.environ.get("CHROMIUM"):
        sys.exit(f"CHROMIUM={os.environ['CHROMIUM']} is not an executable.")
    if not _can_install():
        sys.exit(missing_message())
    print(
        f"Installing Debian's {PACKAGE} package: the browser tests drive it, "
        "and none is on PATH.",
        flush=True,
    )
    _install()
    found = find_chromium()
    if not found:
        sys.exit(f"{PACKAGE} installed, but no executable is on PATH.")
    return found


if __name__ == "__main__":
    ensure_chromium()
