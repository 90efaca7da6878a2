"""Django settings, derived from :mod:`proctorhub.config` (environment + TOML file)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from proctorhub import config as _config

CONFIG = _config.load()

SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
ALLOWED_HOSTS = CONFIG.allowed_hosts
PROCTORHUB_ENV = CONFIG.env

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "simple_history",
    "proctorhub.accounts",
    "proctorhub.exams",
    "proctorhub.attempts",
    "proctorhub.reviews",
    "proctorhub.notifications",
    "proctorhub.providers",
    "proctorhub.api",
    "proctorhub.runtime",
    "proctorhub.dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "proctorhub.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "proctorhub.urls"
WSGI_APPLICATION = "proctorhub.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [str(Path(__file__).resolve().parent / "templates")],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": dj_database_url.parse(CONFIG.database_url, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the embedded runner's background thread and gunicorn share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = str(CONFIG.var_dir / "static")
# whitenoise serves static files from the app itself (no CDN, no separate web server; `make run`
# works offline). `proctorhub serve` runs collectstatic; outside production the app directories
# are served directly too, so tests and `runserver` need no collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = not CONFIG.is_production
if not CONFIG.is_production:  # whitenoise warns on every request when STATIC_ROOT is missing
    Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)

if CONFIG.env == "test":
    # The suite creates many users; a cheap hasher keeps it fast. Never outside tests.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/staff/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "proctorhub.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "proctorhub.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "proctorhub API",
    "DESCRIPTION": "Exams, attempts, allowances and provider callbacks for proctored online exams.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AttemptStatusEnum": "proctorhub.attempts.statuses.Status",
        "ReviewStatusEnum": ["passed", "violation", "suspicious", "not_reviewed"],
    },
}

DATA_UPLOAD_MAX_MEMORY_SIZE = int(CONFIG.reviews.get("max_body_bytes", 1024 * 1024))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "proctorhub.logformat.JsonFormatter"},
        "plain": {
            "()": "proctorhub.logformat.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if CONFIG.is_production else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.server": {"level": "WARNING"}},
}

if CONFIG.is_production:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- notifications: email, Celery, operator templates (outbox; see README "Outbox, webhooks and
# workers"). Appended block; everything above is unchanged. ----------------------------------------
import os as _os  # noqa: E402

# SMTP by default; development prints mail to the console. Tests get Django's locmem backend.
EMAIL_BACKEND = _os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend" if CONFIG.env == "development"
    else "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = _os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(_os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = _os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _os.environ.get("EMAIL_USE_TLS", "").lower() in {"1", "true", "yes", "on"}
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = CONFIG.email["from_address"]

# Operators override the learner/support email templates by putting files with the same names
# (proctorhub/email/...) in one of these directories; they are searched before the built-ins.
TEMPLATES[0]["DIRS"] = [*map(str, CONFIG.email["template_dirs"]), *TEMPLATES[0]["DIRS"]]

# Celery (``proctorhub worker``): empty broker URL = no broker, the embedded runner sends.
CELERY_BROKER_URL = _os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True                      # a task whose worker dies is redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_TIMEOUT = 2              # an unreachable broker must not stall a request
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.1,
                                    "interval_step": 0.2, "interval_max": 0.5}
CELERY_TASK_DEFAULT_QUEUE = _os.environ.get("CELERY_QUEUE", "proctorhub")
CELERY_BEAT_SCHEDULE = {  # for a separate `celery beat`; `proctorhub worker` sweeps by itself
    "proctorhub-outbox-sweep": {"task": "proctorhub.outbox.sweep",
                                "schedule": float(CONFIG.outbox["sweep_seconds"])},
}

# Cache (rate limits, e.g. unknown attempt codes on the PSI launch URL). Per-process memory by
# default; set PROCTORHUB_CACHE_URL=redis://host:6379/1 so every gunicorn worker shares counters.
CACHES = {"default": (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache",
     "LOCATION": _os.environ["PROCTORHUB_CACHE_URL"]}
    if _os.environ.get("PROCTORHUB_CACHE_URL")
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "proctorhub"})}
