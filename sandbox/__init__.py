"""Local emulators of the outside world: X (OAuth 2.0 + API v2) and the BUX minter.

A Starlette app (`sandbox.app.create_app`) served by `python -m sandbox`. It imports
nothing from Django or the product: `python manage.py run_sandbox` starts it with the
site's settings, `sandbox.testing` starts it for tests and benchmarks.
"""
