"""Keep secrets out of every log line: tokens, the signing secret, API keys, signed URL queries."""

from __future__ import annotations

import logging
import re

_SIGNED_QUERY = re.compile(r"(https?://[^\s?\"'<>|]+)\?[^\s\"'<>|]*")
_TOKENS = re.compile(r"\b(xox[abeposr]-|xapp-)[A-Za-z0-9-]+")


class SecretFilter:
    def __init__(self, secrets: list[str]):
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
        text = _TOKENS.sub(r"\1[secret]", text)
        return _SIGNED_QUERY.sub(r"\1?[query removed]", text)

    def clean(self, record: logging.LogRecord) -> logging.LogRecord:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the caller's bug; do not lose the record
            message = str(record.msg)
        record.msg, record.args = self.scrub(message), None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return record


_installed: SecretFilter | None = None


def install_secret_filter(secrets: list[str]) -> SecretFilter:
    """Scrub every log record where it is made, whichever logger or handler it goes to."""
    global _installed
    if _installed is not None:
        _installed.secrets = sorted(set(_installed.secrets) | {s for s in secrets if s and len(s) >= 4})
        return _installed
    flt = _installed = SecretFilter(secrets)
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        return flt.clean(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    return flt
