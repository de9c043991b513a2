"""Structured logging: levels, text or JSON lines, and the id of the session each line comes
from. A session sets `SESSION` when it starts (a context variable, so every task and callback
of that session sees it); a filter on the handler copies its id into every record, and masks
the config's secrets in its message and traceback (gateway/ops/masking.py)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from gateway.ops.masking import mask

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s [session %(session)s] %(name)s: %(message)s"

# The session whose work is running: anything with a `pid` (its id; 0 before it has one).
SESSION: ContextVar[Any] = ContextVar("metahog_session", default=None)

Secrets = Callable[[], tuple[str, ...]]
_secrets: Secrets = tuple


def mask_secrets_of(secrets: Secrets) -> None:
    """From now on, mask in every log line what `secrets` returns (see masking.SecretsOf)."""
    global _secrets
    _secrets = secrets


def session_id() -> int | None:
    return getattr(SESSION.get(), "pid", None) or None


class SessionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.session = session_id()
        secrets = _secrets()
        if secrets:
            record.msg, record.args = mask(record.getMessage(), secrets), None
            if record.exc_info and not record.exc_text:
                formatted = logging.Formatter().formatException(record.exc_info)
                record.exc_text = mask(formatted, secrets)
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "session", None) is None:
            record.session = "-"
        return super().format(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "session": getattr(record, "session", None),
        }
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(
    level: str = "info",
    format: str = "text",
    stream: IO[str] | None = None,
    secrets: Secrets | None = None,
) -> None:
    """Send the process's log records to `stream` (stderr), at `level`, in `format`, with what
    `secrets` returns masked."""
    if secrets is not None:
        mask_secrets_of(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(SessionFilter())
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
