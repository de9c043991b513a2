"""The shadow catalog: a real PostgreSQL database that mirrors a ClickHouse source's tables.

Catalog queries from clients (pg_catalog, information_schema, psql's \\d, JDBC metadata, ...)
are answered by this database, so every one of them gets PostgreSQL's own answer. It holds one
EMPTY table per ClickHouse table or view in schema `public`, with the ClickHouse column names,
the mapped PostgreSQL types (with typmods, as `pg_type` maps them), NOT NULL for columns that
are not Nullable, and comments: ClickHouse's own, or "ClickHouse type: ..." for a column that
has none.

Choices, and why:

- Refresh is one transaction that applies a diff. Readers see the old catalog or the new one,
  never a half-built one. Tables whose columns, types and nullability did not change are kept
  (same OID, so a client's cached OIDs stay valid); only their comments are updated if needed.
  Changed tables are dropped and created again. The whole diff is sent as one multi-statement
  script, so ~200 tables cost a handful of round trips. A transaction-level advisory lock
  serializes concurrent refreshes (two gateway processes on one catalog), and a lock timeout
  keeps a refresh from queueing behind a long reader and blocking everyone after it.
- The database is created (UTF8, C collation, from template0) if it is missing, and marked
  as a shadow catalog with a database comment. An existing database is adopted only if it is
  marked or schema public holds no relations: a refresh drops everything there, so a name
  that collides with an application's database fails with CatalogError instead. The name is
  the caller's; `catalog_database(source)` gives the conventional one.
- The reader is a dedicated role, `metahog_reader_<admin role>`: LOGIN, not a superuser, no
  CREATEDB or CREATEROLE, with CONNECT on the catalog database and SELECT on its tables only.
  One per admin role, so that gateways configured with different admin roles on one server
  never reset each other's reader password. The password is derived from the admin password
  (HMAC-SHA-256): every gateway process with the same admin credentials computes the same one,
  so none locks the others' new connections out, and nothing has to be stored; knowing it
  reveals nothing of the admin password. (While the admin password is being rotated, processes
  still on the old one cannot open new reader connections until they restart.) When the admin
  address has no password (trust or peer authentication, as for the private catalog on its
  Unix socket), a random per-process secret is used instead: a constant would be public. The
  password is sent as a SCRAM verifier, never in clear text, and set once per ShadowCatalog, at
  its first sync. If the admin role may not create or alter roles (a role that only owns the
  catalog database), the reader is the admin address itself, with a warning: sessions still
  connect with default_transaction_read_only=on, but an owner could turn that off.
- ClickHouse names can hold any character; they are always quoted. A table whose name or any
  column name PostgreSQL cannot hold exactly (longer than 63 bytes, NUL, empty) or that has
  more than 1600 columns is left out with a warning, rather than mirrored under a wrong name:
  such a table is listed in `skipped`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import secrets
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from gateway.backends.clickhouse.schema import ColumnSchema, TableSchema
from gateway.backends.clickhouse.types import ChType, TypeSyntaxError, parse_type, pg_type
from gateway.config import BackendAddress
from gateway.protocol.scram import make_verifier
from gateway.secret import Secret

log = logging.getLogger(__name__)

READER_PREFIX = "metahog_reader_"
MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL silently truncates longer names
MAX_COLUMNS = 1600
LOCK_TIMEOUT = "5s"
# The database comment that says a database is a shadow catalog, whose tables sync replaces.
CATALOG_MARK = "MetaHog shadow catalog: its tables mirror a source and are replaced at refresh"
# One per process: readers of every ShadowCatalog in this process agree on a password even
# when the admin address has none to derive it from.
_PROCESS_SECRET = secrets.token_bytes(32)
# Relation kinds a refresh owns in schema public, and how to drop each.
_DROP = {
    "r": "TABLE",
    "p": "TABLE",
    "v": "VIEW",
    "m": "MATERIALIZED VIEW",
    "f": "FOREIGN TABLE",
    "S": "SEQUENCE",
}


class CatalogError(Exception):
    """A shadow catalog that cannot be kept, for a reason the operator must fix."""


def catalog_database(source: str) -> str:
    """The conventional catalog database name of a source, within PostgreSQL's name length."""
    name = f"metahog_catalog_{source}"
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    return f"metahog_catalog_{digest}"


# ---------------------------------------------------------------------------- SQL text


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """An E'' literal: its meaning does not depend on standard_conforming_strings."""
    text = text.replace("\0", "\ufffd")  # PostgreSQL would refuse the statement
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _comment_value(comment: str | None) -> str:
    return "NULL" if comment is None else quote_literal(comment)


# ---------------------------------------------------------------------------- the mirror's shape


@dataclass(frozen=True)
class MirrorColumn:
    name: str
    type_sql: str  # as format_type prints it, e.g. "numeric(10,2)"
    not_null: bool
    comment: str | None


@dataclass(frozen=True)
class MirrorTable:
    name: str
    columns: tuple[MirrorColumn, ...]
    comment: str | None

    @property
    def structure(self) -> tuple[tuple[str, str, bool], ...]:
        """What a change of forces the table to be made again (comments do not)."""
        return tuple((c.name, c.type_sql, c.not_null) for c in self.columns)


def is_nullable(clickhouse_type: str) -> bool:
    """Whether a column of this type can hold NULL: Nullable, possibly under LowCardinality or
    SimpleAggregateFunction. A type that does not parse is taken as nullable, the weaker
    claim."""
    try:
        parsed: ChType = parse_type(clickhouse_type)
    except (TypeSyntaxError, ValueError):
        return True
    while parsed.name in ("LowCardinality", "SimpleAggregateFunction"):
        inner = parsed.args[-1] if parsed.args else None
        if not isinstance(inner, ChType):
            return False
        parsed = inner
    return parsed.name == "Nullable"


def _representable(name: str) -> bool:
    return bool(name) and "\0" not in name and len(name.encode()) <= MAX_IDENTIFIER_BYTES


def unrepresentable(table: TableSchema) -> str | None:
    """Why PostgreSQL cannot mirror this table exactly, or None when it can."""
    if not _representable(table.name):
        return "its name is empty, has a NUL, or is longer than 63 bytes"
    if len(table.columns) > MAX_COLUMNS:
        return f"it has more than {MAX_COLUMNS} columns"
    for column in table.columns:
        if not _representable(column.name):
            return f"column {column.name[:80]!r} is empty, has a NUL, or is longer than 63 bytes"
    if len({column.name for column in table.columns}) != len(table.columns):
        return "two columns have the same name"
    return None


async def _type_names(
    conn: asyncpg.Connection, types: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """format_type of each (oid, typmod), by the server, so the text matches what it prints."""
    pairs = sorted(set(types))
    rows = await conn.fetch(
        "SELECT o, m, format_type(o, m) FROM unnest($1::oid[], $2::int4[]) AS t(o, m)",
        [oid for oid, _ in pairs],
        [typmod for _, typmod in pairs],
    )
    return {(row[0], row[1]): row[2] for row in rows}


def _text(value: str) -> str:
    """A comment as PostgreSQL will store it, so that a stored one compares equal."""
    return value.replace("\0", "\ufffd")  # PostgreSQL text cannot hold NUL


def _mirror_column(column: ColumnSchema, type_sql: str) -> MirrorColumn:
    return MirrorColumn(
        column.name,
        type_sql,
        not is_nullable(column.clickhouse_type),
        _text(column.comment or f"ClickHouse type: {column.clickhouse_type}"),
    )


async def mirror_tables(
    conn: asyncpg.Connection, tables: Sequence[TableSchema]
) -> list[MirrorTable]:
    """The mirror tables for ClickHouse tables that PostgreSQL can hold."""
    mapped = {
        column.clickhouse_type: pg_type(column.clickhouse_type)
        for table in tables
        for column in table.columns
    }
    names = await _type_names(conn, ((pg.oid, pg.typmod) for pg in mapped.values()))
    type_sql = {ch: names[(pg.oid, pg.typmod)] for ch, pg in mapped.items()}
    return [
        MirrorTable(
            table.name,
            tuple(_mirror_column(c, type_sql[c.clickhouse_type]) for c in table.columns),
            _text(table.comment) or None,
        )
        for table in tables
    ]


_CURRENT_SQL = """
SELECT c.relname, c.relkind::text, obj_description(c.oid, 'pg_class'),
       a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       col_description(c.oid, a.attnum)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relkind::text = ANY($1::text[])
ORDER BY c.relname, a.attnum
"""


async def current_mirror(conn: asyncpg.Connection) -> tuple[list[MirrorTable], dict[str, str]]:
    """The tables now in schema public, and the relation kind of every relation there."""
    rows = await conn.fetch(_CURRENT_SQL, list(_DROP))
    kinds: dict[str, str] = {}
    columns: dict[str, list[MirrorColumn]] = {}
    comments: dict[str, str | None] = {}
    for relname, relkind, table_comment, attname, type_sql, not_null, comment in rows:
        kinds[relname] = relkind
        comments[relname] = table_comment
        columns.setdefault(relname, [])
        if attname is not None:
            columns[relname].append(MirrorColumn(attname, type_sql, not_null, comment))
    tables = [
        MirrorTable(name, tuple(columns[name]), comments[name])
        for name, kind in kinds.items()
        if kind == "r"
    ]
    return tables, kinds


# ---------------------------------------------------------------------------- the diff as SQL


def _create(table: MirrorTable, reader: str | None) -> list[str]:
    target = f"public.{quote_ident(table.name)}"
    columns = ", ".join(
        f"{quote_ident(c.name)} {c.type_sql}{' NOT NULL' if c.not_null else ''}"
        for c in table.columns
    )
    statements = [f"CREATE TABLE {target} ({columns})"]
    if table.comment is not None:
        statements.append(f"COMMENT ON TABLE {target} IS {quote_literal(table.comment)}")
    statements += [
        f"COMMENT ON COLUMN {target}.{quote_ident(c.name)} IS {quote_literal(c.comment)}"
        for c in table.columns
        if c.comment is not None
    ]
    if reader is not None:
        statements.append(f"GRANT SELECT ON {target} TO {quote_ident(reader)}")
    return statements


def _recomment(old: MirrorTable, new: MirrorTable) -> list[str]:
    target = f"public.{quote_ident(new.name)}"
    statements = []
    if old.comment != new.comment:
        statements.append(f"COMMENT ON TABLE {target} IS {_comment_value(new.comment)}")
    for before, after in zip(old.columns, new.columns, strict=True):
        if before.comment != after.comment:
            statements.append(
                f"COMMENT ON COLUMN {target}.{quote_ident(after.name)}"
                f" IS {_comment_value(after.comment)}"
            )
    return statements


def plan(
    current: Sequence[MirrorTable],
    kinds: dict[str, str],
    wanted: Sequence[MirrorTable],
    reader: str | None,
) -> list[str]:
    """The statements that turn schema public from `current` into `wanted`: drop what vanished
    or changed shape, create what is new or changed, re-comment what only changed comments.
    `reader` is granted SELECT on every created table."""
    existing = {table.name: table for table in current}
    desired = {table.name: table for table in wanted}
    statements = []
    kept: set[str] = set()
    for name, kind in sorted(kinds.items()):
        old = existing.get(name)
        new = desired.get(name)
        if old is not None and new is not None and old.structure == new.structure:
            kept.add(name)
            continue
        statements.append(f"DROP {_DROP[kind]} IF EXISTS public.{quote_ident(name)} CASCADE")
    for table in wanted:
        if table.name in kept:
            statements += _recomment(existing[table.name], table)
        else:
            statements += _create(table, reader)
    return statements


# ---------------------------------------------------------------------------- connections


def _ssl_argument(address: BackendAddress) -> ssl.SSLContext | str:
    if address.sslmode in ("verify-ca", "verify-full") and address.sslrootcert is not None:
        context = ssl.create_default_context(cafile=str(address.sslrootcert))
        context.check_hostname = address.sslmode == "verify-full"
        return context
    return address.sslmode


async def connect(address: BackendAddress, database: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=address.host,
        port=address.port,
        user=address.user,
        password=address.password.reveal() or None,
        database=database,
        ssl=_ssl_argument(address),
        timeout=address.connect_timeout,
        command_timeout=120,
        server_settings={"application_name": "metahog-catalog"},
    )


def reader_role(admin_user: str) -> str:
    """The reader role of an admin role: one each, so that gateways with different admin
    credentials on one server never reset each other's reader password."""
    name = READER_PREFIX + admin_user
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    return READER_PREFIX + hashlib.sha256(admin_user.encode()).hexdigest()[:16]


def reader_password(admin: BackendAddress) -> str:
    key = admin.password.reveal().encode() or _PROCESS_SECRET
    return hmac.new(key, reader_role(admin.user).encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------- the catalog


class ShadowCatalog:
    """One source's catalog database, kept in step with its ClickHouse tables by `sync`."""

    def __init__(self, admin: BackendAddress, database: str) -> None:
        self.admin = admin
        self.database = database
        self.reader_role = reader_role(admin.user)
        self.skipped: tuple[str, ...] = ()  # ClickHouse tables left out at the last sync
        self._reader: BackendAddress | None = None

    def __repr__(self) -> str:
        return f"ShadowCatalog(database={self.database!r})"

    @property
    def reader(self) -> BackendAddress:
        """Where sessions read the catalog; known once the first sync has prepared the role."""
        if self._reader is None:
            raise RuntimeError("ShadowCatalog.reader is known only after the first sync()")
        return self._reader

    async def sync(self, tables: Sequence[TableSchema]) -> None:
        """Make the catalog database mirror `tables`, in one transaction."""
        conn = await self._connect()
        try:
            own_reader = await self._ready_reader(conn)
            wanted = await mirror_tables(conn, self._mirrorable(tables))
            async with conn.transaction():
                # The advisory lock first: a second refresh waits for the first to finish, not
                # only LOCK_TIMEOUT; then every lock on a table is bounded.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('metahog-shadow-catalog'));"
                    f" SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
                )
                current, kinds = await current_mirror(conn)
                statements = plan(current, kinds, wanted, own_reader)
                if statements:
                    await conn.execute(";\n".join(statements))
        finally:
            await conn.close()

    async def sync_existing(self) -> None:
        """Make the catalog reachable (database, reader role) without touching its tables: for
        a source that cannot be read now, the mirror of its last successful sync stays."""
        conn = await self._connect()
        try:
            await self._ready_reader(conn)
        finally:
            await conn.close()

    async def attributes(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(table, column) -> (the mirror table's OID, the column's attnum): what PostgreSQL
        puts in RowDescription for a plain column of a table."""
        conn = await self._connect()
        try:
            rows = await conn.fetch(
                "SELECT c.relname, a.attname, c.oid, a.attnum FROM pg_attribute a"
                " JOIN pg_class c ON c.oid = a.attrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0"
                " AND NOT a.attisdropped"
            )
        finally:
            await conn.close()
        return {(row[0], row[1]): (row[2], row[3]) for row in rows}

    async def mirrored_names(self) -> list[str]:
        """The names of the tables the catalog mirrors now (from its last successful sync)."""
        conn = await self._connect()
        try:
            tables, _ = await current_mirror(conn)
        finally:
            await conn.close()
        return [table.name for table in tables]

    async def _ready_reader(self, conn: asyncpg.Connection) -> str | None:
        """The dedicated reader role, prepared at the first call; None when sessions read as
        the admin."""
        if self._reader is None:
            self._reader = await self._prepare_reader(conn)
        return None if self._reader.user == self.admin.user else self._reader.user

    def _mirrorable(self, tables: Sequence[TableSchema]) -> list[TableSchema]:
        kept, skipped = [], []
        for table in tables:
            reason = unrepresentable(table)
            if reason is None:
                kept.append(table)
            else:
                skipped.append(table.name)
                log.warning("catalog %s: table %r left out: %s", self.database, table.name, reason)
        self.skipped = tuple(skipped)
        return kept

    async def _connect(self) -> asyncpg.Connection:
        """A connection to the catalog database, created first if it does not exist."""
        try:
            conn = await connect(self.admin, self.database)
        except asyncpg.InvalidCatalogNameError:
            await self._create_database()
            conn = await connect(self.admin, self.database)
        try:
            await self._claim(conn)
            await self._ensure_public(conn)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _claim(self, conn: asyncpg.Connection) -> None:
        """Mark the database as a shadow catalog, or refuse one that holds someone's tables: a
        refresh drops every table in schema public, and a source named like an application's
        database must not cost that application its data."""
        mark = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname = current_database()"
        )
        if mark == CATALOG_MARK:
            return
        occupied = await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " AND relkind::text = ANY($1::text[])",
            list(_DROP),
        )
        if occupied:
            raise CatalogError(
                f"database {self.database} holds {occupied} relations in schema public and is"
                " not a MetaHog shadow catalog: refusing to replace them; give the source a"
                " catalog database of its own"
            )
        await conn.execute(
            f"COMMENT ON DATABASE {quote_ident(self.database)} IS {quote_literal(CATALOG_MARK)}"
        )

    async def _create_database(self) -> None:
        conn = await connect(self.admin, self.admin.database)
        try:
            # C collation is compatible with every encoding, and catalog names sort by C anyway.
            await conn.execute(
                f"CREATE DATABASE {quote_ident(self.database)} TEMPLATE template0"
                " ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
            )
            log.info("created catalog database %s", self.database)
        except asyncpg.DuplicateDatabaseError:
            pass  # another process created it meanwhile
        finally:
            await conn.close()

    async def _ensure_public(self, conn: asyncpg.Connection) -> None:
        if not await conn.fetchval("SELECT true FROM pg_namespace WHERE nspname = 'public'"):
            await conn.execute("CREATE SCHEMA IF NOT EXISTS public")

    async def _prepare_reader(self, conn: asyncpg.Connection) -> BackendAddress:
        """The reader role, made or updated and granted access, or the admin as a fallback."""
        fallback = dataclasses.replace(self.admin, database=self.database)
        password = reader_password(self.admin)
        try:
            await self._upsert_reader_role(conn, password)
        except asyncpg.InsufficientPrivilegeError as exc:
            log.warning(
                "catalog %s: cannot create or alter role %s (%s); sessions read the catalog as"
                " the admin role %s",
                self.database,
                self.reader_role,
                exc,
                self.admin.user,
            )
            return fallback
        await self._grant_reader(conn)
        return dataclasses.replace(
            self.admin, user=self.reader_role, password=Secret(password), database=self.database
        )

    async def _upsert_reader_role(self, conn: asyncpg.Connection, password: str) -> None:
        """Create the reader role, or reset the one there; InsufficientPrivilegeError if the
        admin may not, or if the role there has powers a reader must not have."""
        # Role DDL takes no parameters; the verifier is [A-Za-z0-9+/=$:-] only, so it is safe
        # as a literal. Sent pre-hashed, the password never appears in the server's logs.
        options = (
            "LOGIN NOCREATEDB NOCREATEROLE NOINHERIT"
            f" PASSWORD {quote_literal(make_verifier(password).encode())}"
        )
        role = quote_ident(self.reader_role)
        if not await conn.fetchval(
            "SELECT true FROM pg_roles WHERE rolname = $1", self.reader_role
        ):
            try:
                # NOSUPERUSER and NOREPLICATION are the defaults of CREATE ROLE; ALTER ROLE may
                # not even restate them unless the admin is a superuser, hence the check below.
                await conn.execute(f"CREATE ROLE {role} {options}")
                return
            except asyncpg.DuplicateObjectError:
                pass  # another process created it meanwhile
        await conn.execute(f"ALTER ROLE {role} {options}")
        powers = await conn.fetchrow(
            "SELECT rolsuper OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = $1",
            self.reader_role,
        )
        if powers is None or powers[0]:
            raise asyncpg.InsufficientPrivilegeError(
                f"role {self.reader_role} is a superuser, a replication role or bypasses RLS"
            )

    async def _grant_reader(self, conn: asyncpg.Connection) -> None:
        role = quote_ident(self.reader_role)
        database = quote_ident(self.database)
        await conn.execute(f"GRANT CONNECT ON DATABASE {database} TO {role}")
        # Best effort: on PostgreSQL before 15 schema public belongs to the bootstrap superuser,
        # and its defaults (USAGE for all, CREATE for all) then stay. Reader sessions are
        # read-only either way.
        for statement in (
            f"REVOKE ALL ON DATABASE {database} FROM PUBLIC",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            f"GRANT USAGE ON SCHEMA public TO {role}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
        ):
            try:
                await conn.execute(statement)
            except asyncpg.InsufficientPrivilegeError as exc:
                log.info("catalog %s: %s: %s", self.database, statement, exc)
