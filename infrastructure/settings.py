"""Django settings, each read once from the environment (see README "Configuration").

Every value comes through ``env`` (infrastructure/environment.py): the process environment, then
``.env``, then ``var/local.env``; one that does not parse stops the process naming the variable.
A new setting is one line here, ``NAME = env.int("NAME", default)`` (or ``env.str``, ``env.bool``,
``env.float``, ``env.list``), and one row in README's table, which a test holds to this file.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from infrastructure import environment, local_env
from infrastructure.logging_config import logging_config
from infrastructure.signed_note import InvalidNote, InvalidSigningKey, SigningKey, VerifierKey

BASE_DIR = Path(__file__).resolve().parent.parent
MIN_SECRET_KEY_LENGTH = 32
env = environment.load(BASE_DIR)
VAR_DIR = environment.var_dir(env, BASE_DIR)


def _required_key(name: str) -> str:
    """A secret from the environment (or var/local.env); made for the checkout only in development."""
    value = env.str(name, "")
    if not value:
        if not DEBUG:
            raise ImproperlyConfigured(
                f"{name} must be set when DEBUG is off (in a checkout, `make run` makes local keys"
                " in var/local.env that every command reads)"
            )
        value = local_env.read(local_env.create(VAR_DIR))[name]
    if len(value) < MIN_SECRET_KEY_LENGTH:
        # Both keys sign things (JWTs, audit links): a short one can be brute-forced offline.
        raise ImproperlyConfigured(f"{name} must be at least {MIN_SECRET_KEY_LENGTH} characters")
    return value


DEBUG = env.bool("DEBUG", False)
SECRET_KEY = _required_key("SECRET_KEY")
# Keys the audit chain and its seals. Keep it off the database host: whoever holds it and the
# database could rewrite history undetected. Changing it makes the existing chain unverifiable.
COSMO_AUDIT_KEY = _required_key("COSMO_AUDIT_KEY")
# Wraps the per-subject and per-period data keys that personal fields are encrypted under
# (envelope encryption, docs/adr/0016). Keep it off the database host and out of its backups.
# While rotating, the old keys stay listed (comma-separated) until `manage.py data_keys rotate` ran.
COSMO_MASTER_KEY = _required_key("COSMO_MASTER_KEY")
COSMO_PREVIOUS_MASTER_KEYS = tuple(environment.comma_separated(env, "COSMO_PREVIOUS_MASTER_KEYS"))
# Client addresses and user agents recorded in events become unreadable after this many days
# (`prune_audit` destroys the keys of older recording days).
COSMO_REQUEST_METADATA_DAYS = env.int("COSMO_REQUEST_METADATA_DAYS", 90)
# Signs the Merkle log's checkpoints (Ed25519: base64 of the 32-byte seed, or PEM), from the
# environment or a file, never the database; auditors verify with the public key alone. Without
# one, no checkpoint is made (proofs and `audit verify` still work).
COSMO_AUDIT_SIGNING_KEY = env.str("COSMO_AUDIT_SIGNING_KEY", "")
COSMO_AUDIT_SIGNING_KEY_FILE = env.str("COSMO_AUDIT_SIGNING_KEY_FILE", "")
# The log's name in checkpoints and in the public key (C2SP origin / key name).
COSMO_AUDIT_ORIGIN = env.str("COSMO_AUDIT_ORIGIN", "cosmo.local/audit")
if COSMO_AUDIT_SIGNING_KEY_FILE and not COSMO_AUDIT_SIGNING_KEY:
    try:
        COSMO_AUDIT_SIGNING_KEY = Path(COSMO_AUDIT_SIGNING_KEY_FILE).read_text(encoding="utf-8")
    except OSError as _error:
        raise ImproperlyConfigured(f"COSMO_AUDIT_SIGNING_KEY_FILE: {_error}") from None
if COSMO_AUDIT_SIGNING_KEY:
    try:  # refused at start, not as a 500 or a failing worker round later
        SigningKey.from_text(COSMO_AUDIT_ORIGIN, COSMO_AUDIT_SIGNING_KEY)
    except InvalidSigningKey as _error:
        raise ImproperlyConfigured(f"COSMO_AUDIT_SIGNING_KEY: {_error}") from None
if (
    "+" in COSMO_AUDIT_ORIGIN
    or not COSMO_AUDIT_ORIGIN.strip()
    or any(c.isspace() for c in COSMO_AUDIT_ORIGIN)
):
    raise ImproperlyConfigured("COSMO_AUDIT_ORIGIN must be a name without spaces or '+' (it names the key)")
# After a rotation (`audit rotate-signing-key`), the public verifier keys that signed earlier
# checkpoints (C2SP vkeys, comma-separated): `audit verify` accepts checkpoints they signed.
COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS = tuple(
    environment.comma_separated(env, "COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS")
)
for _vkey in COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS:
    try:
        _previous = VerifierKey.parse(_vkey)
    except InvalidNote as _error:
        raise ImproperlyConfigured(f"COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS: {_error}") from None
    if _previous.name != COSMO_AUDIT_ORIGIN:
        raise ImproperlyConfigured(
            f"COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS: {_previous.name!r} is not COSMO_AUDIT_ORIGIN's key"
        )
# Workers sign a checkpoint after this many new events, or this long after the last one if any
# event came since.
COSMO_CHECKPOINT_EVERY_EVENTS = env.int("COSMO_CHECKPOINT_EVERY_EVENTS", 1000)
COSMO_CHECKPOINT_EVERY_SECONDS = env.float("COSMO_CHECKPOINT_EVERY_SECONDS", 60.0)

ALLOWED_HOSTS = environment.comma_separated(env, "ALLOWED_HOSTS", "127.0.0.1,localhost")
if DEBUG:
    ALLOWED_HOSTS.append("testserver")
# Behind a reverse proxy that terminates TLS, absolute URLs (photo variants) must name the public
# scheme and host. The X-Forwarded-* headers are trusted only when told the proxy sets them.
if env.bool("COSMO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
# Proxies (IPs or CIDRs) whose X-Forwarded-For entries name the client (api/client_ip.py): the
# address audit metadata records and the login throttle counts. Empty: REMOTE_ADDR is the client.
TRUSTED_PROXIES = environment.comma_separated(env, "TRUSTED_PROXIES")
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _error:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_error}") from None
# HTTPS, for `check --deploy` and browsers (README "Production"): off by default, since `make run`
# serves plain HTTP on loopback. The probes stay reachable over HTTP for load balancers.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", False)
X_FRAME_OPTIONS = "DENY"
# The admin's cookies travel over HTTPS only when the site is served over HTTPS.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
SESSION_COOKIE_AGE = env.int("COSMO_ADMIN_SESSION_SECONDS", 8 * 3600)
# W003 (no CsrfViewMiddleware): CSRF rides on cookies a browser sends by itself. This API has no
# session or cookie authentication, only a bearer token the client puts in Authorization; the
# admin, which has a session cookie, protects each of its views (Django's AdminSite does).
SILENCED_SYSTEM_CHECKS = ["security.W003"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "projections",
    "api",
    # The operators' admin (api/admin/): its own site, so nothing registers itself by autodiscovery.
    # After api, whose templates/admin/ override the admin's own.
    "django.contrib.admin.apps.SimpleAdminConfig",
]

MIDDLEWARE = [
    # Outermost, so every answer (refusals by later middleware too) has an id, a log line and a metric.
    "api.middleware.RequestIdMiddleware",
    # Next, so preflights and error answers from later middleware carry the CORS headers too.
    "corsheaders.middleware.CorsMiddleware",
    # Before anything reads the Host or the body: their refusals are JSON in every serving mode.
    "api.middleware.RefuseUnservableRequestsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    # For /admin/ only in effect: the API authenticates bearer tokens alone (REST_FRAMEWORK below),
    # so a session cookie means nothing to it. The admin's views check CSRF themselves.
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# CORS for browser clients (Flutter web, single-page apps): off until origins are configured.
# Origins are comma-separated (https://app.example.com); regexes are space-separated, since a
# regex may hold a comma. Tokens travel in Authorization, never in cookies: no credentials mode.
CORS_ALLOWED_ORIGINS = env.str("CORS_ALLOWED_ORIGINS", "").replace(",", " ").split()
CORS_ALLOWED_ORIGIN_REGEXES = env.str("CORS_ALLOWED_ORIGIN_REGEXES", "").split()
CORS_URLS_REGEX = r"^/(api|media)/"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "if-match",
    "if-none-match",
    "x-cosmo-min-position",
    "x-request-id",
)
CORS_EXPOSE_HEADERS = (
    "ETag",
    "Location",
    "X-Cosmo-Position",
    "X-Request-ID",
    "Retry-After",
    "Idempotent-Replayed",
)
CORS_PREFLIGHT_MAX_AGE = env.int("CORS_PREFLIGHT_MAX_AGE", 600)

ROOT_URLCONF = "api.urls"
WSGI_APPLICATION = "infrastructure.wsgi.application"
AUTH_USER_MODEL = "api.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
# Swagger UI's assets come from installed apps; serving them through the finders avoids a
# collectstatic step in `make run` and in deployments alike.
WHITENOISE_USE_FINDERS = True
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

# While the database is unreachable, requests answer 503 within about this long instead of hanging.
COSMO_DATABASE_CONNECT_TIMEOUT_SECONDS = env.int("COSMO_DATABASE_CONNECT_TIMEOUT_SECONDS", 5)
_database = env.dj_db_url(
    "DATABASE_URL", f"sqlite:///{VAR_DIR / 'cosmo.sqlite3'}", conn_max_age=60, conn_health_checks=True
)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # One writer at a time, taken at BEGIN: no "database is locked" upgrades mid-transaction.
    _database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _database["CONN_MAX_AGE"] = 0
    # A file beside the real one, not Django's in-memory default: the event store opens it too.
    _sqlite_file = Path(_database["NAME"])
    _database["TEST"] = {"NAME": str(_sqlite_file.with_name(f"test-{_sqlite_file.name}"))}
else:
    _database.setdefault("OPTIONS", {})["connect_timeout"] = COSMO_DATABASE_CONNECT_TIMEOUT_SECONDS
DATABASES = {"default": _database}
# A PostgreSQL streaming replica of DATABASE_URL: reads of the read models go there (docs/scale-out.md).
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL and _database["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_REPLICA_URL needs DATABASE_URL on PostgreSQL (a streaming replica)")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.dj_db_url("DATABASE_REPLICA_URL", conn_max_age=60, conn_health_checks=True)
    DATABASES["replica"]["OPTIONS"] = {"connect_timeout": COSMO_DATABASE_CONNECT_TIMEOUT_SECONDS}
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}  # test runs read their own test database
DATABASE_ROUTERS = ["infrastructure.read_replica.ReadModelRouter"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.tokens.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["api.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.CosmoAutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("COSMO_ACCESS_TOKEN_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "UPDATE_LAST_LOGIN": False,
    # A refresh token is good for one refresh (api.tokens.RefreshSerializer spends it).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Cosmo API",
    "DESCRIPTION": "Event-sourced, audit-first property management.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # A PATCH body is the serializer as declared: a field it requires stays required.
    "COMPONENT_SPLIT_PATCH": False,
    # Query enums list their values only: an empty string is "no filter", not a value to send.
    "ENUM_ADD_EXPLICIT_BLANK_NULL_CHOICE": False,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "ENUM_NAME_OVERRIDES": {
        "PropertyStatusEnum": "api.schema.PROPERTY_STATUSES",
        "ImageStatusEnum": "api.schema.IMAGE_STATUSES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.finish",
    ],
}

# Failed logins, counted in the database (api/login_throttle.py): per username, and per client address.
COSMO_LOGIN_FAILURES_ALLOWED = env.int("COSMO_LOGIN_FAILURES_ALLOWED", 5)
COSMO_LOGIN_ADDRESS_FAILURES_ALLOWED = env.int("COSMO_LOGIN_ADDRESS_FAILURES_ALLOWED", 20)
COSMO_LOGIN_FAILURE_WINDOW_SECONDS = env.int("COSMO_LOGIN_FAILURE_WINDOW_SECONDS", 300)
# Photos: limits at the door, variants made by the image policy, and where they are stored.
COSMO_MAX_UPLOAD_BYTES = env.int("COSMO_MAX_UPLOAD_BYTES", 25 * 1024 * 1024)
COSMO_MAX_IMAGE_PIXELS = env.int("COSMO_MAX_IMAGE_PIXELS", 50_000_000)
COSMO_IMAGE_WIDTHS = tuple(env.list("COSMO_IMAGE_WIDTHS", [2048, 1024, 480], subcast=int))
# WebP only: every browser of 2026 shows it, and a JPEG beside it would halve the savings; AVIF is
# smaller but several times slower to make (docs/adr/0014-searched-webp-quality-and-woken-worker.md).
COSMO_IMAGE_FORMATS = tuple(env.list("COSMO_IMAGE_FORMATS", ["webp"]))
# Each variant's quality is the lowest of its format's grid that keeps luma SSIM >= this against the
# resized image (0 turns the search off: fixed qualities).
COSMO_IMAGE_TARGET_SSIM = env.float("COSMO_IMAGE_TARGET_SSIM", 0.95)
COSMO_IMAGE_ATTEMPTS = env.int("COSMO_IMAGE_ATTEMPTS", 3)
COSMO_IMAGE_RETRY_SECONDS = env.float("COSMO_IMAGE_RETRY_SECONDS", 1.0)
CLOUDINARY_URL = env.str("CLOUDINARY_URL", "")
COSMO_CLOUDINARY_TIMEOUT_SECONDS = env.float("COSMO_CLOUDINARY_TIMEOUT_SECONDS", 30.0)
# Private photos on Cloudinary: the hex key of the account's token-based access, so that signed
# delivery URLs also expire (without it they are signed but never expire).
COSMO_CLOUDINARY_AUTH_TOKEN_KEY = env.str("COSMO_CLOUDINARY_AUTH_TOKEN_KEY", "")
BLOB_ROOT = VAR_DIR / "blobs"
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
# Private photos: variant URLs handed to clients are signed and expire after this many seconds
# (api/media_urls.py); 0 keeps them plain, valid for as long as the photo exists.
COSMO_MEDIA_URL_TTL_SECONDS = env.int("COSMO_MEDIA_URL_TTL_SECONDS", 0)
if COSMO_MEDIA_URL_TTL_SECONDS < 0:
    raise ImproperlyConfigured("COSMO_MEDIA_URL_TTL_SECONDS must be 0 (off) or a number of seconds")
# Uploads beyond this spill to a temporary file instead of memory; the size limit is ours above.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

COSMO_MIN_POSITION_WAIT_SECONDS = env.float("COSMO_MIN_POSITION_WAIT_SECONDS", 5.0)
# How long a read with X-Cosmo-Min-Position waits for the replica before it reads the primary instead.
COSMO_REPLICA_WAIT_SECONDS = env.float("COSMO_REPLICA_WAIT_SECONDS", 0.5)
COSMO_READY_MAX_LAG_EVENTS = env.int("COSMO_READY_MAX_LAG_EVENTS", 1000)
# Background workers: a heartbeat per completed round; /ready is 503 when one is older than this.
COSMO_WORKER_HEARTBEAT_SECONDS = env.float("COSMO_WORKER_HEARTBEAT_SECONDS", 5.0)
COSMO_READY_WORKER_STALE_SECONDS = env.float("COSMO_READY_WORKER_STALE_SECONDS", 120.0)
COSMO_WORKER_MAX_BACKOFF_SECONDS = env.float("COSMO_WORKER_MAX_BACKOFF_SECONDS", 5.0)
COSMO_MAX_EVENT_BYTES = env.int("COSMO_MAX_EVENT_BYTES", 64 * 1024)
# A write's Idempotency-Key is remembered (with its response) this long, then counts as new.
COSMO_IDEMPOTENCY_KEY_HOURS = env.float("COSMO_IDEMPOTENCY_KEY_HOURS", 24.0)

# One JSON object per line on stderr, with the request and caller (docs/observability.md).
LOGGING = logging_config(env.str("LOG_LEVEL", "INFO"))
# Prometheus scrapers authenticate with this bearer token at /metrics (as well as admins' tokens).
COSMO_METRICS_TOKEN = env.str("COSMO_METRICS_TOKEN", "")
if COSMO_METRICS_TOKEN and len(COSMO_METRICS_TOKEN) < MIN_SECRET_KEY_LENGTH:
    raise ImproperlyConfigured(f"COSMO_METRICS_TOKEN must be at least {MIN_SECRET_KEY_LENGTH} characters")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
]
