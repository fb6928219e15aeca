"""Log redaction: no log record of a server process holds the API key.

:func:`redact_secrets_in_logs` installs a log record factory that removes the key itself
and any ``api_key=`` value (as written and percent-decoded) from every record.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

#: ``api_key=VALUE`` in a URL or text (also ``api-key``, ``apikey``; any case).
_KEY_PARAMETER = re.compile(r"(?i)(\bapi[_-]?key=)[^&\s\"'#;,)]*")
#: ``Authorization: Apikey VALUE`` / ``Bearer VALUE`` as printed in a header dump.
_KEY_HEADER = re.compile(r"(?i)(\b(?:apikey|bearer)\s+)[A-Za-z0-9._~+/=-]{8,}")
REDACTED = "[redacted]"


class SecretRedactor:
    """Removes API keys from text: the given secrets, and any ``api_key=`` value.

    Text is checked as written and percent-decoded (a URL may carry the key encoded);
    when anything is redacted, the decoded form is returned, redacted.

    Args:
        secrets: literal values that must never appear (the server's key).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def add(self, secrets: Iterable[str]) -> None:
        """Also redact ``secrets``."""
        self._secrets = tuple(
            sorted({*self._secrets, *(s for s in secrets if s)}, key=len, reverse=True)
        )

    def _scrub(self, text: str) -> str:
        text = _KEY_PARAMETER.sub(rf"\1{REDACTED}", text)
        text = _KEY_HEADER.sub(rf"\1{REDACTED}", text)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def __call__(self, text: str) -> str:
        """``text`` without secrets (unchanged if it held none)."""
        decoded = unquote_fully(text)
        scrubbed = self._scrub(decoded)
        return text if scrubbed == decoded else scrubbed


class _RedactingRecordFactory:
    """A log record factory that redacts secrets from every record it makes."""

    def __init__(self, redactor: SecretRedactor, inner: Callable[..., logging.LogRecord]):
        self.redactor = redactor
        self.inner = inner

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redactor(value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        text = str(value)
        cleaned = self.redactor(text)
        return value if cleaned == text else cleaned

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redactor(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        return record


def redact_secrets_in_logs(secrets: Iterable[str]) -> SecretRedactor:
    """Redact ``secrets`` and ``api_key=`` values from every log record of this process.

    Installed as the log record factory, so it covers every logger and handler (uvicorn's
    access log, which prints request URLs, included), present and future: the message,
    its arguments, tracebacks and stack dumps. Calling it again adds secrets.

    Returns:
        The redactor in use.
    """
    factory = logging.getLogRecordFactory()
    if isinstance(factory, _RedactingRecordFactory):
        factory.redactor.add(secrets)
        return factory.redactor
    redactor = SecretRedactor(secrets)
    logging.setLogRecordFactory(_RedactingRecordFactory(redactor, factory))
    return redactor


def unquote_fully(text: str, rounds: int = 5) -> str:
    """``text`` with percent-encoding undone, repeatedly (a double-encoded value too)."""
    for _ in range(rounds):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text
