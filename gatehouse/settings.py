"""Gatehouse settings: one module, driven by environment variables.

With no variables set it runs on SQLite in ``./var`` and a Celery broker that needs no
server (kombu's filesystem transport). Every variable is documented in README.md.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from gatehouse.env import (
    env_bool,
    env_cache_url,
    env_db_url,
    env_float,
    env_int,
    env_int_list,
    env_list,
    env_networks,
    env_rate,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = Path(env_str("GATEHOUSE_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", default=False)
# Demo users and their passwords are only ever printed when this is on; never in production.
DEMO_MODE = env_bool("GATEHOUSE_DEMO", default=False)


def _secret_key() -> str:
    """The secret key from the environment, else one generated once per data folder."""
    key = env_str("DJANGO_SECRET_KEY", default="")
    if key:
        return key
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# The demo serves loopback only; a deployment names its public host(s).
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "registry",
    "explain",
    "reviews",
    "events",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "gatehouse.middleware.CompressText",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "gatehouse.middleware.NoStoreMiddleware",
    "gatehouse.middleware.DomainErrorPages",
]

ROOT_URLCONF = "gatehouse.urls"
WSGI_APPLICATION = "gatehouse.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env_db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'gatehouse.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write concurrently: WAL lets readers go on, and
    # IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Keep each worker's connection between requests (opening one costs more than most API
# requests); the health check replaces a connection the database dropped before it is used.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("GATEHOUSE_DB_CONN_MAX_AGE", default=60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("GATEHOUSE_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("GATEHOUSE_MEDIA_ROOT", default=str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files straight from the finders in development, no collectstatic needed.
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_AGE = env_int("GATEHOUSE_SESSION_SECONDS", default=8 * 3600)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env_bool("DJANGO_BEHIND_TLS_PROXY", default=False)
    else None
)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# HTTPS in production (README, "Production settings"): off by default so the demo runs on
# plain http://127.0.0.1; HSTS is a promise browsers keep, so it is opted into explicitly.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SECURE_REFERRER_POLICY = "same-origin"
CSRF_FAILURE_VIEW = "gatehouse.views.csrf_failure"
# Every page loads only this host's own scripts, styles and images: no inline script or
# style. The Swagger UI page alone adds inline styles (gatehouse/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # Swagger UI's stylesheet draws its icons as data: SVGs.
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# No page uses a powerful browser feature; deny them so injected content cannot either.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
}

# --- Authentication: lockout, throttles and the shared cache they count in ----------------
# Throttle counters live in a cache every process shares (web workers, Celery): a database
# table by default (created by a registry migration), Redis when GATEHOUSE_CACHE_URL says so
# (e.g. redis://127.0.0.1:6379/3). A per-process memory cache would count each worker apart.
CACHES = {"default": env_cache_url("GATEHOUSE_CACHE_URL", default="dbcache://gatehouse_cache")}
# How many reverse proxies stand in front of the app and append to X-Forwarded-For. 0 (the
# default) trusts no header and takes the peer address; otherwise the N-th address from the
# right is the client's, so a client cannot pick its own address by sending the header.
GATEHOUSE_NUM_PROXIES = env_int("GATEHOUSE_NUM_PROXIES", default=0, minimum=0)
AUTHENTICATION_BACKENDS = [
    # Refuses any password check (login, token endpoint, e-signature) for a locked account.
    "registry.accounts.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# django-axes counts failures in the database (shared by every process) per account and,
# separately, per client address; either reaching the limit locks for the cool-off time.
AXES_FAILURE_LIMIT = env_int("GATEHOUSE_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("GATEHOUSE_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# An address is shared by everyone behind an office NAT or proxy: it locks after its own,
# higher count, so a few people mistyping cannot lock out a whole office.
GATEHOUSE_LOGIN_IP_FAILURE_LIMIT = env_int("GATEHOUSE_LOGIN_IP_FAILURE_LIMIT", default=50)
AXES_HANDLER = "registry.accounts.LockoutHandler"
# A failure during the lockout does not extend it, so the message's "try again in" holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Axes resolves the client address with the same rule as DRF's throttles (NUM_PROXIES), so
# the lockout, the throttle and the audit log name the same address. (ipware's proxy count
# expects the proxies themselves in the header, which a standard reverse proxy does not add.)
AXES_CLIENT_IP_CALLABLE = "registry.accounts.client_ip"
# Every surface answers a lockout itself (login form, API 429, sign-off error) and the audit
# chain records it, so axes' response-rewriting middleware is not installed.
SILENCED_SYSTEM_CHECKS = ["axes.W002"]
AXES_VERBOSE = False
# Personal API tokens expire after this many days unless their owner picks another lifetime
# (0: never). CI tokens never expire unless given a lifetime when issued.
GATEHOUSE_TOKEN_DAYS = env_int("GATEHOUSE_TOKEN_DAYS", default=90, minimum=0)

# Uploads: the API refuses bodies over this many bytes with 413 before reading them.
GATEHOUSE_MAX_UPLOAD_BYTES = env_int("GATEHOUSE_MAX_UPLOAD_MB", default=200) * 1024 * 1024
# A file part over this size is spooled to a temporary file (FILE_UPLOAD_TEMP_DIR), never held
# in memory; registration then reads it in blocks (registry.evaluation.BLOCK_BYTES).
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Model files are parsed and loaded in a child process with these limits (registry.sandbox).
GATEHOUSE_MODEL_MEMORY_MB = env_int("GATEHOUSE_MODEL_MEMORY_MB", default=2048)
GATEHOUSE_MODEL_LOAD_SECONDS = env_float("GATEHOUSE_MODEL_LOAD_SECONDS", default=60.0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "registry.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "registry.api.schema.GatehouseAutoSchema",
    # Bounded JSON (size, nesting) and oversized form fields as the API's JSON 4xx.
    "DEFAULT_PARSER_CLASSES": [
        "registry.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "registry.api.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "registry.api.pagination.Pages",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "registry.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"auth": env_rate("GATEHOUSE_AUTH_RATE", default="20/min")},
    "NUM_PROXIES": GATEHOUSE_NUM_PROXIES,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Gatehouse API",
    "DESCRIPTION": "Model governance: registry, reports, reviews and audit.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Two models have a "status" field with different choices: name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "VersionStatusEnum": "registry.models.VersionStatus",
        "ReportStatusEnum": "explain.models.ReportStatus",
        "DeliveryStatusEnum": "events.models.DeliveryStatus",
    },
}

# Celery. The default broker is a folder on disk, so a laptop needs no server.
# Time limits are the worker's: messages carry none (explain.queue), so the settings
# of the process that runs a task decide.
CELERY_TASK_TIME_LIMIT = env_int("GATEHOUSE_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("GATEHOUSE_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", default="filesystem://")
# Connecting, and then every socket read and write, give up after these many seconds: a broker
# that accepts the connection and then hangs (stopped, swapping) must not hold a web request.
GATEHOUSE_BROKER_TIMEOUT = env_float("GATEHOUSE_BROKER_TIMEOUT", default=2.0)
GATEHOUSE_BROKER_SOCKET_TIMEOUT = env_float("GATEHOUSE_BROKER_SOCKET_TIMEOUT", default=5.0)
# Redis gives an unacked message back only after this; it must outlast the hard time limit.
GATEHOUSE_REDIS_VISIBILITY_TIMEOUT = env_int(
    "GATEHOUSE_REDIS_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 300
)


def broker_transport_options(url: str, data_dir: Path = DATA_DIR) -> dict[str, object]:
    """Transport options for a broker URL: folders for the embedded broker, timeouts for
    Redis and RabbitMQ (with publisher confirms)."""
    if url.startswith("filesystem://"):
        folders = {sub: data_dir / "broker" / sub for sub in ("queue", "processed", "control")}
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
            "store_processed": False,
            "polling_interval": 0.2,
        }
    if url.startswith(("redis://", "rediss://")):
        return {
            "socket_connect_timeout": GATEHOUSE_BROKER_TIMEOUT,
            "socket_timeout": GATEHOUSE_BROKER_SOCKET_TIMEOUT,
            "visibility_timeout": GATEHOUSE_REDIS_VISIBILITY_TIMEOUT,
        }
    if url.startswith(("amqp://", "amqps://", "pyamqp://")):
        # A publish returns once RabbitMQ holds the message, or fails within the timeout.
        return {
            "confirm_publish": True,
            "read_timeout": GATEHOUSE_BROKER_SOCKET_TIMEOUT,
            "write_timeout": GATEHOUSE_BROKER_SOCKET_TIMEOUT,
        }
    return {}


CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Publishing must not hang a web request when the broker is down: fail fast, the sweep
# re-sends queued work later.
CELERY_BROKER_CONNECTION_TIMEOUT = GATEHOUSE_BROKER_TIMEOUT
CELERY_TASK_PUBLISH_RETRY = False
# Reports have a queue of their own, so the sweep can count their messages in it; the sweep
# has another, so it never waits behind a backlog of reports. Every worker consumes all the
# declared queues (`celery` for any other task).
CELERY_TASK_DEFAULT_QUEUE = "celery"
GATEHOUSE_REPORT_QUEUE = "gatehouse.reports"
GATEHOUSE_SWEEP_QUEUE = "gatehouse.sweep"
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name), routing_key=name)
    for name in (CELERY_TASK_DEFAULT_QUEUE, GATEHOUSE_REPORT_QUEUE, GATEHOUSE_SWEEP_QUEUE)
)
CELERY_TASK_ROUTES = {
    "explain.tasks.run_report": {"queue": GATEHOUSE_REPORT_QUEUE},
    "explain.tasks.sweep_reports": {"queue": GATEHOUSE_SWEEP_QUEUE},
    "events.tasks.dispatch_events": {"queue": GATEHOUSE_SWEEP_QUEUE},
    "events.tasks.sweep_deliveries": {"queue": GATEHOUSE_SWEEP_QUEUE},
    "events.tasks.sweep_notification_emails": {"queue": GATEHOUSE_SWEEP_QUEUE},
}

# Reports.
GATEHOUSE_BOOTSTRAP_SAMPLES = env_int("GATEHOUSE_BOOTSTRAP_SAMPLES", default=1000)
GATEHOUSE_SHAP_MAX_ROWS = env_int("GATEHOUSE_SHAP_MAX_ROWS", default=2000)
# A running report whose heartbeat is older than this is taken to have lost its worker.
GATEHOUSE_REPORT_STALE_SECONDS = env_int("GATEHOUSE_REPORT_STALE_SECONDS", default=120)
# A queued report whose message is older than this is sent again (duplicates are harmless).
GATEHOUSE_REPORT_RESEND_SECONDS = env_int("GATEHOUSE_REPORT_RESEND_SECONDS", default=600)
# A report whose worker was lost this many times is failed instead of re-queued again.
GATEHOUSE_REPORT_MAX_ATTEMPTS = env_int("GATEHOUSE_REPORT_MAX_ATTEMPTS", default=3)
# Events and webhooks.
# The address people and receivers reach this app at: links in webhooks and e-mails.
GATEHOUSE_BASE_URL = env_str("GATEHOUSE_BASE_URL", default="http://127.0.0.1:8000")
# Webhook delivery: a receiver has this long to answer one attempt (seconds).
GATEHOUSE_WEBHOOK_TIMEOUT = env_float("GATEHOUSE_WEBHOOK_TIMEOUT", default=15.0, minimum=0.1)
# Seconds to wait before each retry (with jitter); after the last, a delivery has failed.
# Like Standard Webhooks / Svix: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (over 27 h in all).
GATEHOUSE_WEBHOOK_RETRY_SCHEDULE = env_int_list(
    "GATEHOUSE_WEBHOOK_RETRY_SCHEDULE", default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
# A subscription that has failed (no 2xx) for this many days is disabled.
GATEHOUSE_WEBHOOK_DISABLE_AFTER_DAYS = env_int(
    "GATEHOUSE_WEBHOOK_DISABLE_AFTER_DAYS", default=5, minimum=1
)
# Receivers are refused on loopback, private, link-local and metadata addresses unless one of
# these networks (CIDR, comma-separated) names them; and plain http unless this allows it.
GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = env_networks("GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS", default=[])
GATEHOUSE_WEBHOOK_ALLOW_HTTP = env_bool("GATEHOUSE_WEBHOOK_ALLOW_HTTP", default=False)

# Notification e-mail (events.mail): SMTP in production; the demo (make run) prints each
# message on the console instead.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEMO_MODE
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env_int("EMAIL_PORT", default=25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", default="")  # a secret: environment only
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS or EMAIL_USE_SSL, not both.")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", default="Gatehouse <gatehouse@localhost>")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", default=15, minimum=1)

CELERY_BEAT_SCHEDULE = {
    "sweep-reports": {
        "task": "explain.tasks.sweep_reports",
        "schedule": env_float("GATEHOUSE_SWEEP_SECONDS", default=30.0),
    },
    # Events: how often the audit chain is read for new events to deliver and notify.
    "dispatch-events": {
        "task": "events.tasks.dispatch_events",
        "schedule": env_float("GATEHOUSE_EVENTS_SECONDS", default=5.0),
    },
    # Webhooks: send again the deliveries that are due and that no sender holds.
    "sweep-deliveries": {
        "task": "events.tasks.sweep_deliveries",
        "schedule": env_float("GATEHOUSE_WEBHOOK_SWEEP_SECONDS", default=30.0),
    },
    # Notification e-mail a broker or mail server that was down left unsent.
    "sweep-notification-emails": {
        "task": "events.tasks.sweep_notification_emails",
        "schedule": env_float("GATEHOUSE_MAIL_SWEEP_SECONDS", default=60.0, minimum=1.0),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        # aif360 announces optional algorithms it cannot import on the root logger.
        "drop_optional_import_noise": {"()": "gatehouse.logging.DropOptionalImportNoise"},
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["drop_optional_import_noise"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("GATEHOUSE_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The folder broker has no host name; kombu says so at every connection.
        "kombu.connection": {"level": "ERROR"},
        # Failed logins are audit events; axes' own per-attempt lines are noise beside them.
        "axes": {"level": "ERROR"},
    },
}
