"""A real OpenSSH server on loopback, for the SSH tunnel tests: generated host and client keys,
an authorized_keys file, and known_hosts files with the right and a wrong host key."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from gateway.embedded.postgres import free_port

SSHD = "/usr/sbin/sshd"


@dataclass
class Sshd:
    port: int
    user: str
    directory: Path
    process: subprocess.Popen[bytes]
    client_key: Path
    known_hosts: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ssh_table(self, key: Path | None = None, known_hosts: Path | None = None) -> str:
        """The `ssh = {...}` line of a source reached through this server."""
        return (
            f'ssh = {{ host = "127.0.0.1", port = {self.port}, user = "{self.user}", '
            f'key_file = "{key or self.client_key}", '
            f'known_hosts = "{known_hosts or self.known_hosts}" }}'
        )

    def new_key(self, name: str) -> Path:
        """A client key this server does not know."""
        path = self.directory / name
        _write_key(path, asyncssh.generate_private_key("ssh-ed25519"))
        return path

    def wrong_known_hosts(self) -> Path:
        """A known_hosts file naming this server with some other host key."""
        other = asyncssh.generate_private_key("ssh-ed25519")
        path = self.directory / "wrong_known_hosts"
        path.write_text(_known_hosts_line(self.port, other))
        return path

    def drop_connections(self) -> None:
        """End every SSH connection (the per-connection sshd processes), keeping the listener."""
        children = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        ).stdout.split()
        for pid in children:
            os.kill(int(pid), signal.SIGTERM)


def _write_key(path: Path, key: asyncssh.SSHKey) -> None:
    path.write_bytes(key.export_private_key())
    path.chmod(0o600)


def _known_hosts_line(port: int, key: asyncssh.SSHKey) -> str:
    return f"[127.0.0.1]:{port} {key.export_public_key().decode().strip()}\n"


@pytest.fixture(scope="session")
def sshd() -> Iterator[Sshd]:
    if not os.path.exists(SSHD):
        pytest.skip("OpenSSH server not installed (apt-get install openssh-server)")
    if os.geteuid() != 0:
        pytest.skip("sshd with privilege separation needs root")
    directory = Path(tempfile.mkdtemp(prefix="metahog-sshd-"))
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    _write_key(directory / "host_key", host_key)
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    _write_key(directory / "client_key", client_key)
    (directory / "authorized_keys").write_bytes(client_key.export_public_key())
    port = free_port()
    (directory / "known_hosts").write_text(_known_hosts_line(port, host_key))
    (directory / "sshd_config").write_text(
        f"""
Port {port}
ListenAddress 127.0.0.1
HostKey {directory / "host_key"}
AuthorizedKeysFile {directory / "authorized_keys"}
PidFile {directory / "sshd.pid"}
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
LogLevel DEBUG1
"""
    )
    # The privilege-separation directory Debian's package makes at boot, not at install.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log_path = directory / "sshd.log"
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(directory / "sshd_config"), "-E", str(log_path)]
    )
    deadline = time.monotonic() + 10
    while "Server listening" not in (log_path.read_text() if log_path.exists() else ""):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"sshd did not start: {log_path.read_text()}")
        time.sleep(0.05)
    try:
        yield Sshd(
            port,
            "root",
            directory,
            process,
            directory / "client_key",
            directory / "known_hosts",
            log_path,
        )
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)
