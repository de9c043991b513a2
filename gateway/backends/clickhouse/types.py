"""ClickHouse result types as PostgreSQL types.

`pg_type(clickhouse_type)` parses a ClickHouse type string (as TabSeparatedWithNamesAndTypes
reports it) and returns a `PgType`: the OID, typmod and type size for RowDescription, and two
encoders that turn one ClickHouse TabSeparated value (already unescaped, a `str`; NULL is
handled by the caller) into the exact bytes PostgreSQL sends for that value in text format
and in binary format.

Mapping decisions:

- Bool -> bool; Int8, Int16, UInt8 -> int2; Int32, UInt16 -> int4; Int64, UInt32 -> int8;
  UInt64 and the 128/256-bit integers -> numeric (no typmod), so nothing overflows.
- Float32 -> float4, Float64 -> float8, printed as PostgreSQL 12+ does with the default
  extra_float_digits = 1: shortest round-trip digits, exponent form outside 1e-4 <= |x| <
  1e15 (float8) or 1e6 (float4), as PostgreSQL does; NaN, Infinity, -Infinity.
- Decimal(P, S) -> numeric(P, S): typmod ((P << 16) | S) + 4, text with exactly S decimals.
- String, Enum8/16 -> text. A `str` that is not valid UTF-8 (lone surrogates, as a
  surrogateescape decoder leaves for bytes that are not UTF-8) has each such character
  replaced by U+FFFD: PostgreSQL clients are told client_encoding UTF8 and must get UTF-8.
- FixedString(n) -> bytea: it is usually binary (hashes, packed ids) and NUL-padded, which
  text cannot carry. The bytes are the value's UTF-8 encoding (surrogateescape, so raw bytes
  round-trip if the executor decodes with surrogateescape).
- UUID -> uuid; Date, Date32 -> date; IPv4, IPv6 -> inet.
- DateTime, DateTime64(p[, 'tz']) -> timestamptz. ClickHouse prints the wall-clock time in the
  type's time zone (UTC when the type names none: the gateway runs ClickHouse with UTC);
  the text form is printed as a PostgreSQL session with TimeZone = 'UTC' prints it
  ("2024-03-01 12:34:56.789+00"). Precision above microseconds is rounded half-even, as
  PostgreSQL's rint does.
- JSON (and the older Object('json')) -> jsonb, re-printed as jsonb prints documents.
- Tuple(...) -> jsonb array (element names of a named tuple are dropped); Map(K, V) -> jsonb
  object, keys as text, sorted and deduplicated as jsonb does. Inside them: numbers stay
  numbers (Decimal with all S decimals; nan/inf become the strings "NaN", "Infinity"), Bool
  is true/false, NULL is null, everything else (dates, UUIDs, ...) its text as a string.
- Array(T) of any mapped T other than Array -> T's PostgreSQL array type (one dimension).
- Nullable(T), LowCardinality(T), SimpleAggregateFunction(f, T) -> T.
- Everything else (nested arrays, JSON/Object, Variant, intervals, Nothing, ...) -> text
  holding ClickHouse's own text form.

Compound values (Array, Tuple, Map) must be the TabSeparated field exactly as ClickHouse sent
it, NOT passed through the executor's TSV unescaping: see `split_array`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

Encoder = Callable[[str], bytes]


# ---------------------------------------------------------------------------- type parsing


@dataclass(frozen=True)
class ChType:
    """A parsed ClickHouse type: `name` and its arguments (types, numbers or strings; an
    `Enum8('a' = 1)` member is the string "'a' = 1" as written)."""

    name: str
    args: tuple[ChType | int | str, ...] = ()


class TypeSyntaxError(ValueError):
    pass


def parse_type(text: str) -> ChType:
    parser = _Parser(text)
    result = parser.type_()
    parser.skip_space()
    if parser.pos != len(text):
        raise TypeSyntaxError(f"unexpected text after type: {text!r}")
    return result


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise TypeSyntaxError(f"expected {char!r} at {self.pos} in {self.text!r}")
        self.pos += 1

    def word(self) -> str:
        self.skip_space()
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] == "_"
        ):
            self.pos += 1
        if start == self.pos:
            raise TypeSyntaxError(f"expected a name at {start} in {self.text!r}")
        return self.text[start : self.pos]

    def quoted(self) -> str:
        self.expect("'")
        out = []
        while True:
            if self.pos >= len(self.text):
                raise TypeSyntaxError(f"unterminated string in {self.text!r}")
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and self.pos < len(self.text):
                out.append(self.text[self.pos])
                self.pos += 1
            elif char == "'":
                if self.text.startswith("'", self.pos):  # '' inside a string
                    out.append("'")
                    self.pos += 1
                else:
                    return "".join(out)
            else:
                out.append(char)

    def type_(self) -> ChType:
        name = self.word()
        if self.peek() != "(":
            return ChType(name)
        self.pos += 1
        args: list[ChType | int | str] = []
        while self.peek() != ")":
            args.append(self.argument(name))
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != ")":
                raise TypeSyntaxError(f"expected ',' or ')' at {self.pos} in {self.text!r}")
        self.pos += 1
        return ChType(name, tuple(args))

    def argument(self, outer: str) -> ChType | int | str:
        char = self.peek()
        if char == "'":
            label = self.quoted()
            if self.peek() == "=":  # Enum member: 'a' = 1
                self.pos += 1
                self.skip_space()
                start = self.pos
                while self.pos < len(self.text) and self.text[self.pos] in "-0123456789":
                    self.pos += 1
                return f"{label!r} = {int(self.text[start : self.pos])}"
            return label
        if char == "-" or char.isdigit():
            self.skip_space()
            start = self.pos
            self.pos += 1
            while self.pos < len(self.text) and self.text[self.pos].isdigit():
                self.pos += 1
            return int(self.text[start : self.pos])
        if outer in ("Tuple", "Nested"):
            # Named tuple elements: `Tuple(a UInt8, b String)`; the name is dropped.
            save = self.pos
            self.word()
            if self.peek() not in (",", ")", "("):
                return self.type_()
            self.pos = save
        return self.type_()


# ---------------------------------------------------------------------------- PostgreSQL types


@dataclass(frozen=True)
class PgType:
    oid: int
    typmod: int
    size: int
    text: Encoder
    binary: Encoder


BOOL, BYTEA, INT8, INT2, INT4, TEXT = 16, 17, 20, 21, 23, 25
FLOAT4, FLOAT8, INET, DATE, TIMESTAMPTZ, NUMERIC, UUID = 700, 701, 869, 1082, 1184, 1700, 2950
JSONB = 3802
TIMESTAMP = 1114
# Not a ClickHouse type: the translation names it for outputs that are PostgreSQL's timestamp
# without time zone (AT TIME ZONE, date + interval, ::timestamp). Values are DateTime text in UTC.
TIMESTAMP_OVERRIDE = "MetaHogTimestamp"
# Likewise for varchar outputs (::varchar) and jsonb ones (`->`), whose values are String.
VARCHAR_OVERRIDE = "MetaHogVarchar"
JSONB_OVERRIDE = "MetaHogJsonb"
VARCHAR = 1043
ARRAY_OF = {
    BOOL: 1000,
    BYTEA: 1001,
    INT2: 1005,
    INT4: 1007,
    TEXT: 1009,
    INT8: 1016,
    FLOAT4: 1021,
    FLOAT8: 1022,
    INET: 1041,
    DATE: 1182,
    TIMESTAMPTZ: 1185,
    NUMERIC: 1231,
    UUID: 2951,
    JSONB: 3807,
}


def _utf8(value: str) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError:  # lone surrogates: not UTF-8, each replaced by U+FFFD
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value).encode()


def _ascii(value: str) -> bytes:
    return value.encode()


# bool
def _bool_text(value: str) -> bytes:
    return b"t" if value in ("true", "1") else b"f"


def _bool_binary(value: str) -> bytes:
    return b"\x01" if value in ("true", "1") else b"\x00"


_INT2, _INT4, _INT8 = struct.Struct("!h"), struct.Struct("!i"), struct.Struct("!q")
_FLOAT4, _FLOAT8 = struct.Struct("!f"), struct.Struct("!d")


def _packer(packer: struct.Struct) -> Encoder:
    pack = packer.pack

    def encode(value: str) -> bytes:
        return pack(int(value))

    return encode


# floats
_SPECIAL = {"nan": b"NaN", "-nan": b"NaN", "inf": b"Infinity", "+inf": b"Infinity"}
_SPECIAL["-inf"] = b"-Infinity"


def _float_digits(number: float, single: bool) -> tuple[str, int]:
    """Shortest round-trip digits (no sign, no trailing zeros) and decimal exponent of the
    first digit, of a positive double or (single) float4, as PostgreSQL's Ryu prints them.

    PostgreSQL builds Ryu without STRICTLY_SHORTEST: a candidate exactly halfway between the
    value and a neighbour is refused even when round-half-even would read it back right,
    where Python's repr() accepts it. Only large values have such short halfway decimals
    (the halfway point of doubles below 2**50 has more digits than any candidate), so only
    they get the exact check."""
    if single:
        text = _float4_shortest(number)
    else:
        text = repr(number)
        if "e" not in text:
            text = _sci(text)
        if number >= 2.0**50 and _halfway(text):
            for precision in range(1, 18):
                text = f"{number:.{precision - 1}e}"
                if float(text) == number and not _halfway(text):
                    break
    mantissa, exponent = text.split("e")
    digits = mantissa.replace(".", "").lstrip("-").rstrip("0") or "0"
    return digits, int(exponent)


def _halfway(text: str) -> bool:
    """Whether the decimal `text` lies exactly halfway between the double it reads back as and
    one of that double's neighbours."""
    candidate = Fraction(Decimal(text))
    number = float(text)
    value = Fraction(number)
    neighbours = [Fraction(math.nextafter(number, 0.0))]
    if not math.isinf(up := math.nextafter(number, math.inf)):
        neighbours.append(Fraction(up))
    return any(candidate == (value + other) / 2 for other in neighbours)


def _float4_shortest(number: float) -> str:
    """The shortest decimal (in "%e" form) strictly inside the rounding interval of the
    positive float4 `number`, as PostgreSQL's Ryu finds it (bounds excluded). Float4 values
    and their halfway points are exact doubles, so a candidate read as a double decides,
    except when that double is a halfway point itself: then the exact decimal decides."""
    bits = struct.unpack("!I", _FLOAT4.pack(number))[0]
    lower = _FLOAT4.unpack(struct.pack("!I", bits - 1))[0] if bits else -number
    upper = _FLOAT4.unpack(struct.pack("!I", bits + 1))[0]
    if math.isinf(upper):
        upper = number + (number - lower)
    low, high = (number + lower) / 2, (number + upper) / 2

    def inside(text: str) -> bool:
        candidate = float(text)
        if candidate == low or candidate == high:
            return Fraction(low) < Fraction(Decimal(text)) < Fraction(high)
        return low < candidate < high

    power_of_two = not bits & 0x7FFFFF
    for precision in range(1, 10):
        text = f"{number:.{precision - 1}e}"
        if inside(text):
            return text
        if power_of_two and float(text) < number:
            # The interval is twice as wide above a power of two: the nearest candidate can
            # miss below while the next one up is inside.
            _, exponent = text.split("e")
            step = Decimal(1).scaleb(int(exponent) - precision + 1)
            text = f"{Decimal(text) + step:.{precision - 1}e}"
            if inside(text):
                return text
    return f"{number:.8e}"


def _sci(text: str) -> str:
    """repr() of a float in fixed form to scientific form with the same digits."""
    text = text.lstrip("-")
    whole, _, frac = text.partition(".")
    if frac == "0":
        frac = ""
    digits = (whole + frac).lstrip("0")
    lead_zeros = len(whole + frac) - len((whole + frac).lstrip("0"))
    exponent = len(whole) - 1 - lead_zeros
    return f"{digits[0]}.{digits[1:] or '0'}e{exponent}"


def _float_text(single: bool) -> Encoder:
    limit = 6 if single else 15  # PostgreSQL's FLT_DIG + 0 / DBL_DIG: fixed form below 10**limit

    def encode(value: str) -> bytes:
        special = _SPECIAL.get(value.lower())
        if special is not None:
            return special
        number = float(value)
        if single:  # the float4 itself, not the double nearest ClickHouse's shortest text
            number = _FLOAT4.unpack(_FLOAT4.pack(number))[0]
        elif 1e-4 <= abs(number) < 1e15:
            # Fixed form: repr() has the same shortest digits, plus ".0" for whole numbers.
            return repr(number).removesuffix(".0").encode()
        if number == 0:
            return b"-0" if math.copysign(1.0, number) < 0 else b"0"
        sign = "-" if number < 0 else ""
        digits, exponent = _float_digits(abs(number), single)
        if -4 <= exponent < limit:
            if exponent < 0:
                body = "0." + "0" * (-exponent - 1) + digits
            elif len(digits) > exponent + 1:
                body = digits[: exponent + 1] + "." + digits[exponent + 1 :]
            else:
                body = digits + "0" * (exponent + 1 - len(digits))
        else:
            mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
            body = f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
        return (sign + body).encode()

    return encode


def _float_binary(packer: struct.Struct) -> Encoder:
    pack = packer.pack

    def encode(value: str) -> bytes:
        return pack(float(value))  # float() reads nan, inf, -inf

    return encode


# numeric
_NUMERIC_HEAD = struct.Struct("!hhHH")
_NUMERIC_NEG = 0x4000


def _numeric_text(scale: int | None) -> Encoder:
    if scale is None:
        return _ascii

    def encode(value: str) -> bytes:
        whole, _, frac = value.partition(".")
        if len(frac) < scale:
            frac += "0" * (scale - len(frac))
        elif len(frac) > scale:  # cannot happen for Decimal(P, S); round as numeric(P, S)
            return _ascii(str(round(Decimal(value), scale)))
        return (whole + "." + frac if scale else whole).encode()

    return encode


def _numeric_binary(scale: int | None) -> Encoder:
    def encode(value: str) -> bytes:
        negative = value.startswith("-")
        whole, _, frac = value.lstrip("+-").partition(".")
        if scale is not None and len(frac) > scale:  # not for Decimal(P, S); as text does
            whole, _, frac = str(round(Decimal(value), scale)).lstrip("+-").partition(".")
        dscale = len(frac) if scale is None else scale
        frac = frac.ljust(dscale, "0")
        pad = -dscale % 4  # base-10000 groups are aligned on the decimal point
        number = int(whole + frac + "0" * pad)
        if number == 0:
            return _NUMERIC_HEAD.pack(0, 0, 0, dscale)
        groups = []
        while number:
            number, group = divmod(number, 10000)
            groups.append(group)
        groups.reverse()
        weight = len(groups) - 1 - (dscale + pad) // 4
        while groups[-1] == 0:  # PostgreSQL strips trailing zero groups
            groups.pop()
        return struct.pack(
            f"!hhHH{len(groups)}H",
            len(groups),
            weight,
            _NUMERIC_NEG if negative else 0,
            dscale,
            *groups,
        )

    return encode


# text and bytea
def _bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _bytea_text(value: str) -> bytes:
    return b"\\x" + _bytes(value).hex().encode()


# uuid
def _uuid_binary(value: str) -> bytes:
    return uuid.UUID(value).bytes


# date and timestamptz
_EPOCH_DAYS = dt.date(2000, 1, 1).toordinal()
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _date_binary(value: str) -> bytes:
    return _INT4.pack(dt.date.fromisoformat(value).toordinal() - _EPOCH_DAYS)


def _micros(zone: dt.tzinfo) -> Callable[[str], int]:
    """Microseconds since 2000-01-01 UTC of a ClickHouse DateTime[64] text in `zone`."""

    def micros(value: str) -> int:
        seconds, _, frac = value.partition(".")
        local = dt.datetime.fromisoformat(seconds).replace(tzinfo=zone)
        whole = (local - _EPOCH) // dt.timedelta(seconds=1)
        fraction = 0
        if frac:
            scaled = Decimal("0." + frac) * 1_000_000
            fraction = int(scaled.to_integral_value())  # ROUND_HALF_EVEN, as rint()
        return whole * 1_000_000 + fraction

    return micros


def _is_utc(zone: dt.tzinfo) -> bool:
    return zone is dt.UTC or getattr(zone, "key", None) in ("UTC", "Etc/UTC")


def _offset_text(offset: dt.timedelta) -> str:
    """A UTC offset as PostgreSQL prints it: +01, -03:30, +00:53:28."""
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours:02d}"
    if minutes or secs:
        text += f":{minutes:02d}"
    if secs:
        text += f":{secs:02d}"
    return text


def _timestamptz_text(zone: dt.tzinfo, display: dt.tzinfo = dt.UTC) -> Encoder:
    """`display` is the session's TimeZone: PostgreSQL prints a timestamptz in it."""
    micros = _micros(zone)
    utc = _is_utc(zone) and _is_utc(display)

    def encode(value: str) -> bytes:
        seconds, _, frac = value.partition(".")
        if utc and len(frac) <= 6:  # already UTC, nothing to round
            frac = frac.rstrip("0")
            return (seconds + "." + frac + "+00" if frac else seconds + "+00").encode()
        moment = (_EPOCH + dt.timedelta(microseconds=micros(value))).astimezone(display)
        text = moment.strftime("%Y-%m-%d %H:%M:%S")
        if moment.year < 1000:  # strftime does not pad %Y everywhere
            text = f"{moment.year:04d}" + text[text.index("-") :]
        if moment.microsecond:
            text += f".{moment.microsecond:06d}".rstrip("0")
        return (text + _offset_text(moment.utcoffset() or dt.timedelta())).encode()

    return encode


def _timestamptz_binary(zone: dt.tzinfo) -> Encoder:
    micros = _micros(zone)

    def encode(value: str) -> bytes:
        return _INT8.pack(micros(value))

    return encode


# inet
def _inet_text(value: str) -> bytes:
    address = ipaddress.ip_address(value)
    if address.version == 6:
        packed = address.packed
        # PostgreSQL prints an IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible (::a.b.c.d,
        # when the zeros run exactly 6 words) address with a dotted quad.
        if packed[:10] == bytes(10) and packed[10:12] in (b"\xff\xff", b"\x00\x00"):
            if packed[10:12] == b"\xff\xff" or packed[12:14] != b"\x00\x00":
                prefix = "::ffff:" if packed[10] else "::"
                return (prefix + str(ipaddress.IPv4Address(packed[12:]))).encode()
    return str(address).encode()


def _inet_binary(value: str) -> bytes:
    address = ipaddress.ip_address(value)
    if address.version == 4:
        return b"\x02\x20\x00\x04" + address.packed
    return b"\x03\x80\x00\x10" + address.packed


# ---------------------------------------------------------------------------- arrays


def split_array(value: str) -> list[str | None]:
    """The elements of a one-dimensional ClickHouse array in text form (`[1,NULL,3]`,
    `['a\\'b','c']`), unquoted and unescaped; NULL is None.

    The text is the TabSeparated field as ClickHouse sends it, NOT passed through the TSV
    unescaping of scalar fields: ClickHouse writes compound values in their quoted form
    (no tabs or newlines in it) without a second level of TSV escaping, so unescaping it
    again loses quotes and backslashes."""
    if not (value.startswith("[") and value.endswith("]")):
        raise ValueError(f"not a ClickHouse array: {value!r}")
    text = value[1:-1]
    items: list[str | None] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == "'":
            out = []
            i += 1
            while text[i] != "'":
                if text[i] == "\\":
                    i += 1
                    out.append(_UNESCAPE.get(text[i], text[i]))
                else:
                    out.append(text[i])
                i += 1
            items.append("".join(out))
            i += 1
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            item = text[i:end]
            items.append(None if item == "NULL" else item)
            i = end
        i += 1  # the comma
    return items


_UNESCAPE = {"b": "\b", "f": "\f", "r": "\r", "n": "\n", "t": "\t", "0": "\0"}
_NEEDS_QUOTES = frozenset('{}," \\\t\n\r\v\f')


def _array_text(element: Encoder) -> Encoder:
    def encode(value: str) -> bytes:
        parts = []
        for item in split_array(value):
            if item is None:
                parts.append(b"NULL")
                continue
            data = element(item)
            text = data.decode()
            if not text or text.upper() == "NULL" or any(c in _NEEDS_QUOTES for c in text):
                data = b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
            parts.append(data)
        return b"{" + b",".join(parts) + b"}"

    return encode


_ARRAY_HEAD = struct.Struct("!iiIii")


def _array_binary(element: Encoder, oid: int) -> Encoder:
    def encode(value: str) -> bytes:
        items = split_array(value)
        if not items:
            return struct.pack("!iiI", 0, 0, oid)
        has_null = 0
        body = []
        for item in items:
            if item is None:
                has_null = 1
                body.append(b"\xff\xff\xff\xff")
            else:
                data = element(item)
                body.append(_INT4.pack(len(data)) + data)
        return _ARRAY_HEAD.pack(1, has_null, oid, len(items), 1) + b"".join(body)

    return encode


# ---------------------------------------------------------------------------- jsonb

_JSON_NUMBERS = frozenset(
    "Int8 Int16 Int32 Int64 Int128 Int256 UInt8 UInt16 UInt32 UInt64 UInt128 UInt256 "
    "Float32 Float64 Decimal Decimal32 Decimal64 Decimal128 Decimal256".split()
)
_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_JSON_ESCAPES["\t"] = "\\t"


def _json_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


class _ValueReader:
    """Reads a ClickHouse value in quoted form (inside Array, Tuple, Map) as PostgreSQL jsonb
    text: Tuple -> array, Map -> object (keys as text, sorted and deduplicated as jsonb does),
    numbers -> numbers (nan and inf -> strings), Bool -> true/false, NULL -> null, anything
    else -> its text as a string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def scalar(self) -> tuple[str, bool]:
        """The next scalar as text, and whether it was quoted."""
        text, pos = self.text, self.pos
        if text[pos] == "'":
            out = []
            pos += 1
            while text[pos] != "'":
                if text[pos] == "\\":
                    pos += 1
                    out.append(_UNESCAPE.get(text[pos], text[pos]))
                else:
                    out.append(text[pos])
                pos += 1
            self.pos = pos + 1
            return "".join(out), True
        end = pos
        while end < len(text) and text[end] not in ",)]}:":
            end += 1
        self.pos = end
        return text[pos:end], False

    def expect(self, char: str) -> None:
        if self.text[self.pos] != char:
            raise ValueError(f"expected {char!r} at {self.pos} in {self.text!r}")
        self.pos += 1

    def items(self, close: str, read: Callable[[int], object]) -> list:
        out = []
        index = 0
        if self.text[self.pos] == close:
            self.pos += 1
            return out
        while True:
            out.append(read(index))
            index += 1
            if self.text[self.pos] == close:
                self.pos += 1
                return out
            self.expect(",")

    def value(self, ch: ChType) -> str:
        while ch.name in _WRAPPERS and ch.args and isinstance(ch.args[-1], ChType):
            ch = ch.args[-1]
        types = [arg for arg in ch.args if isinstance(arg, ChType)]
        if ch.name == "Array" and types:
            self.expect("[")
            return "[" + ", ".join(self.items("]", lambda _: self.value(types[0]))) + "]"
        if ch.name == "Tuple" and types:
            self.expect("(")
            parts = self.items(")", lambda i: self.value(types[min(i, len(types) - 1)]))
            return "[" + ", ".join(parts) + "]"
        if ch.name == "Map" and len(types) == 2:
            self.expect("{")

            def pair(_: int) -> tuple[str, str]:
                key, _quoted = self.scalar()
                self.expect(":")
                return key, self.value(types[1])

            pairs = dict(self.items("}", pair))  # the last of equal keys wins, as in jsonb
            keys = sorted(pairs, key=lambda k: (len(k.encode()), k.encode()))
            return "{" + ", ".join(f"{_json_string(k)}: {pairs[k]}" for k in keys) + "}"
        text, quoted = self.scalar()
        if not quoted and text == "NULL":
            return "null"
        if ch.name == "Bool":
            return "true" if text == "true" else "false"
        if ch.name in _JSON_NUMBERS:
            try:
                number = Decimal(text)
            except ArithmeticError:
                return _json_string(text)
            if not number.is_finite():
                return _json_string(_SPECIAL.get(text.lower(), text.encode()).decode())
            if ch.name.startswith("Decimal"):  # with all its decimals, as numeric(P, S)
                decimal = _decimal(ch)
                return decimal.text(text).decode() if decimal else text
            if ch.name.startswith("Float") and "e" in text.lower():
                return format(number, "f")
            return text
        return _json_string(text)


def _jsonb(ch: ChType) -> PgType:
    def text(value: str) -> bytes:
        return _utf8(_ValueReader(value).value(ch))

    def binary(value: str) -> bytes:
        return b"\x01" + text(value)

    return PgType(JSONB, -1, -1, text, binary)


def _json_document_text(value: str) -> bytes:
    """A ClickHouse JSON value (its text is a JSON document) as jsonb prints it: keys by length
    then bytes, ", " and ": ", numbers as written."""
    try:
        document = json.loads(value, parse_float=Decimal)
    except ValueError:
        return _utf8(value)
    return _utf8(_jsonb_dump(document))


def _jsonb_dump(value: object) -> str:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: (len(key.encode()), key.encode()))
        return (
            "{"
            + ", ".join(
                f"{json.dumps(key, ensure_ascii=False)}: {_jsonb_dump(value[key])}" for key in keys
            )
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_jsonb_dump(item) for item in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value, ensure_ascii=False)


def _timestamp_text(value: str) -> bytes:
    """A wall-clock DateTime text as PostgreSQL prints timestamp: no zone, no trailing zeros."""
    seconds, _, frac = value.partition(".")
    frac = frac[:6].rstrip("0")
    return (seconds + "." + frac if frac else seconds).encode()


_TIMESTAMP = PgType(TIMESTAMP, -1, 8, _timestamp_text, _timestamptz_binary(dt.UTC))

_VARCHAR = PgType(VARCHAR, -1, -1, _utf8, _utf8)

_JSON_DOCUMENT = PgType(
    JSONB, -1, -1, _json_document_text, lambda value: b"\x01" + _json_document_text(value)
)

# ---------------------------------------------------------------------------- the mapping

_SIMPLE: dict[str, PgType] = {}


def _add(names: str, pg: PgType) -> None:
    for name in names.split():
        _SIMPLE[name] = pg


_add("Bool", PgType(BOOL, -1, 1, _bool_text, _bool_binary))
_add("Int8 Int16 UInt8", PgType(INT2, -1, 2, _ascii, _packer(_INT2)))
_add("Int32 UInt16", PgType(INT4, -1, 4, _ascii, _packer(_INT4)))
_add("Int64 UInt32", PgType(INT8, -1, 8, _ascii, _packer(_INT8)))
_add(
    "UInt64 Int128 UInt128 Int256 UInt256",
    PgType(NUMERIC, -1, -1, _ascii, _numeric_binary(None)),
)
_add("Float32", PgType(FLOAT4, -1, 4, _float_text(True), _float_binary(_FLOAT4)))
_add("Float64", PgType(FLOAT8, -1, 8, _float_text(False), _float_binary(_FLOAT8)))
_add("String", PgType(TEXT, -1, -1, _utf8, _utf8))
_add("Enum8 Enum16 Enum", PgType(TEXT, -1, -1, _utf8, _utf8))
_add("FixedString", PgType(BYTEA, -1, -1, _bytea_text, _bytes))
_add("UUID", PgType(UUID, -1, 16, _ascii, _uuid_binary))
_add("Date Date32", PgType(DATE, -1, 4, _ascii, _date_binary))
_add("IPv4 IPv6", PgType(INET, -1, -1, _inet_text, _inet_binary))

_FALLBACK = PgType(TEXT, -1, -1, _utf8, _utf8)
_WRAPPERS = ("Nullable", "LowCardinality", "SimpleAggregateFunction")


def pg_type(clickhouse_type: str, time_zone: str = "UTC") -> PgType:
    """The PostgreSQL type for a ClickHouse type string; unknown types map to text.
    `time_zone` is the session's TimeZone, in which timestamptz text is printed."""
    try:
        parsed = parse_type(clickhouse_type)
    except (TypeSyntaxError, ValueError):
        return _FALLBACK
    return _map(parsed, _display_zone(time_zone)) or _FALLBACK


def _display_zone(name: str) -> dt.tzinfo:
    """The session's TimeZone as a tzinfo; a spelling zoneinfo does not know (PostgreSQL's
    POSIX-style '<+03>-03') prints in UTC, still the same instant."""
    if name in ("UTC", "Etc/UTC", ""):
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return dt.UTC


def _map(ch: ChType, display: dt.tzinfo = dt.UTC) -> PgType | None:
    while ch.name in _WRAPPERS and ch.args and isinstance(ch.args[-1], ChType):
        ch = ch.args[-1]
    if ch.name in _SIMPLE:
        return _SIMPLE[ch.name]
    if ch.name in ("Decimal", "Decimal32", "Decimal64", "Decimal128", "Decimal256"):
        return _decimal(ch)
    if ch.name in ("DateTime", "DateTime64"):
        zones = [arg for arg in ch.args if isinstance(arg, str)]
        try:
            zone = ZoneInfo(zones[0]) if zones else dt.UTC
        except (KeyError, ValueError, OSError):
            return None
        return PgType(
            TIMESTAMPTZ, -1, 8, _timestamptz_text(zone, display), _timestamptz_binary(zone)
        )
    if ch.name in ("Tuple", "Map"):
        return _jsonb(ch)
    if ch.name == TIMESTAMP_OVERRIDE:
        return _TIMESTAMP
    if ch.name == VARCHAR_OVERRIDE:
        return _VARCHAR
    if ch.name == JSONB_OVERRIDE:
        return _JSON_DOCUMENT
    if ch.name == "JSON" or (ch.name == "Object" and ch.args == ("'json'",)):
        return _JSON_DOCUMENT
    if ch.name == "Array" and len(ch.args) == 1 and isinstance(ch.args[0], ChType):
        inner = ch.args[0]
        while inner.name in _WRAPPERS and inner.args and isinstance(inner.args[-1], ChType):
            inner = inner.args[-1]
        if inner.name == "Array":
            return None  # nested arrays: not yet
        element = _map(inner, display)
        if element is None or element.oid not in ARRAY_OF:
            return None
        if element is _FALLBACK:
            return None
        return PgType(
            ARRAY_OF[element.oid],
            element.typmod,
            -1,
            _array_text(element.text),
            _array_binary(element.binary, element.oid),
        )
    return None


def _decimal(ch: ChType) -> PgType | None:
    numbers = [arg for arg in ch.args if isinstance(arg, int)]
    bits = {"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}
    if ch.name == "Decimal" and len(numbers) == 2:
        precision, scale = numbers
    elif ch.name in bits and len(numbers) == 1:
        precision, scale = bits[ch.name], numbers[0]
    else:
        return None
    if not 1 <= precision <= 1000 or not 0 <= scale <= precision:
        return None
    return PgType(
        NUMERIC,
        ((precision << 16) | scale) + 4,
        -1,
        _numeric_text(scale),
        _numeric_binary(scale),
    )
