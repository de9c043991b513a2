"""One client connection from its first byte to its last: start-up, authentication, routing to a
source, then the relay. This is where protocol, routing and backends meet; each of them stays
ignorant of the others.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Container
from typing import TYPE_CHECKING

from gateway.admin.console import AdminConsole, check_admin
from gateway.backends.hogql.source import HogQLSource
from gateway.backends.postgres.connection import BackendConnection
from gateway.backends.postgres.relay import (
    ClientChannel,
    PostgresRelay,
    client_parameter_status,
    python_codec,
    unsafe_parameter,
)
from gateway.config import ADMIN_DATABASE, Limits
from gateway.federation import FederatedSession
from gateway.limits import SessionLimits
from gateway.ops import metrics
from gateway.ops.logging import SESSION
from gateway.ops.observe import SessionIdentity, StatementTracker
from gateway.ops.shutdown import end_if_idle
from gateway.protocol import messages
from gateway.protocol.errors import (
    INSUFFICIENT_PRIVILEGE,
    INVALID_AUTHORIZATION,
    INVALID_CATALOG_NAME,
    INVALID_PASSWORD,
    PROTOCOL_VIOLATION,
    PgError,
    notice,
)
from gateway.protocol.framing import ConnectionClosed
from gateway.protocol.startup import (
    CancelTarget,
    StartupRequest,
    auth_failed,
    authenticate,
    negotiate,
    read_cleartext_password,
)
from gateway.routing.settings import STARTUP_KEYS, is_safe_setting, is_safe_value, parse_options
from gateway.secret import Secret

if TYPE_CHECKING:
    from gateway.server import Gateway

log = logging.getLogger(__name__)

# What every client is told after authentication, as PostgreSQL 15 reports it.
REPORTED_PARAMETERS = (
    "server_version",
    "server_encoding",
    "client_encoding",
    "DateStyle",
    "IntervalStyle",
    "integer_datetimes",
    "standard_conforming_strings",
    "TimeZone",
    "application_name",
    "is_superuser",
    "session_authorization",
    "default_transaction_read_only",
    "in_hot_standby",
)
_FALLBACKS = {
    "server_version": "15.0",
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "integer_datetimes": "on",
    "standard_conforming_strings": "on",
    "TimeZone": "UTC",
    "application_name": "",
    "default_transaction_read_only": "on",
    "in_hot_standby": "off",
}


def client_settings(params: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Split start-up parameters into the settings to apply and the names refused. Settings that
    could lift the gateway's limits are never forwarded."""
    requested = [(name, value) for name, value in params.items() if name not in STARTUP_KEYS]
    requested += parse_options(params.get("options", ""))
    settings = {"application_name": params.get("application_name", "")}
    refused = []
    for name, value in requested:
        if is_safe_setting(name) and is_safe_value(name, value):
            settings[name] = value
        else:
            refused.append(name)
    return settings, refused


class ClientSession:
    def __init__(
        self,
        gateway: Gateway,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        login: StartupRequest | None = None,
        peer: str | None = None,
    ) -> None:
        self.gateway = gateway
        self.reader = reader
        self.writer = writer
        # An internal session (the HTTP API, gateway/http/internal.py): the caller authenticated
        # `login.user` already (a bearer token), so start-up and authentication are skipped.
        # Everything after them (routing, privileges, limits, the guard) is the same.
        self.login = login
        self.pid = 0
        self.secret = 0
        self.relay: PostgresRelay | None = None
        self.federated: FederatedSession | None = None
        if peer is None:
            address = writer.get_extra_info("peername")
            peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        self.peer = peer
        # What the admin console shows of the session; its StatementTracker keeps the
        # statement's state current.
        self.user: str | None = None
        self.source: str | None = None
        self.application_name = ""
        self.tls = False
        self._state = "idle"
        self.current_statement: str | None = None
        self.statement_started: float | None = None
        self._cancel_request = False

    async def run(self) -> None:
        SESSION.set(self)  # log lines of this session carry its id (gateway/ops/logging.py)
        failure: PgError | None = None
        try:
            await self._run()
        except PgError as error:
            failure = error
            self._write(error.encode())
        except ConnectionClosed:
            pass
        except TimeoutError:
            self._write(
                PgError(
                    PROTOCOL_VIOLATION, "canceling authentication due to timeout", severity="FATAL"
                ).encode()
            )
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            log.debug("client %s: connection lost: %s", self.peer, exc)
        finally:
            self._count(failure)
            try:
                await asyncio.wait_for(self.writer.drain(), 5)
            except Exception:
                pass
            self.writer.close()

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        self._state = value
        # In a shutdown, a session ends as soon as its statement has, before it can start
        # another (gateway/ops/shutdown.py); once the answer queued now is written.
        if value != "active" and self.gateway.draining:
            asyncio.get_running_loop().call_soon(end_if_idle, self)

    def _count(self, failure: PgError | None) -> None:
        """Count the session by its authentication outcome; internal sessions (the HTTP API) and
        cancel requests are not client sessions."""
        if self.login is not None or self._cancel_request:
            return
        if self.pid:
            outcome = metrics.AUTH_OK
        elif failure is not None:
            failed = failure.sqlstate == INVALID_PASSWORD
            outcome = metrics.AUTH_FAILED if failed else metrics.AUTH_REFUSED
        else:
            outcome = metrics.AUTH_ABANDONED
        self.gateway.metrics.session(self.tls, outcome)
        log.debug("client %s: session ended (authentication: %s)", self.peer, outcome)

    def _write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def _run(self) -> None:
        config = self.gateway.config
        async with asyncio.timeout(config.server.auth_timeout):
            request = self.login or await negotiate(
                self.reader, self.writer, self.gateway.tls, config.server.tls == "require"
            )
            if isinstance(request, CancelTarget):
                self._cancel_request = True
                self.gateway.cancel(request.pid, request.secret)
                return
            self.user, self.source = request.user, request.database
            self.application_name = request.params.get("application_name", "")
            self.tls = request.tls
            own_key = None if self.login else await self._authenticate(request)
        if request.database == ADMIN_DATABASE and self.login is None:
            await self._run_console(request)
            return
        if own_key is not None:
            await self.gateway.catalogs.logged_in(request.database, own_key)
        pool = self._route(request, own_key is not None)
        # Looked up with the pool, before any wait: a reload may remove the source meanwhile,
        # and the session keeps what it started with.
        data_source = own_key or self.gateway.data_sources.get(request.database)
        self._write(messages.authentication(messages.AUTH_OK))
        settings, refused = client_settings(request.params)
        waiting = time.monotonic()
        try:
            backend = await pool.acquire()
        finally:  # a wait that timed out counts too: it is the longest
            self.gateway.metrics.waited(pool.source.name, time.monotonic() - waiting)
        tracker: StatementTracker | None = None
        try:
            await self._attach(request, backend, settings, refused)
            tracker = StatementTracker(
                self.gateway.observer,
                SessionIdentity(
                    self.pid, request.user, request.database, self.application_name, self.peer
                ),
                self,
            )
            user = config.user(request.user)
            limits = pool.source.limits.combine(user.limits) if user else pool.source.limits
            session_limits = SessionLimits(limits, request.user, self.gateway.activity)
            if data_source is not None:
                self.federated = FederatedSession(
                    self.reader,
                    self.writer,
                    backend,
                    data_source,
                    self.gateway.guard,
                    session_limits,
                    max_message_size=config.server.max_message_size,
                    tracker=tracker,
                )
                self._log_connected(request)
                await self.federated.run()
                return
            channel = ClientChannel(
                self.reader,
                self.writer,
                user=request.user,
                max_message_size=config.server.max_message_size,
                # _attach has refused encodings without a codec.
                codec=python_codec(backend.parameters.get("client_encoding", "UTF8")) or "utf-8",
            )
            self.relay = PostgresRelay(
                channel,
                backend,
                self.gateway.guard.check,
                session_limits,
                gateway_timeout_ms=_gateway_timeout(limits, pool.source.statement_timeout_ms),
                tracker=tracker,
            )
            self._log_connected(request)
            await self.relay.run()
        finally:
            if tracker is not None:
                tracker.end()
            self.gateway.forget(self)
            await pool.release(backend)

    def _log_connected(self, request: StartupRequest) -> None:
        log.info(
            "session %d: %s connected as %s to %s",
            self.pid,
            self.peer,
            request.user,
            request.database,
        )

    async def _authenticate(self, request: StartupRequest) -> HogQLSource | None:
        """Authenticate the client. On a PostHog source with `auth = "passthrough"` the password
        is the user's personal API key, and PostHog is the one who accepts it: the result is
        the source as that key sees it, which the session then queries with."""
        source = self.gateway.data_sources.get(request.database)
        if not (isinstance(source, HogQLSource) and source.target.passthrough):
            config = self.gateway.config
            await authenticate(self.reader, self.writer, config, request, self.gateway.tls)
            return None
        key = Secret(await read_cleartext_password(self.reader, self.writer, request))
        if not key.reveal():
            raise auth_failed(request.user)
        try:
            return await source.accept_key(key)
        except PgError as error:
            log.info("%s: PostHog did not accept the key of %s: %s", self.peer, request.user, error)
            if error.sqlstate == INVALID_AUTHORIZATION:
                raise auth_failed(request.user) from None
            error.severity = "FATAL"
            raise

    def _route(self, request: StartupRequest, passthrough: bool = False):
        user = self.gateway.config.user(request.user)
        pool = self.gateway.pools.get(request.database)
        if pool is None:
            raise PgError(
                INVALID_CATALOG_NAME,
                f'database "{request.database}" does not exist',
                severity="FATAL",
            )
        # Passthrough: PostHog decided, by the key, what this user may read.
        if not passthrough and (user is None or not user.may_use(request.database)):
            raise PgError(
                INSUFFICIENT_PRIVILEGE,
                f'permission denied for database "{request.database}"',
                detail="User does not have CONNECT privilege.",
                severity="FATAL",
            )
        return pool

    async def _attach(
        self,
        request: StartupRequest,
        backend: BackendConnection,
        settings: dict[str, str],
        refused: list[str],
    ) -> None:
        errors = await backend.set_parameters(settings)
        if errors:
            error = errors[0]
            error.severity = "FATAL"
            raise error
        for name, value in backend.parameters.items():
            violation = unsafe_parameter(name, value)
            if violation is not None:
                backend.broken = True
                raise violation
        for name in refused:
            self._write(
                notice(
                    f'startup parameter "{name}" is not allowed through MetaHog and was ignored',
                    severity="WARNING",
                )
            )
        self._report_parameters(backend.parameters, request.user)
        self.pid, self.secret = self.gateway.register(self)
        self._write(messages.BackendKeyData.build(pid=self.pid, secret=self.secret))
        self._write(messages.ReadyForQuery.build(status=ord(backend.status)))
        await self.writer.drain()

    def _report_parameters(self, parameters: dict[str, str], user: str) -> None:
        reported = dict(_FALLBACKS)
        reported.update(parameters)
        for name in REPORTED_PARAMETERS:
            if name not in reported:
                reported[name] = ""
        for name, value in reported.items():
            self._write(client_parameter_status(name, value, user))

    async def _run_console(self, request: StartupRequest) -> None:
        """The admin console (gateway/admin): no source, no backend connection."""
        check_admin(self.gateway.config.user(request.user))
        self._write(messages.authentication(messages.AUTH_OK))
        self._report_parameters({}, request.user)
        self.pid, self.secret = self.gateway.register(self)
        try:
            self._write(messages.BackendKeyData.build(pid=self.pid, secret=self.secret))
            self._write(messages.ReadyForQuery.build(status=ord("I")))
            self._log_connected(request)
            await AdminConsole(self).run()
        finally:
            self.gateway.forget(self)

    async def cancel(self) -> None:
        if self.relay is not None:
            await self.relay.cancel()
        elif self.federated is not None:
            await self.federated.cancel()


def _gateway_timeout(limits: Limits, backend_timeout_ms: int) -> int | None:
    """The backend enforces the source's statement_timeout; a stricter one (a user's) is timed
    by the gateway, which cancels the statement on the backend when it runs out."""
    timeout = limits.statement_timeout_ms
    if timeout and (not backend_timeout_ms or timeout < backend_timeout_ms):
        return timeout
    return None


def new_cancel_key(taken: Container[int]) -> tuple[int, int]:
    while True:
        pid = secrets.randbelow(2**31 - 1) + 1
        if pid not in taken:
            return pid, secrets.randbits(32)
