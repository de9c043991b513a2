"""Limits that span sessions or statements: concurrent queries per user, prepared statements per
session. The gateway enforces them itself, because a pooled backend cannot tell users apart."""

from __future__ import annotations

from collections import Counter

from gateway.config import Limits
from gateway.protocol.errors import PgError

TOO_MANY_CONNECTIONS = "53300"
CONFIGURATION_LIMIT_EXCEEDED = "53400"


class QueryActivity:
    """How many statements each user has running, across all sessions of the gateway."""

    def __init__(self) -> None:
        self._running: Counter[str] = Counter()

    def running(self, user: str) -> int:
        return self._running[user]

    def start(self, user: str) -> None:
        self._running[user] += 1

    def finish(self, user: str) -> None:
        self._running[user] -= 1
        if self._running[user] <= 0:
            del self._running[user]


class SessionLimits:
    """One session's view of its limits."""

    def __init__(self, limits: Limits, user: str, activity: QueryActivity) -> None:
        self.limits = limits
        self.user = user
        self.activity = activity
        self.running = False
        self._statements: set[bytes] = set()

    def admit_query(self) -> PgError | None:
        """Called when a statement is about to run; the session then counts as running until
        `finished` is called."""
        if self.running:
            return None
        limit = self.limits.max_concurrent_queries
        if limit is not None and self.activity.running(self.user) >= limit:
            return PgError(
                TOO_MANY_CONNECTIONS,
                f'too many concurrent queries for user "{self.user}" (limit {limit})',
                hint="Wait for the user's other queries to finish.",
            )
        self.activity.start(self.user)
        self.running = True
        return None

    def finished(self) -> None:
        if self.running:
            self.running = False
            self.activity.finish(self.user)

    def admit_statement(self, name: bytes) -> PgError | None:
        """A named prepared statement is about to be created by a Parse message."""
        limit = self.limits.max_prepared_statements
        if not name or name in self._statements:
            return None
        if limit is not None and len(self._statements) >= limit:
            return PgError(
                CONFIGURATION_LIMIT_EXCEEDED,
                f"too many prepared statements in this session (limit {limit})",
                hint="Close prepared statements that are no longer needed.",
            )
        self._statements.add(name)
        return None

    def closed_statement(self, name: bytes) -> None:
        self._statements.discard(name)
