"""PostHog's Query API over HTTP: one HogQL query in, one JSON response out.

A query is sent with `refresh = "async"` and a `client_query_id` the gateway chose, so it can be
cancelled (`DELETE /query/{id}/`) even before the POST has answered. PostHog answers 200 with the
results (a cache hit, or a query fast enough to finish at once) or 202 with a `query_status`
that is polled (`GET /query/{id}/`) until it is complete or failed.

429 answers (PostHog's rate limits) are retried, waiting as long as their Retry-After asks (or
an exponential backoff when they give none); when the retries run out, or PostHog asks for a
longer wait than the source allows, the client gets 53400. Every other failure becomes a PgError
whose message says what PostHog said, never the API key: it only travels in the Authorization
header, and any echo of it in a response is blanked out.

http.client runs in worker threads: a request is a blocking call of a few milliseconds to a few
seconds, and the event loop must keep serving other sessions meanwhile.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway.protocol.errors import PgError
from gateway.secret import Secret

log = logging.getLogger(__name__)

CONFIGURATION_LIMIT_EXCEEDED = "53400"
INVALID_AUTHORIZATION = "28000"
INSUFFICIENT_PRIVILEGE = "42501"
CONNECTION_FAILURE = "08006"
SYNTAX_OR_ACCESS = "42000"
INTERNAL_ERROR = "XX000"
REQUEST_TIMEOUT_S = 120.0
# Polling starts fast (most queries take well under a second) and slows to this interval.
POLL_FIRST_S = 0.05
POLL_MAX_S = 1.0


class QueryCancelled(Exception):
    """The query was cancelled (CancelRequest, statement timeout) while the client waited."""


@dataclass
class _Answer:
    status: int
    body: Any
    retry_after: float | None


class PostHogClient:
    def __init__(
        self,
        host: str,
        project_id: int,
        api_key: Secret,
        *,
        source: str,
        max_retries: int = 4,
        max_retry_wait: float = 30.0,
        key_owner: str = "the source's api_key",
        request_timeout: float = REQUEST_TIMEOUT_S,
    ) -> None:
        parts = urlsplit(host)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/") + f"/api/projects/{project_id}/query/"
        self._key = api_key
        self._key_owner = key_owner  # where a refused key came from, for the hint
        # One HTTP request's bound. A worker thread makes it, and cancelling the awaiting task
        # does not stop the thread: this is what frees it.
        self.request_timeout = request_timeout
        self.source = source
        self.project_id = project_id
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait

    def __repr__(self) -> str:
        return f"PostHogClient({self.source!r}, project {self.project_id})"

    # --- the API ------------------------------------------------------------------------
    async def run(
        self, query: dict[str, Any], *, query_id: str, cancelled: asyncio.Event | None = None
    ) -> dict[str, Any]:
        """The response of one query (a HogQLQueryResponse, or the DatabaseSchemaQuery's),
        waiting for it if PostHog runs it asynchronously."""
        cancelled = cancelled or asyncio.Event()
        body = {"query": query, "refresh": "async", "client_query_id": query_id}
        answer = await self._call("POST", self._prefix, body, cancelled)
        response = answer.body if isinstance(answer.body, dict) else {}
        status = response.get("query_status")
        if answer.status == 200 and not (isinstance(status, dict) and not status.get("complete")):
            return response
        if not isinstance(status, dict) or not status.get("id"):
            raise self._unexpected("a query status without an id", answer)
        return await self._poll(str(status["id"]), cancelled)

    async def cancel(self, query_id: str) -> None:
        """Ask PostHog to stop a query (DELETE /query/{id}/); failures are only logged."""
        try:
            answer = await self._request("DELETE", f"{self._prefix}{query_id}/", None)
        except OSError as exc:
            log.warning("source %s: cancel of query %s failed: %s", self.source, query_id, exc)
            return
        if answer.status >= 400 and answer.status != 404:
            log.warning(
                "source %s: cancel of query %s answered %d", self.source, query_id, answer.status
            )

    async def _poll(self, query_id: str, cancelled: asyncio.Event) -> dict[str, Any]:
        interval = POLL_FIRST_S
        path = f"{self._prefix}{query_id}/"
        while True:
            answer = await self._call("GET", path, None, cancelled)
            status = answer.body.get("query_status") if isinstance(answer.body, dict) else None
            if not isinstance(status, dict):
                raise self._unexpected("no query_status", answer)
            if status.get("error"):
                message = self._scrub(str(status.get("error_message") or "internal error"))
                sqlstate = SYNTAX_OR_ACCESS if status.get("error_message") else INTERNAL_ERROR
                raise PgError(sqlstate, f"PostHog query failed: {message}")
            if status.get("complete"):
                results = status.get("results")
                if not isinstance(results, dict):
                    raise self._unexpected("a complete query status without results", answer)
                return results
            if await _wait(cancelled, interval):
                raise QueryCancelled
            interval = min(interval * 2, POLL_MAX_S)

    # --- HTTP ---------------------------------------------------------------------------
    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None, cancelled: asyncio.Event
    ) -> _Answer:
        """One API call, with 429s retried; any other error status becomes a PgError."""
        attempt = 0
        while True:
            if cancelled.is_set():
                raise QueryCancelled
            try:
                answer = await self._request(method, path, body)
            except OSError as exc:
                raise PgError(
                    CONNECTION_FAILURE,
                    f'PostHog source "{self.source}" is unreachable: {self._scrub(str(exc))}',
                ) from None
            if answer.status == 429:
                wait = answer.retry_after
                if wait is None:
                    wait = min(0.5 * 2**attempt, self.max_retry_wait)
                if attempt >= self.max_retries or wait > self.max_retry_wait:
                    raise self._throttled(answer, attempt)
                attempt += 1
                log.info(
                    "source %s: PostHog throttled the query; retry in %.1fs", self.source, wait
                )
                if await _wait(cancelled, wait):
                    raise QueryCancelled
                continue
            if answer.status >= 400 and not (method == "GET" and answer.status in (400, 500)):
                raise self._error(answer)
            return answer

    async def _request(self, method: str, path: str, body: dict[str, Any] | None) -> _Answer:
        return await asyncio.to_thread(self._blocking_request, method, path, body)

    def _blocking_request(self, method: str, path: str, body: dict[str, Any] | None) -> _Answer:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = kind(self._netloc, timeout=self.request_timeout)
        headers = {
            "Authorization": f"Bearer {self._key.reveal()}",
            "Accept": "application/json",
            "User-Agent": "MetaHog",
        }
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
            retry_after = _seconds(response.getheader("Retry-After"))
        finally:
            connection.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data.decode(errors="replace")[:500]
        return _Answer(response.status, parsed, retry_after)

    # --- errors -------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        key = self._key.reveal()
        return text.replace(key, "***") if key else text

    def _detail(self, answer: _Answer) -> str:
        body = answer.body
        if isinstance(body, dict):
            text = body.get("detail") or body.get("error") or body.get("message") or ""
            if not isinstance(text, str):
                text = json.dumps(text)
        else:
            text = str(body or "")
        return self._scrub(text.strip())

    def _error(self, answer: _Answer) -> PgError:
        detail = self._detail(answer)
        where = f'PostHog source "{self.source}"'
        if answer.status == 401:
            return PgError(
                INVALID_AUTHORIZATION,
                f"{where} refused its API key (HTTP 401): {detail or 'not authenticated'}",
                hint=f"Check {self._key_owner}: a PostHog personal API key (phx_...).",
            )
        if answer.status == 403:
            return PgError(
                INSUFFICIENT_PRIVILEGE,
                f"{where}: the API key may not run queries in project {self.project_id}"
                f" (HTTP 403): {detail or 'permission denied'}",
                hint="The personal API key needs the query:read scope for this project.",
            )
        if answer.status == 404:
            return PgError(
                CONNECTION_FAILURE,
                f"{where}: project {self.project_id} not found (HTTP 404)",
            )
        if answer.status == 400:
            return PgError(SYNTAX_OR_ACCESS, f"PostHog refused the query: {detail}")
        return PgError(
            CONNECTION_FAILURE if answer.status >= 500 else INTERNAL_ERROR,
            f"{where} failed (HTTP {answer.status}): {detail or 'no detail'}",
        )

    def _throttled(self, answer: _Answer, retries: int) -> PgError:
        wait = answer.retry_after
        asked = f"; PostHog asks to retry in {wait:g}s" if wait is not None else ""
        return PgError(
            CONFIGURATION_LIMIT_EXCEEDED,
            f'PostHog source "{self.source}" is rate limited: gave up after {retries}'
            f" retries{asked}",
            detail=self._detail(answer) or None,
            hint="PostHog limits how many queries a project may run per minute and per hour.",
        )

    def _unexpected(self, what: str, answer: _Answer) -> PgError:
        return PgError(
            INTERNAL_ERROR,
            f'PostHog source "{self.source}" sent an unexpected answer (HTTP {answer.status}):'
            f" {what}",
        )


def _seconds(header: str | None) -> float | None:
    """Retry-After in seconds. An HTTP date is read as 'soon': PostHog sends seconds."""
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True if `event` was set meanwhile."""
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
