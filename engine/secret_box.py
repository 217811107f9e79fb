"""Sealing tenant secrets (Twilio auth tokens, ElevenLabs keys, webhook signing secrets, Notion
tokens) for storage. Pure: no I/O.

AES-256-GCM under a key derived with HKDF-SHA256 from the operator's engine secret and a label
per kind of secret, so Postgres only ever holds ciphertext, and a sealed secret of one kind
cannot be opened as another. The sealed form is version byte + 12-byte nonce + ciphertext.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"
WEBHOOK_LABEL = "webhook-signing"  # the signing secrets of the agency's webhook endpoints
NOTION_LABEL = "notion-integration"  # the agency's Notion integration tokens
TWILIO_LABEL = "twilio-auth-token"  # the auth tokens of tenants' own Twilio accounts
ELEVENLABS_LABEL = "elevenlabs-api-key"  # tenants' own ElevenLabs keys
TOOL_LABEL = "tenant-tool-secret"  # the signing secrets of agencies' own tools
_NONCE = 12


class SecretBoxError(ValueError):
    """A sealed secret that this key cannot open (wrong key, wrong label, tampered)."""


class SecretBox:
    def __init__(self, engine_secret: str, label: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"neurosphere:" + label.encode()
        ).derive(engine_secret.encode())
        self._aead = AESGCM(key)
        self._label = label.encode()

    def seal(self, secret: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, secret.encode(), self._label)

    def open(self, sealed: bytes) -> str:
        if len(sealed) <= 1 + _NONCE or sealed[:1] != _VERSION:
            raise SecretBoxError("not a sealed secret")
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, self._label).decode()
        except InvalidTag:
            raise SecretBoxError("the sealed secret does not open with this key") from None

    def opens(self, sealed: bytes) -> bool:
        """Whether `sealed` was sealed under this key and label (a rotation's rerun skips it)."""
        try:
            self.open(sealed)
        except SecretBoxError:
            return False
        return True
