"""Errors that reach a client as ErrorResponse, with their SQLSTATE."""

from __future__ import annotations

from gateway.protocol import messages

# SQLSTATEs the gateway raises itself; backends' own errors are relayed as they are.
PROTOCOL_VIOLATION = "08P01"
CONNECTION_FAILURE = "08006"
SQLCLIENT_UNABLE_TO_ESTABLISH = "08001"
INVALID_PASSWORD = "28P01"
INVALID_AUTHORIZATION = "28000"
INVALID_CATALOG_NAME = "3D000"
INSUFFICIENT_PRIVILEGE = "42501"
SYNTAX_ERROR = "42601"
FEATURE_NOT_SUPPORTED = "0A000"
READ_ONLY_SQL_TRANSACTION = "25006"
TOO_MANY_CONNECTIONS = "53300"
QUERY_CANCELED = "57014"
ADMIN_SHUTDOWN = "57P01"
CANNOT_CONNECT_NOW = "57P03"
PROGRAM_LIMIT_EXCEEDED = "54000"
INVALID_PARAMETER_VALUE = "22023"


class PgError(Exception):
    """An error for the client. FATAL ones end the session after they are sent."""

    def __init__(
        self,
        sqlstate: str,
        message: str,
        *,
        severity: str = "ERROR",
        detail: str | None = None,
        hint: str | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.severity = severity
        self.detail = detail
        self.hint = hint
        self.position = position

    @property
    def fatal(self) -> bool:
        return self.severity in ("FATAL", "PANIC")

    def fields(self) -> dict[str, str]:
        fields = {"S": self.severity, "V": self.severity, "C": self.sqlstate, "M": self.message}
        if self.detail:
            fields["D"] = self.detail
        if self.hint:
            fields["H"] = self.hint
        if self.position is not None:
            fields["P"] = str(self.position)
        return fields

    def encode(self) -> bytes:
        return messages.ErrorResponse.build(fields=messages.notice_fields(self.fields()))


class ProtocolViolation(PgError):
    """Malformed input: the session cannot continue, because framing can no longer be trusted."""

    def __init__(self, message: str) -> None:
        super().__init__(PROTOCOL_VIOLATION, message, severity="FATAL")


def notice(message: str, severity: str = "NOTICE", sqlstate: str = "00000") -> bytes:
    fields = {"S": severity, "V": severity, "C": sqlstate, "M": message}
    return messages.NoticeResponse.build(fields=messages.notice_fields(fields))
