"""Defence in depth for text that leaves the process (log lines, readiness reasons): every
secret value the config holds is replaced by `***` wherever it appears, whatever put it there
(an exception quoting a URL, a library's message)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.config import Config

# Shorter values would mask ordinary words; the config's secrets are never this short in use.
_MIN_LENGTH = 4


def config_secrets(config: Config) -> tuple[str, ...]:
    found = [user.password.reveal() for user in config.users]
    for source in config.sources.values():
        if source.backend is not None:
            found.append(source.backend.password.reveal())
        if source.clickhouse is not None and source.clickhouse.url is not None:
            found.append(source.clickhouse.url.reveal())
        if source.hogql is not None:
            found.append(source.hogql.api_key.reveal())
    if config.catalog.dsn is not None:
        found.append(config.catalog.dsn.password.reveal())
    # Longest first, so that a secret containing another is masked whole.
    return tuple(sorted({s for s in found if len(s) >= _MIN_LENGTH}, key=len, reverse=True))


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class SecretsOf:
    """The secrets of the config `current` returns, recomputed when it is another one (after a
    reload), so that sources added since start-up are masked too."""

    def __init__(self, current: Callable[[], Config]) -> None:
        self._current = current
        self._config: Config | None = None
        self._secrets: tuple[str, ...] = ()

    def __call__(self) -> tuple[str, ...]:
        config = self._current()
        if config is not self._config:
            self._config, self._secrets = config, config_secrets(config)
        return self._secrets
