"""Local emulators of the outside world: X (OAuth 2.0 + API v2) and the BUX minter.

The server is a Starlette app (`sandbox.app.create_app`) run by
`python manage.py run_sandbox`; it is installed only when DEBUG is on.
"""
