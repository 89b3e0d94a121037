"""Encryption of stored secrets under ONECLICK_ENCRYPTION_KEY, with rotation.

django-cryptography-5's ``encrypt(...)`` fields store Fernet-style tokens
(AES-CBC + HMAC-SHA256). By default that library derives the AES key from its
``CRYPTOGRAPHY_KEY`` setting but signs with ``SECRET_KEY``; here both the AES
and the HMAC keys are derived from the encryption key alone, so SECRET_KEY
never protects a secret.

The key ring writes with the current key and reads with the current key or
any key listed in ``ONECLICK_ENCRYPTION_KEY_PREVIOUS``, so the key can be
changed without downtime; ``manage.py rotate_encryption_key`` then rewrites
every stored value under the current key.
"""

import base64
import types
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from django.apps import apps
from django.conf import settings
from django.core.signing import BadSignature
from django_cryptography.core.signing import FernetSigner
from django_cryptography.core.signing import SignatureExpired
from django_cryptography.fields import EncryptedMixin
from django_cryptography.utils.crypto import FernetBytes, InvalidToken

_ITERATIONS = 200_000


class UndecryptableValue(Exception):
    """No configured key decrypts a stored value (the message names no key)."""


@lru_cache(maxsize=8)
def _fernet_for(secret):
    def derive(purpose):
        kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=b"oneclick-" + purpose, iterations=_ITERATIONS)
        return kdf.derive(secret.encode("utf-8"))

    return FernetBytes(key=derive(b"aes"), signer=FernetSigner(key=derive(b"hmac")))


class KeyRing:
    """Duck-types FernetBytes for django-cryptography's encrypted fields."""

    @staticmethod
    def _current():
        return _fernet_for(settings.ONECLICK_ENCRYPTION_KEY)

    @staticmethod
    def _all():
        yield _fernet_for(settings.ONECLICK_ENCRYPTION_KEY)
        for secret in settings.ONECLICK_ENCRYPTION_KEY_PREVIOUS:
            yield _fernet_for(secret)

    def encrypt(self, data):
        return self._current().encrypt(data)

    def decrypt(self, data, ttl=None):
        for fernet in self._all():
            try:
                return fernet.decrypt(data, ttl)
            except SignatureExpired:
                raise
            except (InvalidToken, BadSignature, ValueError):
                continue
        raise UndecryptableValue("stored value cannot be decrypted with the configured encryption keys")

    def is_current(self, data):
        """True when ``data`` was written under the current key."""
        try:
            self._current().decrypt(data)
        except (InvalidToken, BadSignature, ValueError):
            return False
        return True


KEY_RING = KeyRing()


def encrypted_fields():
    """Every (model, field) whose value is stored encrypted, across all apps."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedMixin):
                yield model, field


SERIALIZED_PREFIX = "encrypted:"


def _value_to_string(field, obj):
    """Serialise (dumpdata, fixtures) as ciphertext, never as the plain value."""
    value = field.value_from_object(obj)
    if value is None:
        return None
    return SERIALIZED_PREFIX + base64.b64encode(field._dump(value)).decode("ascii")


def _to_python(field, value):
    if isinstance(value, str) and value.startswith(SERIALIZED_PREFIX):
        return field._load(base64.b64decode(value[len(SERIALIZED_PREFIX):]))
    return value


def install_key_ring():
    """Make every encrypted field read, write and serialise through the key ring."""
    for _model, field in encrypted_fields():
        field._fernet = KEY_RING
        field.value_to_string = types.MethodType(_value_to_string, field)
        field.to_python = types.MethodType(_to_python, field)
