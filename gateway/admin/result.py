"""A console command's answer: text columns and rows, encoded as PostgreSQL encodes a result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.backends.clickhouse.rows import RowEncoder
from gateway.backends.clickhouse.types import pg_type
from gateway.protocol import messages

# Every console column is text, as in pgbouncer's console.
_TEXT = pg_type("String")


@dataclass(frozen=True)
class Result:
    columns: Sequence[str] = ()
    rows: Sequence[Sequence[object]] = field(default_factory=list)
    # CommandComplete's tag: "SHOW" for a listing, else the command's own name.
    tag: str = "SHOW"

    def encode(self) -> bytes:
        parts = []
        if self.columns:
            parts.append(_row_description(self.columns))
            encoder = RowEncoder([_TEXT] * len(self.columns), [])
            text_rows = [[None if v is None else str(v) for v in row] for row in self.rows]
            parts.append(encoder.data_rows(text_rows))
        parts.append(messages.CommandComplete.build(tag=self.tag.encode()))
        return b"".join(parts)


def _row_description(columns: Sequence[str]) -> bytes:
    return messages.RowDescription.build(
        fields=[
            {
                "name": name.encode(),
                "table_oid": 0,
                "column": 0,
                "type_oid": _TEXT.oid,
                "type_size": _TEXT.size,
                "type_modifier": _TEXT.typmod,
                "format": 0,
            }
            for name in columns
        ]
    )
