"""AES-256-GCM encryption of OAuth tokens at rest, with key rotation.

A ciphertext is `b"v1" | key-id length (1 byte) | key id | nonce (12 bytes) |
AES-GCM output`. The associated data binds it to its column and its user, so a token
copied into another row or column does not decrypt. TOKEN_ENCRYPTION_KEYS holds
`id:base64(32 bytes)` entries: the first encrypts, every listed one decrypts.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

VERSION = b"v1"
NONCE_BYTES = 12


class TokenDecryptError(Exception):
    """A stored token could not be decrypted (unknown key, wrong row, or tampering)."""


@dataclass(frozen=True)
class Keyring:
    primary_id: str
    keys: dict[str, AESGCM]

    def __repr__(self) -> str:
        return f"Keyring(primary_id={self.primary_id!r}, ids={list(self.keys)!r})"


def parse_keys(entries: list[str] | tuple[str, ...]) -> Keyring:
    """Read `id:base64key` entries; raise ImproperlyConfigured naming the bad entry."""
    keys: dict[str, AESGCM] = {}
    for position, entry in enumerate(entries, start=1):
        key_id, sep, encoded = entry.strip().partition(":")
        where = f"TOKEN_ENCRYPTION_KEYS entry {position}"
        if not sep or not key_id or not encoded:
            raise ImproperlyConfigured(f"{where} must look like 'id:base64key'")
        if len(key_id.encode()) > 255:
            raise ImproperlyConfigured(f"{where}: the key id is too long")
        if key_id in keys:
            raise ImproperlyConfigured(f"{where}: key id {key_id!r} is listed twice")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(
                f"{where}: the key is not valid base64"
            ) from None
        if len(raw) != 32:
            raise ImproperlyConfigured(
                f"{where}: the key must be 32 bytes (AES-256), got {len(raw)}"
            )
        keys[key_id] = AESGCM(raw)
    if not keys:
        raise ImproperlyConfigured("TOKEN_ENCRYPTION_KEYS is empty")
    return Keyring(primary_id=next(iter(keys)), keys=keys)


@cache
def _keyring(entries: tuple[str, ...]) -> Keyring:
    return parse_keys(entries)


def keyring() -> Keyring:
    return _keyring(tuple(settings.TOKEN_ENCRYPTION_KEYS))


def _associated_data(column: str, user_id: int) -> bytes:
    return f"blockster:{column}:user:{user_id}".encode()


def encrypt_token(plaintext: str, *, column: str, user_id: int) -> bytes:
    ring = keyring()
    key_id = ring.primary_id.encode()
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring.keys[ring.primary_id].encrypt(
        nonce, plaintext.encode(), _associated_data(column, user_id)
    )
    return VERSION + bytes([len(key_id)]) + key_id + nonce + sealed


def key_id_of(blob: bytes | memoryview) -> str:
    blob = bytes(blob)
    if not blob.startswith(VERSION) or len(blob) < 3:
        raise TokenDecryptError("not a token ciphertext (unknown format)")
    length = blob[2]
    return blob[3 : 3 + length].decode(errors="replace")


def decrypt_token(blob: bytes | memoryview, *, column: str, user_id: int) -> str:
    blob = bytes(blob)
    key_id = key_id_of(blob)
    offset = 3 + len(key_id.encode())
    nonce, sealed = blob[offset : offset + NONCE_BYTES], blob[offset + NONCE_BYTES :]
    key = keyring().keys.get(key_id)
    if key is None:
        raise TokenDecryptError(
            f"cannot decrypt {column} of user {user_id}: key {key_id!r} is not in "
            "TOKEN_ENCRYPTION_KEYS"
        )
    try:
        return key.decrypt(nonce, sealed, _associated_data(column, user_id)).decode()
    except InvalidTag:
        raise TokenDecryptError(
            f"cannot decrypt {column} of user {user_id}: authentication failed "
            "(wrong key, wrong row, or the ciphertext was altered)"
        ) from None


def needs_rotation(blob: bytes) -> bool:
    return key_id_of(blob) != keyring().primary_id
