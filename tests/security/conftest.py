from tests.security.stack import web_stack  # noqa: F401  (gunicorn behind a proxy)
