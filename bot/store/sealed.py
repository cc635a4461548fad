"""Secrets at rest: Slack tokens and platform credentials are stored sealed with `REC_SECRET_KEY`.

Fernet (from `cryptography`: AES-128-CBC with an HMAC-SHA256, versioned and timestamped) rather than
anything of our own; the key is derived from the setting with HKDF, so any string of 32 characters or
more will do. A database file copied without the key gives up no token.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.errors import RecbotError


class SealError(RecbotError):
    """A sealed value could not be opened: another REC_SECRET_KEY sealed it, or it was changed."""


class Sealer:
    def __init__(self, secret: str):
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"recbot", info=b"recbot secrets at rest v1")
        self._fernet = Fernet(base64.urlsafe_b64encode(key.derive(secret.encode())))

    def seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            opened: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode()))
            return opened
        except InvalidToken as exc:
            raise SealError("sealed with another REC_SECRET_KEY, or changed") from exc
