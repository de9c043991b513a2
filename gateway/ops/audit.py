"""The audit log: one JSON line per statement, written by a background thread to a file that
rotates by size, so that a slow disk never holds up the event loop.

Statement texts have their literals replaced by `?` unless `redact_literals = false`; even then,
a statement that mentions a password (`ALTER ROLE ... PASSWORD '...'`, a connection string) has
its literals replaced. Comments are dropped with the literals, since they can hold anything. A
text PostgreSQL's lexer cannot read is logged as its hash and length, never as text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
from datetime import UTC, datetime
from logging.handlers import QueueListener, RotatingFileHandler

from gateway.config import AuditConfig
from gateway.ops.observe import StatementRecord
from gateway.routing import pglexer

log = logging.getLogger(__name__)

# A statement longer than this is cut in its log line (after redaction).
MAX_STATEMENT_CHARS = 65_536
_STRING_PREFIXES = ("'", "e'", "b'", "x'", "n'", "u&'", "$")


class AuditLog:
    def __init__(self, config: AuditConfig) -> None:
        assert config.path is not None
        self.config = config
        config.path.parent.mkdir(parents=True, exist_ok=True)
        self._handler = RotatingFileHandler(
            config.path,
            maxBytes=config.max_bytes,
            backupCount=config.backup_count,
            encoding="utf-8",
        )
        self._handler.setFormatter(_AuditFormatter(config.redact_literals))
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener = QueueListener(self._queue, self._handler)
        self._listener.start()

    def write(self, record: StatementRecord) -> None:
        """A statement sink (see gateway.ops.observe.Observer): queued, written by the thread."""
        entry = logging.LogRecord("metahog.audit", logging.INFO, "", 0, "", None, None)
        entry.statement = record
        self._queue.put_nowait(entry)

    def close(self) -> None:
        """Write what is queued, then close the file."""
        self._listener.stop()
        self._handler.close()


class _AuditFormatter(logging.Formatter):
    def __init__(self, redact_literals: bool) -> None:
        super().__init__()
        self.redact_literals = redact_literals

    def format(self, record: logging.LogRecord) -> str:
        statement: StatementRecord = record.statement  # type: ignore[attr-defined]
        return audit_line(statement, self.redact_literals)


def audit_line(record: StatementRecord, redact_literals: bool = True) -> str:
    started = datetime.fromtimestamp(record.time, UTC)
    return json.dumps(
        {
            "time": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "session": record.session,
            "user": record.user,
            "source": record.source,
            "application_name": record.application_name,
            "client": record.client,
            "statement": shown_statement(record.statement, redact_literals),
            "verdict": record.verdict,
            "reason": record.reason,
            "sqlstate": record.sqlstate,
            "rows": record.rows,
            "bytes": record.bytes,
            "duration_ms": round(record.duration * 1000, 3),
        },
        ensure_ascii=False,
    )


def shown_statement(text: str, redact_literals: bool = True) -> str:
    """The statement as the audit log shows it. Never raises."""
    try:
        if redact_literals or "password" in text.lower():
            text = redact(text)
    except Exception:
        text = unreadable(text)
    if len(text) > MAX_STATEMENT_CHARS:
        text = text[:MAX_STATEMENT_CHARS] + "...(cut)"
    return text


def redact(text: str) -> str:
    """The text with every string and number literal replaced by `?`, and comments dropped;
    tokens keep their order, separated by a space where anything stood between them."""
    try:
        tokens = pglexer.lex(text)
    except pglexer.LexError:
        return unreadable(text)
    parts: list[str] = []
    end = 0
    for token in tokens:
        if parts and token.start > end:
            parts.append(" ")
        parts.append("?" if _is_literal(text, token) else text[token.start : token.end])
        end = token.end
    return "".join(parts)


def unreadable(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]
    return f"<unreadable statement: sha256 {digest}, {len(text)} characters>"


def _is_literal(text: str, token: pglexer.PgToken) -> bool:
    head = text[token.start : token.start + 3].lower()
    if token.kind == pglexer.OPAQUE:
        return head.startswith(_STRING_PREFIXES)
    if token.kind == pglexer.SPLIT:
        return head[:1].isdigit() or (head[:1] == "." and head[1:2].isdigit())
    return False
