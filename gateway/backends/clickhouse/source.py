"""A ClickHouse source: its executor, its tables, and the path from a guarded PostgreSQL-dialect
query to ClickHouse rows.

Every query the gateway sends here passed the PostgreSQL guard as the client wrote it, and its
translation passes the ClickHouse guard too: a translation can never introduce a table
function, a SETTINGS clause or a write.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import aclosing

from sqlglot import exp

from gateway.backends.clickhouse.executor import (
    ChdbExecutor,
    ClickHouseError,
    HttpExecutor,
    Result,
    query_settings,
)
from gateway.backends.clickhouse.schema import TableSchema, read_schema
from gateway.config import Limits, SourceConfig
from gateway.protocol.errors import FEATURE_NOT_SUPPORTED, PgError
from gateway.routing.guard import Guard
from gateway.routing.translate import Translation, to_clickhouse

log = logging.getLogger(__name__)

TRANSLATION_CACHE_SIZE = 1024

# One chDB data directory per process (see ChdbExecutor): sources naming the same path share it.
_chdb_executors: dict[str, ChdbExecutor] = {}


class ClickHouseSource:
    # Its own credentials read its schema (HogQL sources with passthrough auth may lack them).
    reads_own_schema = True

    def __init__(self, config: SourceConfig) -> None:
        assert config.clickhouse is not None
        self.config = config
        self.name = config.name
        target = config.clickhouse
        self.executor: HttpExecutor | ChdbExecutor
        if target.url is not None:
            self.executor = HttpExecutor(target.url.reveal())
        else:
            path = str(target.path)
            if path not in _chdb_executors:
                _chdb_executors[path] = ChdbExecutor(path)
            self.executor = _chdb_executors[path]
        # Replaced, never mutated, at each refresh: its id() versions the translation cache.
        self.tables: dict[str, TableSchema] = {}
        self._translations: OrderedDict[Hashable, Translation] = OrderedDict()
        self._guard = Guard("clickhouse")
        # Called when ClickHouse no longer knows a table or column the catalog showed: the
        # catalog manager then refreshes this source's mirror (on demand, besides its schedule).
        self.on_stale: Callable[[], None] | None = None
        # Settings the server knows, read at refresh: a translation may ask for settings that
        # old servers lack (18.16 has no group_by_use_nulls), and an unknown one fails the query.
        self.known_settings: frozenset[str] | None = None
        # (table, column) -> (mirror table OID, attnum), for RowDescription.
        self.attributes: dict[tuple[str, str], tuple[int, int]] = {}
        # Why the source's tables are unknown (it was unreachable at start-up), or None.
        self.unavailable: str | None = None

    def __repr__(self) -> str:
        return f"ClickHouseSource({self.name!r}, {self.executor!r})"

    async def refresh(self) -> list[TableSchema]:
        """Read the source's tables; the caller mirrors them into the shadow catalog."""
        tables = await read_schema(self.executor)
        self.tables = {table.name: table for table in tables}
        self.unavailable = None
        if self.known_settings is None:
            result = await self.executor.execute(
                "SELECT name FROM system.settings", self.settings(Limits(), None)
            )
            self.known_settings = frozenset(row[0] for row in result.rows if row[0])
        return tables

    def translate(
        self, tree: exp.Expression, time_zone: str = "UTC", cache_key: Hashable = None
    ) -> Translation:
        """The checked ClickHouse translation of a guarded statement. `cache_key` names the
        statement exactly (its text, and its parameter values): a dashboard's repeated
        statements then cost no translation (a few milliseconds each)."""
        if self.unavailable is not None:
            raise PgError("08006", f'source "{self.name}" is unreachable: {self.unavailable}')
        key = (cache_key, time_zone, id(self.tables)) if cache_key is not None else None
        if key is not None and key in self._translations:
            self._translations.move_to_end(key)
            return self._translations[key]
        translation = self._translate(tree, time_zone)
        if key is not None:
            self._translations[key] = translation
            if len(self._translations) > TRANSLATION_CACHE_SIZE:
                self._translations.popitem(last=False)
        return translation

    def _translate(self, tree: exp.Expression, time_zone: str) -> Translation:
        try:
            translation = to_clickhouse(tree, self.tables, time_zone)
        except PgError:
            raise
        except Exception as exc:
            # A translator bug must cost one statement, never the session.
            log.exception("translation failed")
            raise PgError(
                FEATURE_NOT_SUPPORTED, f"this query cannot be translated for ClickHouse: {exc}"
            ) from None
        error = self._guard.check(translation.sql)
        if error is not None:
            log.warning("translation refused by the ClickHouse guard: %s", translation.sql)
            raise error
        return translation

    def settings(self, limits: Limits, translation: Translation | None) -> dict[str, str]:
        target = self.config.clickhouse
        assert target is not None
        wanted = translation.settings if translation is not None else {}
        known = self.known_settings
        settings = {k: v for k, v in wanted.items() if known is None or k in known}
        # The gateway's own settings come last and win over any the translation asked for.
        settings |= query_settings(
            limits,
            max_rows_to_read=target.max_rows_to_read,
            max_memory_usage=target.max_memory_usage,
        )
        return settings

    async def stream(
        self, translation: Translation, limits: Limits, query_id: str
    ) -> AsyncIterator[Result]:
        settings = self.settings(limits, translation)
        try:
            stream = self.executor.stream(translation.sql, settings, query_id=query_id)
            async with aclosing(stream) as results:
                async for result in results:
                    yield result
        except ClickHouseError as exc:
            if exc.code in _SCHEMA_CHANGED and self.on_stale is not None:
                self.on_stale()
            raise

    async def describe(self, translation: Translation, limits: Limits) -> Result:
        """The result's names and types, without its rows: ClickHouse plans the query and
        stops at once."""
        probe = f"SELECT * FROM (\n{translation.sql}\n) LIMIT 0"
        return await self.executor.execute(probe, self.settings(limits, translation))

    async def cancel(self, query_id: str) -> None:
        try:
            await self.executor.cancel(query_id)
        except ClickHouseError as exc:
            log.warning("cancel on source %s failed: %s", self.name, exc)

    def close(self) -> None:
        pass


# UNKNOWN_TABLE, UNKNOWN_IDENTIFIER, NO_SUCH_COLUMN_IN_TABLE, THERE_IS_NO_COLUMN
_SCHEMA_CHANGED = frozenset({60, 47, 16, 8})


def close_embedded() -> None:
    """Close every chDB executor of this process. Left to its own exit-time clean-up, chDB 4.4
    crashes (SIGSEGV) after sessions used it from threads, so a gateway closes them itself."""
    for executor in list(_chdb_executors.values()):
        executor.close()
    _chdb_executors.clear()


def to_pg_error(error: ClickHouseError) -> PgError:
    """ClickHouse's error as the PostgreSQL error a client expects."""
    sqlstate, message = _CODES.get(error.code, ("XX000", None))
    return PgError(
        sqlstate,
        message or f"ClickHouse error {error.code}: {error.message}",
        detail=f"ClickHouse error {error.code}: {error.message}" if message else None,
    )


_CODES: dict[int, tuple[str, str | None]] = {
    159: ("57014", "canceling statement due to statement timeout"),
    160: ("57014", "canceling statement due to statement timeout"),
    394: ("57014", "canceling statement due to user request"),
    241: ("53200", "out of memory: the query exceeded the source's max_memory_usage"),
    158: ("54000", "the query reads more rows than the source's max_rows_to_read allows"),
    396: ("54000", None),
    164: ("25006", "cannot execute this statement in a read-only transaction"),
    60: ("42P01", None),
    47: ("42703", None),
    62: ("42601", None),
    43: ("42883", None),
    46: ("42883", None),
    53: ("42846", None),
    6: ("22P02", None),
    27: ("22P02", None),
    38: ("22007", None),
    41: ("22007", None),
    153: ("22012", "division by zero"),
    0: ("08006", None),
}
