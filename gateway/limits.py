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
        self._portals: set[bytes] = set()

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
        return self._admit_named(
            name, self._statements, self.limits.max_prepared_statements, "prepared statements"
        )

    def closed_statement(self, name: bytes) -> None:
        self._statements.discard(name)

    def admit_portal(self, name: bytes) -> PgError | None:
        """A named portal is about to be created by a Bind message."""
        return self._admit_named(name, self._portals, self.limits.max_portals, "portals")

    def closed_portal(self, name: bytes) -> None:
        self._portals.discard(name)

    def transaction_ended(self) -> None:
        # Protocol-level portals do not outlive their transaction.
        self._portals.clear()

    @staticmethod
    def _admit_named(
        name: bytes, names: set[bytes], limit: int | None, what: str
    ) -> PgError | None:
        if not name or name in names:
            return None
        if limit is not None and len(names) >= limit:
            return PgError(
                CONFIGURATION_LIMIT_EXCEEDED,
                f"too many {what} in this session (limit {limit})",
                hint=f"Close {what} that are no longer needed.",
            )
        names.add(name)
        return None
