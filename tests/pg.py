"""A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` binaries, `initdb` and `pg_ctl` run as
the `postgres` user (when the tests run as root), a loopback port, `--auth=trust`, no service manager.
Started on first use, stopped (and its folder removed) when the test session ends."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


class Cluster:
    def __init__(self):
        self.bin = binaries()
        self.dir: Path | None = None
        self.port = 0
        self.error: str | None = None

    @property
    def available(self) -> bool:
        return self.bin is not None

    def _as_owner(self, *argv: str) -> list[str]:
        if os.geteuid() == 0:  # initdb refuses to run as root
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def start(self) -> str:
        """The URL of the maintenance database; raises RuntimeError (kept in `error`) when it cannot start."""
        if self.dir is not None:
            return self.url("postgres")
        if self.error:
            raise RuntimeError(self.error)
        assert self.bin is not None
        self.dir = Path(tempfile.mkdtemp(prefix="recbot-pg-"))
        data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        try:
            subprocess.run(self._as_owner(str(self.bin / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres",
                                          "-E", "UTF8", "--no-sync"), check=True, capture_output=True, timeout=120)
            options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=400")
            subprocess.run(self._as_owner(str(self.bin / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60",
                                          "-l", str(self.dir / "log"), "start"),
                           check=True, capture_output=True, timeout=120)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            self.error = f"could not start a throwaway PostgreSQL: {exc} {detail.decode(errors='replace')[-400:]}"
            self.stop()
            raise RuntimeError(self.error) from exc
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        self.start()
        name = f"t{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if self.dir is None:
            return
        if (self.dir / "data" / "postmaster.pid").exists():
            subprocess.run(self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                                          "-w", "stop"), capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


CLUSTER = Cluster()
