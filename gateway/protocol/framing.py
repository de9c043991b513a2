"""Reading whole messages off a stream, with the size bounds that keep a client honest."""

from __future__ import annotations

import asyncio

from gateway.protocol.errors import ProtocolViolation

# Start-up packets are small; PostgreSQL itself caps them at 10000 bytes.
MAX_STARTUP_PACKET = 10_000


class ConnectionClosed(Exception):
    """The peer closed the connection at a message boundary: nothing to report to anyone."""


async def read_startup_packet(reader: asyncio.StreamReader) -> bytes:
    """The body of a start-up family packet (StartupMessage, SSLRequest, CancelRequest...)."""
    header = await _read_exactly(reader, 4, at_boundary=True)
    length = int.from_bytes(header, "big")
    if length < 8 or length > MAX_STARTUP_PACKET:
        raise ProtocolViolation(f"invalid length of startup packet: {length}")
    return await _read_exactly(reader, length - 4, at_boundary=False)


async def read_message(reader: asyncio.StreamReader, max_size: int) -> tuple[bytes, bytes]:
    """One tagged message: (tag, payload)."""
    header = await _read_exactly(reader, 5, at_boundary=True)
    length = int.from_bytes(header[1:], "big")
    if length < 4:
        raise ProtocolViolation(f"invalid message length {length}")
    if length > max_size:
        raise ProtocolViolation(f"message of {length} bytes exceeds the limit of {max_size}")
    return header[:1], await _read_exactly(reader, length - 4, at_boundary=False)


async def _read_exactly(reader: asyncio.StreamReader, size: int, *, at_boundary: bool) -> bytes:
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        if at_boundary and not exc.partial:
            raise ConnectionClosed() from None
        raise ProtocolViolation(
            "incomplete message from client: connection closed mid-message"
        ) from None
    except (ConnectionError, OSError):
        raise ConnectionClosed() from None


def decode_cstring(raw: bytes, codec: str, encoding_name: str | None = None) -> str:
    """A NUL-terminated string from a message (Query, Parse), in the client's encoding;
    `encoding_name` is how the error names that encoding (the codec's name by default)."""
    if not raw.endswith(b"\0") or b"\0" in raw[:-1]:
        raise ProtocolViolation("invalid string in message")
    try:
        return raw[:-1].decode(codec)
    except UnicodeDecodeError:
        raise ProtocolViolation(
            f'invalid byte sequence for encoding "{encoding_name or codec}"'
        ) from None
