"""A small blocking protocol-v3 client for tests that need exact control over the messages a
client sends: pipelining, malformed input, message-level assertions."""

from __future__ import annotations

import socket
import ssl
import struct

from scramp import ScramClient

from gateway.protocol import messages


class WireClient:
    def __init__(self, port: int, *, tls: bool = True, timeout: float = 10.0) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout
        )
        if tls:
            self.sock.sendall(messages.SSLRequest.build(code=messages.SSL_REQUEST_CODE))
            assert self.sock.recv(1) == b"S"
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self.sock = context.wrap_socket(self.sock)
        self.buffer = b""
        self.parameters: dict[str, str] = {}
        self.key: tuple[int, int] | None = None

    # --- raw -------------------------------------------------------------------------------
    def send(self, *chunks: bytes) -> None:
        self.sock.sendall(b"".join(chunks))

    def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed")
            self.buffer += data

    def read(self) -> tuple[bytes, bytes]:
        self._fill(5)
        tag = self.buffer[:1]
        length = struct.unpack("!I", self.buffer[1:5])[0]
        self._fill(1 + length)
        payload = self.buffer[5 : 1 + length]
        self.buffer = self.buffer[1 + length :]
        return tag, payload

    def read_until(self, tag: bytes) -> list[tuple[bytes, bytes]]:
        out = []
        while True:
            message = self.read()
            out.append(message)
            if message[0] == tag:
                return out

    def closed(self) -> bool:
        """True once the server has closed the connection (after any pending messages)."""
        try:
            while True:
                self.read()
        except TimeoutError:
            return False  # still open: the server said nothing and did not hang up
        except (ConnectionError, OSError):
            return True

    # --- conversations ---------------------------------------------------------------------
    def startup(
        self, user: str, password: str, database: str, **params: str
    ) -> list[tuple[bytes, bytes]]:
        self.send(messages.startup_message({"user": user, "database": database, **params}))
        scram: ScramClient | None = None
        while True:
            tag, payload = self.read()
            if tag == b"E":
                return [(tag, payload)]
            if tag != b"R":
                raise AssertionError(f"unexpected {tag!r} during authentication")
            auth = messages.Authentication.parse(payload)
            if auth.code == messages.AUTH_OK:
                break
            if auth.code == messages.AUTH_SASL:
                scram = ScramClient(["SCRAM-SHA-256"], user, password)
                first = scram.get_client_first().encode()
                self.send(
                    messages.SASLInitialResponse.build(
                        mechanism=b"SCRAM-SHA-256", length=len(first), data=first
                    )
                )
            elif auth.code == messages.AUTH_SASL_CONTINUE:
                assert scram is not None
                scram.set_server_first(auth.data.decode())
                self.send(messages.SASLResponse.build(data=scram.get_client_final().encode()))
            elif auth.code == messages.AUTH_SASL_FINAL:
                assert scram is not None
                scram.set_server_final(auth.data.decode())
            elif auth.code == messages.AUTH_CLEARTEXT:
                self.send(messages.PasswordMessage.build(password=password.encode()))
        rest = self.read_until(b"Z")
        for tag, payload in rest:
            if tag == b"S":
                status = messages.ParameterStatus.parse(payload)
                self.parameters[status.name.decode()] = status.value.decode()
            elif tag == b"K":
                key = messages.BackendKeyData.parse(payload)
                self.key = (key.pid, key.secret)
        return rest

    def query(self, sql: str) -> list[tuple[bytes, bytes]]:
        self.send(messages.Query.build(query=sql.encode()))
        return self.read_until(b"Z")

    def close(self) -> None:
        try:
            self.send(messages.Terminate.build())
        except OSError:
            pass
        self.sock.close()


def error_fields(payload: bytes) -> dict[str, str]:
    return messages.parse_fields(messages.ErrorResponse.parse(payload))


def errors(responses: list[tuple[bytes, bytes]]) -> list[dict[str, str]]:
    return [error_fields(p) for t, p in responses if t == b"E"]


def data_rows(responses: list[tuple[bytes, bytes]]) -> list[list[bytes | None]]:
    rows = []
    for tag, payload in responses:
        if tag != b"D":
            continue
        count = struct.unpack("!H", payload[:2])[0]
        pos, row = 2, []
        for _ in range(count):
            length = struct.unpack("!i", payload[pos : pos + 4])[0]
            pos += 4
            if length < 0:
                row.append(None)
            else:
                row.append(payload[pos : pos + length])
                pos += length
        rows.append(row)
    return rows


def tags(responses: list[tuple[bytes, bytes]]) -> str:
    return "".join(t.decode() for t, _ in responses)


def ready_status(responses: list[tuple[bytes, bytes]]) -> str:
    tag, payload = responses[-1]
    assert tag == b"Z"
    return payload.decode()
