"""Settings for the Blockster share-to-earn site.

Everything comes from the environment (or a `.env` file beside manage.py), read with
django-environ. Development values exist only when DEBUG is on; with DEBUG off a missing
secret stops start-up with one message naming every missing variable.
"""

from __future__ import annotations

from decimal import Decimal
from email.utils import parseaddr
from pathlib import Path

import csp.constants as csp
import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SANDBOX = env.bool("SANDBOX", default=False)

# Secrets production must provide. Each entry is checked when DEBUG is off.
REQUIRED_IN_PRODUCTION = (
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "TOKEN_ENCRYPTION_KEYS",
    "X_CLIENT_ID",
    "X_CLIENT_SECRET",
    "X_BEARER_TOKEN",
    "X_CALLBACK_URL",
    "BUX_MINTER_URL",
    "BUX_MINTER_SECRET",
    "EMAIL_URL",
)


def _check_production_environment() -> None:
    problems = [
        f"{name} is not set" for name in REQUIRED_IN_PRODUCTION if not env.str(name, "")
    ]
    if SANDBOX:
        problems.append("SANDBOX=1 is refused: the sandbox never runs in production")
    if problems:
        raise ImproperlyConfigured(
            "Refusing to start with DEBUG off: "
            + "; ".join(problems)
            + ". Set them (see .env.example), or set DEBUG=1 for development."
        )


if not DEBUG:
    _check_production_environment()


# --- Django core ----------------------------------------------------------------------

# Development-only fallback; production must set SECRET_KEY (checked above).
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-development-only")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "allauth",
    "allauth.account",
    "csp",
    "accounts",
    "posts",
    "social",
    "campaigns",
    "rewards",
    # The project package: its ping task, and `run_sandbox` (development only).
    "blockster",
]

MIDDLEWARE = [
    "blockster.observability.RequestIdMiddleware",
    # A view that hits a database (or Redis) outage answers 503, not 500.
    "blockster.unavailable.ServiceUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "blockster.session_lifetime.SessionLifetimeMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

if not DEBUG:
    # Production serves collected static files itself; runserver does it in development.
    # Right after SecurityMiddleware, so static files too are redirected to https and
    # carry its headers.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "blockster.urls"
WSGI_APPLICATION = "blockster.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "rewards.context_processors.reader_bux",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Production serves hashed, compressed names from the manifest collectstatic writes; a
# build step that runs with DEBUG on (the Dockerfile's) asks for them with this.
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Sessions are read from the Redis cache on every request, written through to
# PostgreSQL; a cache miss, or Redis being down, falls back to the database.
SESSION_ENGINE = "blockster.sessions"

# Sign-ins end after this long without a request, and this long after signing in
# however active. A session is re-saved (and its cookie renewed) once a tenth of the
# idle timeout has passed since it was last saved, not on every request.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=14 * 24 * 3600)
SESSION_ABSOLUTE_LIFETIME = env.int("SESSION_ABSOLUTE_LIFETIME", default=30 * 24 * 3600)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT

# The proxies in front of the app whose X-Forwarded-For entries are believed (the
# client's address for rate limits: blockster/proxy.py). Whether a request came over
# https is gunicorn's to say (wsgi.url_scheme): it believes X-Forwarded-Proto only from
# its forwarded_allow_ips (gunicorn.conf.py), so SECURE_PROXY_SSL_HEADER, which would
# believe it from anyone, is not set.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe the app directly over plain HTTP; /healthz reveals nothing.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
        "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True
    )
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The __Host- prefix makes browsers refuse these cookies unless they are Secure,
    # for Path=/ and without a Domain, so no subdomain or plain-http page can set them.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    # Behind a proxy that sets X-Forwarded-Host; Host is still checked against
    # ALLOWED_HOSTS either way.
    USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Error reports (mail to ADMINS, the debug page) hide connection URLs and secrets, and
# mask the OAuth callback's code and state in the URL, GET and META sections.
DEFAULT_EXCEPTION_REPORTER_FILTER = "blockster.observability.SensitiveSettingsFilter"
DEFAULT_EXCEPTION_REPORTER = "blockster.observability.SafeExceptionReporter"


# --- PostgreSQL -----------------------------------------------------------------------

# `make run` and `make test` start an embedded server and set DATABASE_URL when it is
# unset (blockster/devstack.py); anything else must set it.
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL",
        default="postgres://unset-run-through-make-or-set-DATABASE_URL/blockster",
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True


# --- Redis: cache, Celery broker, fast-read mirror ------------------------------------

REDIS_URL = env.str(
    "REDIS_URL", default="redis://unset-run-through-make-or-set-REDIS_URL"
)
# Prefix for every key the mirror and the cache write (tests use a unique one).
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="")
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=2.0)

# The mirror's own Redis (docs/mirror.md); the cache, sessions, X rate limits and the
# broker stay on REDIS_URL. MIRROR_REDIS_CLUSTER=1: the URL is a node of a Redis
# Cluster. MIRROR_REDIS_REPLICA_URL: the member page reads from a replica (on a
# cluster: a node of it, and reads go to the replicas of each slot).
MIRROR_REDIS_URL = env.str("MIRROR_REDIS_URL", default="") or REDIS_URL
MIRROR_REDIS_CLUSTER = env.bool("MIRROR_REDIS_CLUSTER", default=False)
MIRROR_REDIS_REPLICA_URL = env.str("MIRROR_REDIS_REPLICA_URL", default="")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"{REDIS_KEY_PREFIX}cache",
        "OPTIONS": {
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
        },
    }
}


# --- Celery ---------------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = 3600
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="blockster")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task not acknowledged within this time goes to another worker; keep it well above
# the longest task (a mint waits for the chain receipt).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "UTC"
# Workers log through Django's LOGGING (request ids, redaction) instead of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Every periodic job, in one place.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # Every hour on the hour: drop OAuth states that expired or were left unused.
    "purge-oauth-states": {
        "task": "social.tasks.purge_oauth_states_task",
        "schedule": crontab(minute=0),
    },
    # Every minute: free the places held by share attempts whose request died before
    # X answered (claims unrenewed for 2 minutes), so the reader can try again.
    "purge-stale-claims": {
        "task": "campaigns.tasks.purge_stale_claims_task",
        "schedule": crontab(),
    },
    # Every minute: put mints that got no answer in the operator queue, and re-queue
    # verified rewards with no mint in flight (broker outage, a web process that died
    # between commit and enqueue).
    "sweep-rewards": {
        "task": "rewards.tasks.sweep_rewards_task",
        "schedule": crontab(),
    },
    # Every minute: look again for shares whose confirmation on X was lost (a worker
    # or the broker went away), and fail those whose reader never reconnected X.
    "sweep-shared-rewards": {
        "task": "campaigns.tasks.sweep_shared_rewards_task",
        "schedule": crontab(),
    },
    # Every 15 minutes: look once more at rewarded retweets a day old, and mark
    # those the reader took back as undone (at most X_AUDIT_READS_PER_RUN reads).
    "audit-rewarded-shares": {
        "task": "rewards.tasks.audit_rewarded_shares_task",
        "schedule": crontab(minute="*/15"),
    },
    # Every minute: rebuild the campaign dashboard's hourly sums of the last two
    # hours (rewards.services.stats).
    "refresh-campaign-stats": {
        "task": "rewards.tasks.refresh_campaign_stats_task",
        "schedule": crontab(),
        "args": (2,),
    },
    # Every 10 minutes, at 5 past: the same for the last 36 hours, which catches
    # rewards changed long after they were made (a retweet undone a day later).
    "refresh-campaign-stats-day": {
        "task": "rewards.tasks.refresh_campaign_stats_task",
        "schedule": crontab(minute="5-59/10"),
        "args": (36,),
    },
    # Every 10 minutes: compare the Redis mirror with PostgreSQL and mend any drift,
    # so a Redis outage heals by itself.
    "repair-mirror": {
        "task": "rewards.tasks.repair_mirror_task",
        "schedule": crontab(minute="*/10"),
    },
    # Every day at 03:15 UTC: queue the X scores that are 7 or more days old.
    "recalculate-due-x-scores": {
        "task": "social.tasks.enqueue_due_scores_task",
        "schedule": crontab(hour=3, minute=15),
    },
}


# --- Site accounts (django-allauth) ---------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
# Client addresses for allauth's rate limits (failed log-ins are counted per address)
# and `next` checks: accounts/adapter.py.
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="Blockster <no-reply@localhost>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Who gets crash reports and operator alerts: comma-separated, "Name <address>" or an
# address alone.
ADMINS = [
    (name or address, address)
    for name, address in map(parseaddr, env.list("ADMINS", default=[]))
    if address
]


# --- Token encryption -----------------------------------------------------------------

# Comma-separated; the first key encrypts, every listed key decrypts. The development
# key is public and exists only with DEBUG on.
TOKEN_ENCRYPTION_KEYS = env.list(
    "TOKEN_ENCRYPTION_KEYS",
    default=(["dev:ZGV2ZWxvcG1lbnQtb25seS1rZXktMzItYnl0ZXMtISE="] if DEBUG else []),
)


# --- X (OAuth 2.0 + API v2) and the BUX minter ----------------------------------------

SANDBOX_URL = env.str("SANDBOX_URL", default="http://127.0.0.1:8010").rstrip("/")
if SANDBOX:
    # The development app registration and minter secret, public values: the only
    # place they are written. `run_sandbox` registers them with the sandbox, which
    # accepts whatever it is started with (docs/sandbox.md).
    _x_defaults = {
        "X_CLIENT_ID": "sandbox-client-id",
        "X_CLIENT_SECRET": "sandbox-client-secret",
        "X_BEARER_TOKEN": "sandbox-app-bearer-token",
        "X_CALLBACK_URL": f"{SITE_URL}/auth/x/callback",
        "X_AUTHORIZE_URL": f"{SANDBOX_URL}/i/oauth2/authorize",
        "X_API_BASE": f"{SANDBOX_URL}/2",
        "BUX_MINTER_URL": f"{SANDBOX_URL}/minter",
        "BUX_MINTER_SECRET": "sandbox-minter-secret",
    }
else:
    _x_defaults = {
        "X_CLIENT_ID": "",
        "X_CLIENT_SECRET": "",
        "X_BEARER_TOKEN": "",
        "X_CALLBACK_URL": f"{SITE_URL}/auth/x/callback",
        "X_AUTHORIZE_URL": "https://x.com/i/oauth2/authorize",
        "X_API_BASE": "https://api.x.com/2",
        "BUX_MINTER_URL": "",
        "BUX_MINTER_SECRET": "",
    }

X_CLIENT_ID = env.str("X_CLIENT_ID", default=_x_defaults["X_CLIENT_ID"])
X_CLIENT_SECRET = env.str("X_CLIENT_SECRET", default=_x_defaults["X_CLIENT_SECRET"])
# The app-only Bearer token (X's developer portal, "Keys and tokens"): the app's own
# reads, such as a campaign's tweet when staff add it (GET /2/tweets/:id).
X_BEARER_TOKEN = env.str("X_BEARER_TOKEN", default=_x_defaults["X_BEARER_TOKEN"])
X_CALLBACK_URL = env.str("X_CALLBACK_URL", default=_x_defaults["X_CALLBACK_URL"])
X_AUTHORIZE_URL = env.str("X_AUTHORIZE_URL", default=_x_defaults["X_AUTHORIZE_URL"])
X_API_BASE = env.str("X_API_BASE", default=_x_defaults["X_API_BASE"]).rstrip("/")
# Likes through the API need X's Enterprise plan; this turns them off everywhere (and
# stops asking readers for the like.write scope).
X_LIKES_ENABLED = env.bool("X_LIKES_ENABLED", default=True)
# With likes on, also confirm the like on X with the retweet (docs/x-policy.md): a
# like not seen is recorded as not made; the reward, earned by the retweet, stays.
# Off by default: it costs a read of the reader's likes per look, and readers are
# asked for the like.read scope (those connected before must reconnect for it).
X_VERIFY_LIKES = X_LIKES_ENABLED and env.bool("X_VERIFY_LIKES", default=False)
X_SCOPES = [
    "tweet.read",
    "tweet.write",
    "users.read",
    *(["like.write"] if X_LIKES_ENABLED else []),
    *(["like.read"] if X_VERIFY_LIKES else []),
    "offline.access",
]
# X spend per day (UTC), in US dollars, past which sharing pauses until an operator
# resumes it (social.spend). Empty: no limit.
_daily_limit = env.str("X_DAILY_SPEND_LIMIT_USD", default="")
X_DAILY_SPEND_LIMIT_USD = Decimal(_daily_limit) if _daily_limit else None
# Tight on purpose: a reader waits for these calls. Reads retry after these delays.
X_CONNECT_TIMEOUT = env.float("X_CONNECT_TIMEOUT", default=5.0)
X_READ_TIMEOUT = env.float("X_READ_TIMEOUT", default=10.0)
X_RETRY_DELAYS = [0.5, 1.0]
# Score recalculations are spaced so the per-app limit of GET /2/users/:id (300 per 15
# minutes) is never reached; a scan queues at most X_SCORE_BATCH_SIZE at a time.
X_SCORE_SPACING_SECONDS = env.float("X_SCORE_SPACING_SECONDS", default=3.2)
X_SCORE_BATCH_SIZE = env.int("X_SCORE_BATCH_SIZE", default=900)

# Confirming a retweet on X before its BUX are minted (campaigns.services.confirm;
# docs/x-policy.md has the costs). X_VERIFY_SHARES: all, off, or sample:<percent>;
# a campaign may choose otherwise in admin.
X_VERIFY_SHARES = env.str("X_VERIFY_SHARES", default="all")
# Posts read from the reader's timeline per check (X's minimum is 5).
X_VERIFY_TIMELINE_POSTS = env.int("X_VERIFY_TIMELINE_POSTS", default=5)
# X's timelines lag behind its writes: the first look waits this long, and a retweet
# not found yet is looked for again X_VERIFY_RETRY_SECONDS later, X_VERIFY_ATTEMPTS
# looks in all, before the share fails as "not found".
X_VERIFY_FIRST_DELAY_SECONDS = env.float("X_VERIFY_FIRST_DELAY_SECONDS", default=5.0)
X_VERIFY_RETRY_SECONDS = env.float("X_VERIFY_RETRY_SECONDS", default=30.0)
X_VERIFY_ATTEMPTS = env.int("X_VERIFY_ATTEMPTS", default=4)
# How long a share whose reader must reconnect X keeps its place before it fails.
X_VERIFY_RECONNECT_HOURS = env.float("X_VERIFY_RECONNECT_HOURS", default=24.0)
# The audit after payout looks at each confirmed, rewarded retweet once, this long
# after the mint, reading at most X_AUDIT_READS_PER_RUN timelines per run.
X_AUDIT_DELAY_SECONDS = env.int("X_AUDIT_DELAY_SECONDS", default=24 * 3600)
X_AUDIT_READS_PER_RUN = env.int("X_AUDIT_READS_PER_RUN", default=200)
# A reader who undid this many paid retweets is refused new campaigns until staff
# lift the bar (0: never).
X_UNDONE_SHARES_LIMIT = env.int("X_UNDONE_SHARES_LIMIT", default=3)

BUX_MINTER_URL = env.str("BUX_MINTER_URL", default=_x_defaults["BUX_MINTER_URL"])
BUX_MINTER_SECRET = env.str(
    "BUX_MINTER_SECRET", default=_x_defaults["BUX_MINTER_SECRET"]
)
# True only for a minter that honours Idempotency-Key: then a mint whose outcome is
# unknown (a 5xx, a timeout, a cut answer) is retried with the same key. Off, as for
# the real minter, such a mint waits for an operator (docs/operations.md).
BUX_MINTER_IDEMPOTENT = env.bool("BUX_MINTER_IDEMPOTENT", default=False)
# The minter answers after the chain receipt, which can take a while.
BUX_MINTER_CONNECT_TIMEOUT = env.float("BUX_MINTER_CONNECT_TIMEOUT", default=5.0)
BUX_MINTER_READ_TIMEOUT = env.float("BUX_MINTER_READ_TIMEOUT", default=60.0)
# The settings page waits for the wallet's balance at most this long, all told.
BUX_MINTER_BALANCE_TIMEOUT = env.float("BUX_MINTER_BALANCE_TIMEOUT", default=3.0)
# Definite mint failures are retried this many times, 30 s, 60 s, 120 s... apart.
BUX_MINT_MAX_ATTEMPTS = env.int("BUX_MINT_MAX_ATTEMPTS", default=6)
BUX_MINT_RETRY_BASE_SECONDS = env.float("BUX_MINT_RETRY_BASE_SECONDS", default=30.0)
# A mint request older than this with no recorded answer is treated as lost.
BUX_MINT_LEASE_SECONDS = env.int("BUX_MINT_LEASE_SECONDS", default=300)
# Link to a transaction, e.g. https://explorer.example/tx/{tx}; empty: no link.
# EXPLORER_TX_URL (with {tx_hash}) is the deprecated name, still read.
BUX_EXPLORER_TX_URL = env.str("BUX_EXPLORER_TX_URL", default="") or env.str(
    "EXPLORER_TX_URL", default=""
).replace("{tx_hash}", "{tx}")


# --- Content-Security-Policy (django-csp) ---------------------------------------------

# Scripts, styles and everything else only from our own origin, and no inline script
# or style (htmx's indicator styles are in site.css); no framing by anyone. Images also
# from X's image host: readers' X profile pictures (the sandbox's in development).
X_PROFILE_IMAGE_ORIGIN = SANDBOX_URL if SANDBOX else "https://pbs.twimg.com"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "img-src": [csp.SELF, X_PROFILE_IMAGE_ORIGIN],
        "base-uri": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
        "object-src": [csp.NONE],
    }
}


# --- Logging --------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# json in production (one object a line, with the request id); plain for development.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "blockster.observability.ContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        },
        "json": {"()": "blockster.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # runserver's request lines go through the same redaction as everything else.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # httpx logs every request URL at INFO; our clients log what matters themselves.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
