"""Loaded with ``-p tests.testenv`` before Django settings are read.

Tests run with DEBUG off, like production, over plain HTTP; every value here
yields to the environment (CI sets DATABASE_URL and REDIS_URL).
"""

import os

os.environ["ONECLICK_ENV_FILE"] = os.devnull  # a developer's .env never leaks into tests
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("ONECLICK_ENCRYPTION_KEY", "test-encryption-key-not-for-production")
os.environ.setdefault("SECURE_HTTPS", "off")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("LOG_FORMAT", "text")
os.environ.setdefault("ONECLICK_EGRESS_IPS", "203.0.113.10,203.0.113.11")
# Per process (xdist workers inherit the controller's environment): parallel
# workers sharing one Redis never see or clear each other's keys and queues.
os.environ["CACHE_KEY_PREFIX"] = f"oneclick-test-{os.getpid()}"
os.environ["Q_CLUSTER_NAME"] = f"oneclick-test-{os.getpid()}"
# Static files straight from the apps: tests do not run collectstatic.
os.environ.setdefault("STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage")
os.environ.setdefault("WHITENOISE_USE_FINDERS", "on")
# The SQLite test database file of this run (pytest-django adds the xdist worker).
os.environ.setdefault("ONECLICK_TEST_RUN", str(os.getpid()))
