"""A private PostgreSQL cluster for the shadow catalogs, when the configuration names none.

It lives in a directory of its own under the state directory, kept between runs, so a restart
only starts the server (about a second) and the catalogs' unchanged tables keep their OIDs.

It is reached over its Unix socket only, as the bootstrap superuser with no password: the
cluster's pg_hba trusts local connections, and the socket is created with permissions 0700,
so only the server's own OS user (and root) can connect through it. Over TCP (127.0.0.1, which
LocalPostgres also listens on) every login needs a SCRAM password, and the superuser has none,
so nobody logs in that way. No password is generated, stored or sent. The catalog's reader
role connects through the same socket.

Everything in it is derived from the ClickHouse sources, so if it is ever damaged, deleting
the directory is safe: the next start makes it again.
"""

from __future__ import annotations

import logging
import os
import pwd
from pathlib import Path

from gateway.config import BackendAddress
from gateway.embedded.postgres import UNPRIVILEGED_USER, LocalPostgres
from gateway.secret import Secret

log = logging.getLogger(__name__)

SUPERUSER = "postgres"  # LocalPostgres runs initdb -U postgres
_MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the terminating NUL


def _socket_path_fits(directory: Path) -> bool:
    # The port has at most 5 digits: ".s.PGSQL.65535".
    return len(str(directory / ".s.PGSQL.65535").encode()) <= _MAX_SOCKET_PATH


def _unreachable_parent(directory: Path) -> Path | None:
    """A parent that the unprivileged server user cannot pass through, when run as root."""
    if os.geteuid() != 0:
        return None
    uid = pwd.getpwnam(UNPRIVILEGED_USER).pw_uid
    for parent in directory.resolve().parents:
        mode = parent.stat()
        if mode.st_uid != uid and not mode.st_mode & 0o001:
            return parent
    return None


class PrivateCatalogServer:
    """The private cluster: `start()`, then `admin` is the address ShadowCatalog works with."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory).absolute()  # the cluster's own: data, socket, log
        self._cluster: LocalPostgres | None = None

    @classmethod
    def start_in(cls, directory: Path) -> PrivateCatalogServer:
        return cls(directory).start()

    def __repr__(self) -> str:
        return f"PrivateCatalogServer(directory={str(self.directory)!r})"

    def start(self) -> PrivateCatalogServer:
        """Start the cluster, creating it on first use (initdb takes a few seconds)."""
        self._check_directory()
        cluster = LocalPostgres(
            directory=self.directory, settings={"unix_socket_permissions": "0700"}
        )
        if (cluster.data / "postmaster.pid").exists():
            # A server left running by a gateway that was killed: its port is unknown to this
            # process and the directory is this process's now. pg_ctl ignores a stale pid file.
            log.warning("stopping the private catalog server left running in %s", self.directory)
            cluster.stop()
        try:
            cluster.start()
        except RuntimeError as exc:
            raise RuntimeError(
                f"cannot start the private catalog PostgreSQL in {self.directory}: {exc}"
                f" (see {self.directory / 'log'}; the directory holds only derived state and may"
                " be deleted)"
            ) from None
        self._cluster = cluster
        return self

    def _check_directory(self) -> None:
        if not _socket_path_fits(self.directory):
            raise RuntimeError(
                f"state_dir is too deep for a PostgreSQL Unix socket: {self.directory} leaves"
                f" no room within {_MAX_SOCKET_PATH} bytes; choose a shorter state_dir"
            )
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        blocked = _unreachable_parent(self.directory)
        if blocked is not None:
            raise RuntimeError(
                f"the private catalog runs as the {UNPRIVILEGED_USER!r} user, who cannot enter"
                f" {blocked}: choose a state_dir it can reach (such as one under /var/lib/metahog),"
                f" or chmod o+x {blocked}"
            )

    @property
    def admin(self) -> BackendAddress:
        if self._cluster is None:
            raise RuntimeError("PrivateCatalogServer.admin is known only after start()")
        return BackendAddress(
            host=self._cluster.socket_dir,
            port=self._cluster.port,
            user=SUPERUSER,
            password=Secret(""),
            database="postgres",
            sslmode="disable",  # a Unix socket: TLS would add nothing
        )

    def stop(self) -> None:
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None

    def __enter__(self) -> PrivateCatalogServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
