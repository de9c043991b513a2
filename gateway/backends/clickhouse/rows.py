"""PostgreSQL DataRow messages from ClickHouse rows: the per-row hot path of a ClickHouse source.

A DataRow is 'D', an int32 length (itself included), an int16 column count, then per column
an int32 length (-1 for NULL) and the value's bytes. `RowEncoder` is built once per result from
the columns' `PgType`s (see `types.pg_type`) and format codes (0 text, 1 binary), and turns a
batch of executor rows (`str` values as the executor gives them, None for NULL) into the
concatenated messages.

Why it is shaped this way (per-row cost measured in bench/bench_clickhouse.py):
- Many ClickHouse types already print what PostgreSQL prints in text format (integers, String,
  Date, UUID, Enum, UInt64 as numeric): for them the encoder would only call `str.encode`, so
  the row loop calls `str.encode` itself, with no Python-level call per value. Only a String
  that is not UTF-8 (lone surrogates, from the executor's surrogateescape decoding) makes
  `str.encode` fail; then the batch is redone with the columns' own encoders, which replace
  such characters by U+FFFD as `types` specifies. Float64 values in the range where both
  print alike skip their encoder too (see `_PLAIN_FLOAT8`).
- The row loop is generated once per column list (see `_compile`); length words come from a
  table for lengths below 4096.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence

from gateway.backends.clickhouse import types as ch_types
from gateway.backends.clickhouse.types import PgType

_INT32 = struct.Struct("!i")
_INT16 = struct.Struct("!h")
_NULL = _INT32.pack(-1)
_LENGTHS = tuple(_INT32.pack(n) for n in range(4096))

# The text encoders that only UTF-8-encode their value (types.py's `_ascii` and `_utf8`; the
# latter differs only for lone surrogates, which the fallback handles). A `text_is_identity`
# flag on PgType would say this without reaching into types.py's private names.
_IDENTITY: frozenset[Callable[[str], bytes]] = frozenset(
    encoder
    for encoder in (getattr(ch_types, "_ascii", None), getattr(ch_types, "_utf8", None))
    if encoder is not None
)

TEXT, BINARY = 0, 1

# Float64 in text format: ClickHouse (chDB 4.4 and the 18.16 server alike) prints the shortest
# round-trip digits in fixed notation below 1e21, and PostgreSQL prints the same digits in
# fixed notation for 1e-4 <= |x| < 1e15. Where a value is visibly in that range (at most 15
# integer digits, not 0.0000...), its text is PostgreSQL's already: checking that with one
# regex costs a third of the encoder's float parsing and repr (0.45 against 1.5 µs).
_PLAIN_FLOAT8 = re.compile(r"-?(?:[1-9][0-9]{0,14}(?:\.[0-9]+)?|0\.(?!0000)[0-9]+|0)").fullmatch
_FLOAT8 = 701


def is_identity(encoder: Callable[[str], bytes]) -> bool:
    """Whether `encoder(value)` is `value.encode()` for every valid-UTF-8 `value`."""
    return encoder in _IDENTITY


class RowEncoder:
    """DataRow messages for rows of one result, built once per result (RowDescription time)."""

    def __init__(self, types: Sequence[PgType], formats: Sequence[int]) -> None:
        if len(formats) == 1:  # as in Bind: one format code applies to every column
            formats = list(formats) * len(types)
        if len(formats) not in (0, len(types)):
            raise ValueError(f"{len(formats)} format codes for {len(types)} columns")
        formats = list(formats) or [TEXT] * len(types)
        if any(code not in (TEXT, BINARY) for code in formats):
            raise ValueError(f"unknown format code in {formats}")
        self.width = len(types)
        # Each column's own encoder is always right; the fast loop uses str.encode in its place
        # where that is the same for valid UTF-8.
        self._encoders: list[Callable[[str], bytes]] = [
            pg.binary if code == BINARY else pg.text
            for pg, code in zip(types, formats, strict=True)
        ]
        self._fast = _compile(
            [None if is_identity(e) else e for e in self._encoders],
            [
                _PLAIN_FLOAT8 if pg.oid == _FLOAT8 and code == TEXT else None
                for pg, code in zip(types, formats, strict=True)
            ],
        )
        self._safe: Callable[[Sequence[Sequence[str | None]]], bytes] | None = None

    def data_rows(self, rows: Sequence[Sequence[str | None]]) -> bytes:
        """The DataRow messages of `rows`, concatenated. A row of the wrong width raises
        ValueError."""
        try:
            return self._fast(rows)
        except UnicodeEncodeError:
            # A String that is not UTF-8: the columns' own encoders replace what is not.
            if self._safe is None:
                self._safe = _compile(self._encoders)
            return self._safe(rows)


def _compile(
    encoders: Sequence[Callable[[str], bytes] | None],
    plain: Sequence[Callable[[str], object] | None] = (),
) -> Callable[[Sequence[Sequence[str | None]]], bytes]:
    """A function encoding rows for exactly these columns: an encoder None means str.encode,
    and a `plain` test, where given, says for which values str.encode may replace the encoder.

    The loop is written out per column, as dataclasses and namedtuple write their methods:
    unpacking the row into locals and one join per message halves the per-row cost of a
    generic loop over (value, encoder) pairs (5 columns: 1.5 µs against 1.9 µs all str.encode,
    2.0 against 3.7 µs with a float column). Only column indexes enter the source; the
    encoders are passed in the namespace."""
    width = len(encoders)
    if width == 0:
        return lambda rows: _EMPTY_ROW * len(rows)
    names = ", ".join(f"v{i}" for i in range(width))
    lines = [
        "def data_rows(rows):",
        "    out = []",
        "    append = out.append",
        "    for row in rows:",
        f"        {names}, = row",
    ]
    plain = list(plain) or [None] * width
    for i, encoder in enumerate(encoders):
        call = f"v{i}.encode()" if encoder is None else f"e{i}(v{i})"
        if encoder is not None and plain[i] is not None:
            call = f"v{i}.encode() if p{i}(v{i}) else e{i}(v{i})"
        lines += [
            f"        if v{i} is None:",
            f"            h{i} = NULL",
            f"            d{i} = b''",
            "        else:",
            f"            d{i} = {call}",
            f"            n{i} = len(d{i})",
            f"            h{i} = LENGTHS[n{i}] if n{i} < 4096 else pack(n{i})",
        ]
    total = " + ".join(f"len(d{i})" for i in range(width))
    pieces = ", ".join(f"h{i}, d{i}" for i in range(width))
    lines += [
        f"        append(b''.join((b'D', pack({6 + 4 * width} + {total}), HEAD, {pieces})))",
        "    return b''.join(out)",
    ]
    namespace: dict[str, object] = {
        "LENGTHS": _LENGTHS,
        "NULL": _NULL,
        "pack": _INT32.pack,
        "HEAD": _INT16.pack(width),
    }
    namespace.update({f"e{i}": e for i, e in enumerate(encoders) if e is not None})
    namespace.update({f"p{i}": p for i, p in enumerate(plain) if p is not None})
    exec(compile("\n".join(lines), f"<RowEncoder {width} columns>", "exec"), namespace)
    return namespace["data_rows"]  # type: ignore[return-value]


_EMPTY_ROW = b"D" + _INT32.pack(6) + _INT16.pack(0)
