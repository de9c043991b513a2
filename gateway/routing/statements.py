"""Statement nodes that write, and how an error message names a node: shared by the rules of
every dialect, so that the same statement is refused with the same words everywhere."""

from __future__ import annotations

from sqlglot import exp

# Statements that write: refused wherever they appear.
WRITE_NODES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
)

_NAMES = {
    exp.Insert: "INSERT",
    exp.Update: "UPDATE",
    exp.Delete: "DELETE",
    exp.Merge: "MERGE",
    exp.Create: "CREATE",
    exp.Drop: "DROP",
    exp.Alter: "ALTER",
    exp.TruncateTable: "TRUNCATE",
    exp.Into: "SELECT INTO",
    exp.Lock: "FOR UPDATE",
}


def statement_name(node: exp.Expression) -> str:
    """What a node does, for messages: `CREATE TABLE`, `DELETE`, a Command's own keyword."""
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    kind = node.args.get("kind")
    if isinstance(node, exp.Create | exp.Drop | exp.Alter) and isinstance(kind, str):
        return f"{_NAMES[type(node)]} {kind.upper()}"
    return _NAMES.get(type(node), type(node).__name__.upper())
