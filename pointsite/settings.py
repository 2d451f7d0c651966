"""Django settings for pointsite; every value comes from the environment (see .env.example)."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    """Return the environment variable `name`, or `default` when unset or empty."""
    value = os.environ.get(name, "")
    return value if value.strip() else default


def env_bool(name: str, default: bool) -> bool:
    """Return the environment variable `name` read as a boolean."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """Return the environment variable `name` read as an integer of at least `minimum`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """Return the comma-separated environment variable `name` as a list."""
    raw = os.environ.get(name, "")
    items = [item.strip() for item in raw.split(",") if item.strip()]
    return items or default


VAR_DIR = Path(env_str("POINTSITE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Production mode turns on every deploy check and refuses to start without a real secret key.
PRODUCTION = env_bool("POINTSITE_PRODUCTION", False)
DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    key = os.environ.get("DJANGO_SECRET_KEY", "").strip()
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when POINTSITE_PRODUCTION=1 "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    # Local use: a random key kept in var/ so sessions survive restarts; never committed.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "points",
    "django_tasks",
    "django_tasks_db",
]

# Imports and generation run as tasks in `manage.py db_worker` (django-tasks' database backend),
# never in a web worker; `make run` starts one worker beside the web server.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# No GZipMiddleware: compressing a stream makes proxies and clients buffer it.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside all the others but security's: every answer under /api/ leaves as JSON.
    "points.api_errors.ApiErrorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a refused login into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pointsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
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

WSGI_APPLICATION = "pointsite.wsgi.application"
ASGI_APPLICATION = "pointsite.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The web server, the task worker and import commands share this file: WAL lets readers go on
    # while one writes, IMMEDIATE transactions wait for the lock (up to the timeout) instead of
    # failing when a read transaction must become a write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL", "transaction_mode": "IMMEDIATE", "timeout": 20}
    )
    # Tests: a file too, not shared-cache memory, whose table locks fail at once ("database table
    # is locked") where a file's wait.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- failed logins (django-axes): a username is locked out from one address after too many --------
AUTHENTICATION_BACKENDS = ["points.auth.LoginThrottle", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("POINTSITE_LOGIN_FAILURE_LIMIT", 5, minimum=1)
_LOGIN_COOLOFF_MINUTES = env_int("POINTSITE_LOGIN_COOLOFF_MINUTES", 15, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=_LOGIN_COOLOFF_MINUTES)
# By username and address together: another user, or the same one elsewhere, is not locked out.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "points.auth.client_ip"
AXES_VERBOSE = False  # no banner on every manage.py command; failed logins are still logged
AXES_COOLOFF_MESSAGE = (
    f"Login refused: {AXES_FAILURE_LIMIT} failed logins for this username from your address. "
    f"Try again in {_LOGIN_COOLOFF_MINUTES} minutes (each further attempt restarts the wait), "
    "or ask an administrator to run: manage.py axes_reset_username <username>"
)
# How many proxies (each adding to X-Forwarded-For) stand before the app; 0 = clients connect directly.
POINTSITE_PROXY_COUNT = env_int("POINTSITE_PROXY_COUNT", 0)
# Refused CSRF checks answer in JSON under /api/ (Django's page elsewhere).
CSRF_FAILURE_VIEW = "points.api_errors.csrf_failure"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [
    ("app", BASE_DIR / "frontend" / "src"),
]
_D3_DIST = BASE_DIR / "frontend" / "node_modules" / "d3" / "dist"
if _D3_DIST.is_dir():
    STATICFILES_DIRS.append(("vendor/d3", _D3_DIST))
# The basemap of lon/lat datasets: Natural Earth land and countries as TopoJSON (world-atlas),
# turned into GeoJSON in the page by topojson-client's UMD build; both from npm, like d3.
_WORLD_ATLAS = BASE_DIR / "frontend" / "node_modules" / "world-atlas"
if _WORLD_ATLAS.is_dir():
    STATICFILES_DIRS.append(("vendor/world-atlas", _WORLD_ATLAS))
_TOPOJSON_DIST = BASE_DIR / "frontend" / "node_modules" / "topojson-client" / "dist"
if _TOPOJSON_DIST.is_dir():
    STATICFILES_DIRS.append(("vendor/topojson-client", _TOPOJSON_DIST))
# apache-arrow bundled for the point worker by `make node` (esbuild, frontend/vendor-entry/arrow.mjs).
_ARROW_BUILD = BASE_DIR / "frontend" / "build"
if _ARROW_BUILD.is_dir():
    STATICFILES_DIRS.append(("vendor/arrow", _ARROW_BUILD))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the source folders too, so `make run` works before/without collectstatic.
WHITENOISE_USE_FINDERS = True

# --- the point store and the streaming API -------------------------------------------------
POINTS_STORE_URL = env_str("POINTS_STORE_URL", f"sqlite:///{VAR_DIR / 'points.sqlite3'}")
# Largest accepted polygon body, in bytes, and most vertices over all rings of a query.
POINTS_MAX_BODY_BYTES = env_int("POINTS_MAX_BODY_BYTES", 1_048_576, minimum=1024)
POINTS_MAX_VERTICES = env_int("POINTS_MAX_VERTICES", 10_000, minimum=4)
# Size the stream aims for in each chunk it yields.
POINTS_STREAM_CHUNK_BYTES = env_int("POINTS_STREAM_CHUNK_BYTES", 131_072, minimum=1024)
# Most points one request may stream (0 = no limit), and the longest a stream may take in seconds.
POINTS_MAX_RESULTS = env_int("POINTS_MAX_RESULTS", 0)
POINTS_MAX_STREAM_SECONDS = env_int("POINTS_MAX_STREAM_SECONDS", 600)
# Longest the server waits on a client (served by bin/serve): for a request's headers, for more of its
# body, or for it to take the next piece of a response; then the connection is closed.
POINTS_STREAM_IDLE_SECONDS = env_int("POINTS_STREAM_IDLE_SECONDS", 30, minimum=1)
# When set, the API wants "Authorization: Bearer <token>" (or a logged-in user's session).
POINTS_API_TOKEN = os.environ.get("POINTS_API_TOKEN", "").strip()
# MongoDB (options written in POINTS_STORE_URL win over these): how long to look for a server
# (longer than an election, ~12 s, so a failover delays requests instead of failing them), and the
# longest a query may run on the server (0 = no limit).
POINTS_MONGO_SERVER_SELECTION_TIMEOUT_MS = env_int("POINTS_MONGO_SERVER_SELECTION_TIMEOUT_MS", 30_000, minimum=1)
POINTS_MONGO_MAX_TIME_MS = env_int("POINTS_MONGO_MAX_TIME_MS", 120_000)
# How long a MongoDB socket may wait for the server (0 = forever): a hung server frees the worker.
POINTS_MONGO_SOCKET_TIMEOUT_MS = env_int("POINTS_MONGO_SOCKET_TIMEOUT_MS", 120_000)
# The longest an import's index build may take (it is not bound by the socket timeout).
POINTS_MONGO_INDEX_TIMEOUT_S = env_int("POINTS_MONGO_INDEX_TIMEOUT_S", 7200, minimum=1)
# Shard each dataset version's collection by this key before loading it (e.g. _id:hashed); empty: unsharded.
POINTS_MONGO_SHARD_KEY = env_str("POINTS_MONGO_SHARD_KEY", "")
# A replaced version is dropped once no stream reads it, or this many seconds after at the latest.
POINTS_MONGO_RETIRED_GRACE_S = env_int("POINTS_MONGO_RETIRED_GRACE_S", 3600, minimum=30)

# Admin uploads: the largest accepted, and where they wait (under random names) for their import.
POINTS_MAX_UPLOAD_BYTES = env_int("POINTS_MAX_UPLOAD_BYTES", 536_870_912, minimum=1024)
POINTS_UPLOAD_DIR = Path(env_str("POINTS_UPLOAD_DIR", str(VAR_DIR / "uploads")))
# Uploads being received are written beside the kept ones (one disk to watch, and the keep is a rename).
FILE_UPLOAD_TEMP_DIR = str(POINTS_UPLOAD_DIR / "incoming")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
# Where each running import holds its lock file (a lock that its process's death releases).
POINTS_IMPORT_LOCK_DIR = Path(env_str("POINTS_IMPORT_LOCK_DIR", str(VAR_DIR / "imports")))

DATA_UPLOAD_MAX_MEMORY_SIZE = max(POINTS_MAX_BODY_BYTES, 2_621_440)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
