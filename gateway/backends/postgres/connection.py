"""One protocol connection to a PostgreSQL source: start-up, TLS, authentication, reset.

The data path does not go through here: once a client session owns a connection, the relay moves
its bytes. This module handles the moments when the gateway itself talks to the backend.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import Mapping, Sequence

from scramp import ScramClient

from gateway.config import BackendAddress
from gateway.protocol import messages
from gateway.protocol.errors import SQLCLIENT_UNABLE_TO_ESTABLISH, PgError

log = logging.getLogger(__name__)

# Enough for start-up chatter and error texts; relayed data never passes through read_message.
_MAX_CONTROL_MESSAGE = 16 * 1024 * 1024


class BackendError(PgError):
    """An ErrorResponse from the backend, kept with all its fields for relaying."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(
            fields.get("C", "XX000"),
            fields.get("M", "backend error"),
            severity=fields.get("V", fields.get("S", "ERROR")),
            detail=fields.get("D"),
            hint=fields.get("H"),
        )
        self.backend_fields = dict(fields)

    def fields(self) -> dict[str, str]:
        return dict(self.backend_fields)


class BackendUnavailable(PgError):
    def __init__(self, message: str) -> None:
        super().__init__(SQLCLIENT_UNABLE_TO_ESTABLISH, message, severity="FATAL")


def read_only_options(statement_timeout_ms: int, schema: str | None = None) -> str:
    """Start-up `options` that become the session's reset values, so that DISCARD ALL and
    RESET ALL return to them rather than to the server's defaults. `schema` (a name the config
    checked: no spaces, quotes or backslashes) becomes the search_path, quoted so its case
    stays."""
    timeout = int(statement_timeout_ms)
    options = f"-c default_transaction_read_only=on -c statement_timeout={timeout}"
    if schema is not None:
        options += f' -c search_path="{schema}"'
    return options


class BackendConnection:
    def __init__(
        self,
        address: BackendAddress,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.address = address
        self.reader = reader
        self.writer = writer
        self.pid = 0
        self.secret = 0
        self.status = b"I"
        self.parameters: dict[str, str] = {}
        self.broken = False
        # Extended-protocol messages were sent since the last Sync: the backend may hold an
        # implicit transaction, or be skipping messages after an error, until a Sync arrives.
        self.unsynced = False

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    async def open(cls, address: BackendAddress, options: str) -> BackendConnection:
        try:
            return await asyncio.wait_for(cls._open(address, options), address.connect_timeout)
        except TimeoutError:
            raise BackendUnavailable(
                f"timeout connecting to {address.host}:{address.port}"
            ) from None
        except OSError as exc:
            raise BackendUnavailable(
                f"could not connect to {address.host}:{address.port}: {exc.strerror or exc}"
            ) from None

    @classmethod
    async def _open(cls, address: BackendAddress, options: str) -> BackendConnection:
        if address.host.startswith("/"):
            path = f"{address.host}/.s.PGSQL.{address.port}"
            reader, writer = await asyncio.open_unix_connection(path)
        else:
            reader, writer = await asyncio.open_connection(address.host, address.port)
        connection = cls(address, reader, writer)
        try:
            await connection._negotiate_tls()
            await connection._start(options)
        except BaseException:
            connection.close()
            raise
        return connection

    async def _negotiate_tls(self) -> None:
        mode = self.address.sslmode
        if mode == "disable" or self.address.host.startswith("/"):
            return
        self.writer.write(messages.SSLRequest.build(code=messages.SSL_REQUEST_CODE))
        await self.writer.drain()
        answer = await self.reader.readexactly(1)
        if answer == b"N":
            if mode in ("require", "verify-ca", "verify-full"):
                raise BackendUnavailable(
                    f"server {self.address.host}:{self.address.port} does not support TLS, "
                    f"but sslmode={mode} requires it"
                )
            return
        if answer != b"S":
            raise BackendUnavailable("unexpected answer to SSLRequest")
        await self.writer.start_tls(
            self._tls_context(),
            server_hostname=self.address.host if mode == "verify-full" else None,
        )

    def _tls_context(self) -> ssl.SSLContext:
        mode = self.address.sslmode
        if mode in ("verify-ca", "verify-full"):
            context = ssl.create_default_context(
                cafile=str(self.address.sslrootcert) if self.address.sslrootcert else None
            )
            context.check_hostname = mode == "verify-full"
            return context
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    async def _start(self, options: str) -> None:
        params = {
            "user": self.address.user,
            "database": self.address.database,
            "application_name": "metahog",
            "client_encoding": "UTF8",
            "options": options,
        }
        self.writer.write(messages.startup_message(params))
        await self.writer.drain()
        await self._authenticate()
        while True:
            tag, payload = await self.read_message()
            if tag == b"Z":
                self.status = payload[:1]
                return
            self.absorb(tag, payload)

    async def _authenticate(self) -> None:
        scram: ScramClient | None = None
        password = self.address.password.reveal()
        while True:
            tag, payload = await self.read_message()
            if tag == b"E":
                raise BackendError(messages.parse_fields(messages.ErrorResponse.parse(payload)))
            if tag != b"R":
                raise BackendUnavailable(f"unexpected message {tag!r} during authentication")
            auth = messages.Authentication.parse(payload)
            if auth.code == messages.AUTH_OK:
                return
            if auth.code == messages.AUTH_CLEARTEXT:
                self.writer.write(messages.PasswordMessage.build(password=password.encode()))
            elif auth.code == messages.AUTH_MD5:
                inner = hashlib.md5((password + self.address.user).encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + auth.data[:4]).hexdigest()
                self.writer.write(messages.PasswordMessage.build(password=b"md5" + outer.encode()))
            elif auth.code == messages.AUTH_SASL:
                offered = [m.decode() for m in auth.data.split(b"\0") if m]
                if "SCRAM-SHA-256" not in offered:
                    raise BackendUnavailable(f"unsupported SASL mechanisms {offered}")
                scram = ScramClient(["SCRAM-SHA-256"], self.address.user, password)
                first = scram.get_client_first().encode()
                self.writer.write(
                    messages.SASLInitialResponse.build(
                        mechanism=b"SCRAM-SHA-256", length=len(first), data=first
                    )
                )
            elif auth.code == messages.AUTH_SASL_CONTINUE and scram is not None:
                scram.set_server_first(auth.data.decode())
                self.writer.write(
                    messages.SASLResponse.build(data=scram.get_client_final().encode())
                )
            elif auth.code == messages.AUTH_SASL_FINAL and scram is not None:
                scram.set_server_final(auth.data.decode())
                continue
            else:
                raise BackendUnavailable(f"unsupported authentication request {auth.code}")
            await self.writer.drain()

    # --- talking ---------------------------------------------------------------------------
    async def read_message(self) -> tuple[bytes, bytes]:
        header = await self.reader.readexactly(5)
        length = int.from_bytes(header[1:], "big")
        if length < 4 or length > _MAX_CONTROL_MESSAGE:
            self.broken = True
            raise BackendUnavailable(f"backend sent a message of invalid length {length}")
        return header[:1], await self.reader.readexactly(length - 4)

    def absorb(self, tag: bytes, payload: bytes) -> None:
        """Keep what the gateway tracks from asynchronous backend messages."""
        if tag == b"S":
            status = messages.ParameterStatus.parse(payload)
            self.parameters[status.name.decode()] = status.value.decode("utf-8", "replace")
        elif tag == b"K":
            key = messages.BackendKeyData.parse(payload)
            self.pid, self.secret = key.pid, key.secret

    async def run(self, requests: Sequence[bytes], ready_count: int) -> list[BackendError]:
        """Send requests and read until `ready_count` ReadyForQuery messages, returning the
        errors seen on the way. Used for the gateway's own statements, never for client ones."""
        self.writer.write(b"".join(requests))
        await self.writer.drain()
        errors: list[BackendError] = []
        while ready_count:
            tag, payload = await self.read_message()
            if tag == b"Z":
                self.status = payload[:1]
                ready_count -= 1
            elif tag == b"E":
                errors.append(
                    BackendError(messages.parse_fields(messages.ErrorResponse.parse(payload)))
                )
            else:
                self.absorb(tag, payload)
        return errors

    async def set_parameters(self, settings: Mapping[str, str]) -> list[BackendError]:
        """Apply client session settings with bound parameters, so no value is ever spliced
        into SQL text."""
        if not settings:
            return []
        requests = [
            messages.Parse.build(
                statement=b"", query=b"SELECT pg_catalog.set_config($1, $2, false)", param_types=[]
            )
        ]
        for name, value in settings.items():
            params = [{"length": len(v), "data": v} for v in (name.encode(), value.encode())]
            requests.append(
                messages.Bind.build(
                    portal=b"", statement=b"", param_formats=[], params=params, result_formats=[]
                )
            )
            requests.append(messages.Execute.build(portal=b"", max_rows=0))
        requests.append(messages.Sync.build())
        return await self.run(requests, ready_count=1)

    async def reset(self) -> None:
        """Return the session to its start-up state for the next client."""
        requests = []
        if self.unsynced:
            requests.append(messages.Sync.build())
            self.unsynced = False
        if self.status != b"I" or len(requests):
            requests.append(messages.Query.build(query=b"ROLLBACK"))
        requests.append(messages.Query.build(query=b"DISCARD ALL"))
        errors = await self.run(requests, ready_count=len(requests))
        if errors or self.status != b"I":
            self.broken = True

    async def cancel(self) -> None:
        """Ask the server to cancel whatever this connection is running, on a new connection as
        the protocol requires."""
        host, port = self.address.host, self.address.port
        try:
            if host.startswith("/"):
                reader, writer = await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
            else:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
            writer.write(
                messages.CancelRequest.build(
                    code=messages.CANCEL_REQUEST_CODE, pid=self.pid, secret=self.secret
                )
            )
            await writer.drain()
            # The server closes the connection once it has processed the request.
            await asyncio.wait_for(reader.read(1), 5)
            writer.close()
        except (OSError, TimeoutError) as exc:
            log.warning("cancel request to backend pid %s failed: %s", self.pid, exc)

    def close(self) -> None:
        self.broken = True
        if not self.writer.is_closing():
            try:
                self.writer.write(messages.Terminate.build())
            except Exception:
                pass
            self.writer.close()
