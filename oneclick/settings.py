"""OneClick settings: everything comes from the environment (and `.env`).

Safe defaults: DEBUG is off, cookies are secure and HTTPS is enforced unless
the environment opts out (the embedded demo writes `SECURE_HTTPS=off` into
its `.env`).
"""

from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Values already in the environment win over the file.
ONECLICK_ENV_FILE = env.str("ONECLICK_ENV_FILE", default=str(BASE_DIR / ".env"))
environ.Env.read_env(ONECLICK_ENV_FILE)

DEBUG = env.bool("DEBUG", default=False)


def _required_secret(name):
    value = env.str(name, default="")
    if not value:
        if DEBUG:
            # Development only: a fixed, obviously unsafe value.
            return f"insecure-development-{name.lower()}"
        raise ImproperlyConfigured(f"{name} must be set when DEBUG is off.")
    return value


SECRET_KEY = _required_secret("SECRET_KEY")
ONECLICK_ENCRYPTION_KEY = _required_secret("ONECLICK_ENCRYPTION_KEY")
if ONECLICK_ENCRYPTION_KEY == SECRET_KEY:
    raise ImproperlyConfigured("ONECLICK_ENCRYPTION_KEY must differ from SECRET_KEY.")
# Older encryption keys still accepted for reading while secrets are rotated.
ONECLICK_ENCRYPTION_KEY_PREVIOUS = env.list("ONECLICK_ENCRYPTION_KEY_PREVIOUS", default=[])
if SECRET_KEY in ONECLICK_ENCRYPTION_KEY_PREVIOUS:
    raise ImproperlyConfigured("ONECLICK_ENCRYPTION_KEY_PREVIOUS must not contain SECRET_KEY.")
CRYPTOGRAPHY_KEY = ONECLICK_ENCRYPTION_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The platform's outgoing IP addresses: users whitelist them on their keys.
ONECLICK_EGRESS_IPS = env.list("ONECLICK_EGRESS_IPS", default=[])
ONECLICK_SITE_URL = env.str("ONECLICK_SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org/bot")
PAPEREXCHANGE_URL = env.str("PAPEREXCHANGE_URL", default="http://127.0.0.1:8100").rstrip("/")
# A venue's API somewhere else than where ccxt knows it (its testnet, a compatible
# staging server): "binance=https://testnet.binance.vision,kraken=https://...".
EXCHANGE_API_URLS = {venue: url.rstrip("/") for venue, url in env.dict("EXCHANGE_API_URLS", default={}).items()}
# The paper exchange's state directory, where the demo seeding creates its account.
PAPEREXCHANGE_DATA = env.str("PAPEREXCHANGE_DATA", default=str(BASE_DIR / "var" / "paperexchange"))
ONECLICK_DEMO_PASSWORD = env.str("ONECLICK_DEMO_PASSWORD", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_q",
    "csp",
    "oneclick",
    "keys",
    "strategies",
    "portfolios",
    "alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "oneclick.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "oneclick.urls"
WSGI_APPLICATION = "oneclick.wsgi.application"

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
                "oneclick.context_processors.portal",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# One test database per test run (xdist adds a suffix per worker), so runs never share one.
_test_run = env.str("ONECLICK_TEST_RUN", default="main")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Test databases are files, so worker processes started by tests share them.
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-db-{_test_run}.sqlite3")}
    # Several processes (web, workers) share the file: wait for locks, and
    # take the write lock at the start of a transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_test_run}"}
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="oneclick")
# One cache every process of the deployment shares: rate limits (sign-in, second factor, key linking, sign-up,
# password reset), the exchanges' request budget, queue markers and the task cluster's heartbeats hold across
# web workers, task workers and restarts. Redis when configured, else the database (its table is created by
# `migrate`). Its size is bounded high so that culling (a third of the entries dropped when full) never
# forgets a limit in practice. "local" is one process's own (a few seconds of tickers).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        },
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "oneclick_cache",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {"MAX_ENTRIES": env.int("CACHE_MAX_ENTRIES", default=200_000)},
        },
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }

Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="oneclick"),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 3,
    "catch_up": False,
    "label": "Tasks",
    "sync": env.bool("Q_SYNC", default=False),
    # Successful Task rows kept, the oldest pruned first (0 keeps all): a fan-out writes one per bot.
    "save_limit": env.int("Q_SAVE_LIMIT", default=250),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
# Every qcluster of a deployment shares one queue, named by Q_CLUSTER_NAME (django-q2 records that name
# on its Task rows). A label per cluster (e.g. the host) records which one ran each task: "<name>/<label>".
Q_CLUSTER_LABEL = env.str("Q_CLUSTER_LABEL", default="")
# Orders in flight at once per worker process of a fan-out: one thread per exchange key (a key's bots go in
# turn), each with its own database connection. SQLite serialises writers, so it gets few.
ORDER_THREADS = env.int("ORDER_THREADS", default=2 if DATABASES["default"]["ENGINE"].endswith("sqlite3") else 16)
# Three queues, each served by its own qclusters (django-q2's "cluster" argument names the queue; every task
# the project queues names its queue, since a task queued from a worker would otherwise go to that worker's):
# - "<name>-orders" (Q_QUEUE=orders): the bots' tasks of a signal, their retries and redeliveries. Nothing else
#   runs there, so backtests, reconciliations, training and alert delivery never delay an order;
# - "<name>-backtests" (Q_QUEUE=backtests): backtests, so a burst of them never delays anything else;
# - "<name>" (Q_QUEUE empty): everything else, and the schedules.
# The queues share the name's signing salt, so every side reads the others' payloads. (django-q2's own
# switch, a Q_CLUSTER_NAME other than the name, cannot serve here: this project reads the name itself from
# Q_CLUSTER_NAME.)
TASKS_QUEUE = Q_CLUSTER["name"]
ORDERS_QUEUE = f"{Q_CLUSTER['name']}-orders"
BACKTEST_QUEUE = f"{Q_CLUSTER['name']}-backtests"
Q_QUEUE = env.str("Q_QUEUE", default="")
if Q_QUEUE == "orders":
    Q_CLUSTER["cluster_name"] = ORDERS_QUEUE
    Q_CLUSTER["workers"] = env.int("Q_ORDER_WORKERS", default=2)
elif Q_QUEUE == "backtests":
    Q_CLUSTER["cluster_name"] = BACKTEST_QUEUE
    Q_CLUSTER["workers"] = env.int("Q_BACKTEST_WORKERS", default=1)
elif Q_QUEUE:
    raise ImproperlyConfigured(
        f"Q_QUEUE={Q_QUEUE!r}: leave it empty (the main queue) or set it to 'orders' or 'backtests'.")
# Per user: one backtest queued or running at a time, this many a day (UTC, by the database's clock), each
# over at most this many days.
BACKTESTS_PER_DAY = env.int("BACKTESTS_PER_DAY", default=20)
BACKTEST_MAX_DAYS = env.int("BACKTEST_MAX_DAYS", default=2 * 365)
# Beyond this many seconds between a process's clock and the database's, the process says so (log, /healthz).
CLOCK_TOLERANCE_SECONDS = env.float("CLOCK_TOLERANCE_SECONDS", default=2.0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# Accounts (django-allauth): email only, verified before first use.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[OneClick] "
ACCOUNT_ADAPTER = "oneclick.adapters.AccountAdapter"
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "login": "30/m/ip",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    # Attempts to link an exchange key (each one probes the exchange).
    "key_link": "10/h/user",
    # Telegram: link tokens a user asks for, and refused /start tokens a chat may send.
    "telegram_link": "10/h/user",
    "telegram_link_failed": "5/10m/key",
    # Wrong one-time codes (second factor at login and step-up checks).
    "otp_failed": env.str("ONECLICK_OTP_RATE", default="5/5m/user,20/m/ip"),
}
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if env.bool("SECURE_HTTPS", default=True) else "http"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# Who may sign up: "open" (anyone, the demo's default), "invite" (staff email one-time links from the
# admin) or "waitlist" (anyone may ask to join; staff approve, which emails a one-time link).
ONECLICK_SIGNUP = env.str("ONECLICK_SIGNUP", default="open").strip().lower()
if ONECLICK_SIGNUP not in ("open", "invite", "waitlist"):
    raise ImproperlyConfigured(f"ONECLICK_SIGNUP must be open, invite or waitlist, not {ONECLICK_SIGNUP!r}.")
# Days an invitation link stays valid (sending it again restarts the count).
ONECLICK_INVITE_DAYS = env.int("ONECLICK_INVITE_DAYS", default=7)
if ONECLICK_INVITE_DAYS < 1:
    raise ImproperlyConfigured("ONECLICK_INVITE_DAYS must be at least 1.")
ACCOUNT_FORMS = {"signup": "oneclick.forms.SignupForm"}
# Requests to join the waitlist, per IP and per email address.
ACCOUNT_RATE_LIMITS["waitlist"] = env.str("ONECLICK_WAITLIST_RATE", default="10/h/ip,3/h/key")

# Second factor (django-otp).
OTP_TOTP_ISSUER = "OneClick"
# Wrong codes are limited per user and per IP by the "otp_failed" rate above,
# with a clear message; django-otp's silent per-device delay is not used.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str("STATICFILES_STORAGE", default="whitenoise.storage.CompressedManifestStaticFilesStorage")
    },
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=False)

# Email: EMAIL_URL (e.g. smtp+tls://user:pass@host:587) or the console.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="OneClick <noreply@oneclick.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Security. Production defaults; the demo opts out of HTTPS in its .env.
SECURE_HTTPS = env.bool("SECURE_HTTPS", default=True)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = SECURE_HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
if env.bool("SECURE_PROXY_SSL_HEADER", default=True):
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Proxies in front of the portal whose X-Forwarded-For is trusted (1 behind the deploy guide's one TLS proxy):
# every limit per IP, the sign-in history, the sessions page and the notices see the client's address, not
# the proxy's (with 0, a proxy's one address would share one limit among all users).
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Logging: one line per record (JSON unless LOG_FORMAT=text), every handler
# passes the record through the secret scrubber first.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"scrub": {"()": "oneclick.lib.logscrub.SecretScrubFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["scrub"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django-q": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "ccxt": {"level": "WARNING"},
    },
}

if DEBUG:
    # The admin's second factor is relaxed in development only.
    ONECLICK_ADMIN_REQUIRES_OTP = env.bool("ONECLICK_ADMIN_REQUIRES_OTP", default=False)
else:
    ONECLICK_ADMIN_REQUIRES_OTP = True

# Leaving: what a deleted account's trade history becomes. "delete" removes its orders, fills and
# snapshots with the account; "anonymous" keeps them detached from any person (no email, IP, key or name).
ONECLICK_RETENTION = env.str("ONECLICK_RETENTION", default="delete")
if ONECLICK_RETENTION not in ("delete", "anonymous"):
    raise ImproperlyConfigured("ONECLICK_RETENTION must be delete or anonymous.")

# Alerts: the outbox, its channels and Telegram.
# Identical alerts (same dedupe key) within this many seconds are merged, not sent again.
ALERTS_DEDUPE_WINDOW_SECONDS = env.int("ALERTS_DEDUPE_WINDOW_SECONDS", default=3600)
# Delivery retries: first back-off, its cap, and the attempts before a delivery fails for good.
ALERTS_RETRY_BASE_SECONDS = env.int("ALERTS_RETRY_BASE_SECONDS", default=60)
ALERTS_RETRY_MAX_SECONDS = env.int("ALERTS_RETRY_MAX_SECONDS", default=6 * 3600)
ALERTS_MAX_ATTEMPTS = env.int("ALERTS_MAX_ATTEMPTS", default=8)
# A market whose 24 h volume is this many times its usual daily volume is unusual.
ALERTS_UNUSUAL_VOLUME_FACTOR = env.float("ALERTS_UNUSUAL_VOLUME_FACTOR", default=3.0)
# Webhook: Telegram sends this in X-Telegram-Bot-Api-Secret-Token; empty disables the webhook view.
TELEGRAM_WEBHOOK_SECRET = env.str("TELEGRAM_WEBHOOK_SECRET", default="")
# The bot's @username (without @), for the linking deep link t.me/<username>?start=<token>.
TELEGRAM_BOT_USERNAME = env.str("TELEGRAM_BOT_USERNAME", default="")

# Re-authentication, security notices and sessions.
# A sensitive change (email addresses, turning 2FA off, new backup codes, linking or re-enabling a key) needs the
# password confirmed within this many seconds (allauth's reauthentication), plus a fresh one-time code in the form
# when 2FA is on. Changing the password asks for the current one and the code.
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = env.int("ACCOUNT_REAUTHENTICATION_TIMEOUT", default=300)
ACCOUNT_FORMS = {
    **ACCOUNT_FORMS,
    "add_email": "oneclick.forms.AddEmailForm",
    "change_password": "oneclick.forms.ChangePasswordForm",
}
# Every change to the account's sign-in (password, email addresses, 2FA, backup codes, keys) and every sign-in
# from a browser not seen before is told by email (to the old address too when the address changes).
ACCOUNT_EMAIL_NOTIFICATIONS = True
# Active sessions, listed with their browser, IP and last request, each one can be ended (/accounts/sessions/).
# allauth's usersessions; its activity is recorded by SessionActivityMiddleware, once a minute per session
# (allauth's own middleware would write at every request).
INSTALLED_APPS.insert(INSTALLED_APPS.index("allauth.account") + 1, "allauth.usersessions")
MIDDLEWARE.insert(MIDDLEWARE.index("oneclick.middleware.SecondFactorMiddleware"),
                  "oneclick.middleware.SessionActivityMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("oneclick.middleware.SecondFactorMiddleware") + 1,
                  "oneclick.middleware.KnownDeviceMiddleware")
USERSESSIONS_TRACK_ACTIVITY = True
# A session (staff's included) with no request for this many minutes is signed out: sessions expire this long
# after their last save, and an active one is saved once a minute.
SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=60)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
