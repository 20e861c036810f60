"""A throwaway PostgreSQL server for the store's tests: initdb in a temporary folder, started
on a free loopback port with pg_ctl, stopped (and its folder removed) at the end.

The server binaries come from PATH or Debian's ``/usr/lib/postgresql/<version>/bin`` (the
``postgresql`` package; ``.ci/run`` installs it where missing). PostgreSQL refuses to run as
root, so as root the commands run as the ``postgres`` user (``runuser``), which owns the
cluster's folder. Without binaries, psycopg, or (as root) a ``postgres`` user, the tests
that need the server skip, saying which is missing.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from core_helpers import stored_managers

from jtd_ai import AIManager

#: The superuser's password: the tests check that it never shows.
PASSWORD = "pg-secret-Zq8w1x"
_names = itertools.count()


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl, or None."""
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name)
        if found is None:
            break
        bindir = Path(found).resolve().parent
        if (bindir / "pg_ctl").exists() and (bindir / "initdb").exists():
            return bindir
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """One PostgreSQL cluster in a temporary folder, on 127.0.0.1:``port``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="jtd-ai-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check,
                              timeout=120)

    def start(self) -> None:
        self.root.chmod(0o755)
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--pwfile", str(pwfile),
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                  "--locale=C")
        settings = (f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.root}'\nmax_connections = 200\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        self._pg_ctl("start")

    def _pg_ctl(self, action: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", action, *(["-m", "fast"] if action != "start" else []))

    def restart(self) -> None:
        self._pg_ctl("restart")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "immediate", "stop",
                  check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", *, password: str = PASSWORD) -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)

    def new_database(self) -> str:
        """A fresh, empty database's URL."""
        name = f"t{os.getpid()}_{next(_names)}"
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)


def skip_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'jtd-ai-core[postgres]')"
    if find_bindir() is None:
        return ("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in "
                "/usr/lib/postgresql/*/bin: apt-get install postgresql")
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing (needed to run as 'postgres')"
    return None


@pytest.fixture(scope="session", name="pg_cluster")
def pg_cluster_fixture() -> Iterator[PgCluster]:
    """The session's PostgreSQL server (skips, saying why, where none can run)."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    bindir = find_bindir()
    assert bindir is not None
    cluster = PgCluster(bindir)
    try:
        cluster.start()
    except subprocess.CalledProcessError as exc:
        cluster.stop()
        pytest.fail(f"could not start PostgreSQL: {exc.stderr or exc.stdout}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(name="pg_url")
def pg_url_fixture(pg_cluster: PgCluster) -> str:
    """The URL of a fresh, empty database on the session's server."""
    return pg_cluster.new_database()


@contextlib.contextmanager
def stopped(cluster: PgCluster) -> Iterator[None]:
    """The server stopped for the duration (a database that cannot be reached)."""
    cluster._run("pg_ctl", "-D", str(cluster.data), "-w", "-m", "fast", "stop")
    try:
        yield
    finally:
        cluster._pg_ctl("start")


@pytest.fixture(params=["sqlite", "postgresql"], name="store_url")
def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store of each engine: a SQLite file's path (``tmp_path/jtd-ai.db``), or
    a fresh database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "jtd-ai.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(name="stored")
def stored_fixture(store_url: str) -> Iterator[Callable[..., AIManager]]:
    """The core's ``stored`` fixture on both engines: ``stored(transport=None, store=...,
    budget=..., pricing=..., providers=..., **echo)`` builds an isolated manager whose store
    is ``store_url``. A test module that imports it runs its ``stored`` tests twice."""
    yield from stored_managers({"url": store_url})
