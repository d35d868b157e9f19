"""The local PostgreSQL cluster: the machine's server binaries, data under SUPPORTES_HOME/pg.

``initdb`` refuses to run as root, so as root every server binary runs as the ``postgres`` user
(``runuser``) on a data directory that user owns. The cluster listens on 127.0.0.1 only.
Authentication (``pg_hba.conf``, rewritten on every start): every role logs in with a password
(SCRAM-SHA-256) over TCP; the superuser ``postgres`` only through the Unix socket, only for the
OS user running the stack tooling (peer, ``pg_ident.conf`` map ``supportes``), and only the
tooling uses it: to create the roles (:mod:`supportes.stack.postgres_roles`) and the database.
"""

from __future__ import annotations

import getpass
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from supportes.errors import StackError
from supportes.logs import get_logger
from supportes.settings import LOCAL_HOST, Settings
from supportes.stack import processes
from supportes.stack.layout import PostgresPaths, postgres_paths
from supportes.stack.postgres_roles import ensure_roles

log = get_logger("stack.postgres")
SERVER_USER = "postgres"
SUPERUSER = "postgres"


@dataclass(frozen=True)
class PostgresState:
    """What the local cluster is doing now."""

    running: bool
    pid: int | None
    dsn: str
    data_dir: Path


def find_bindir() -> Path:
    """Directory of the server binaries (``SUPPORTES_PG_BINDIR``, else the newest installed)."""
    override = os.environ.get("SUPPORTES_PG_BINDIR")
    candidates = [Path(override)] if override else []
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += installed
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        candidates.append(Path(pg_ctl).parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "postgres").exists():
            return candidate
    raise StackError(
        "PostgreSQL server binaries (initdb, postgres) not found: install Debian's 'postgresql' "
        "package (make setup does so as root), or set SUPPORTES_PG_DSN to use an existing server"
    )


def _as_server_user(command: list[str]) -> list[str]:
    """Prefix a command so it runs as the postgres user when we are root."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser") or "runuser"
    return [runuser, "-u", SERVER_USER, "--", *command]


def _run(command: list[str], *, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _as_server_user(command), capture_output=True, text=True, check=False, timeout=timeout_s
    )


def searchable_by_others(path: Path) -> list[Path]:
    """Give every ancestor of ``path`` that others may not enter the search bit (``o+x``: enter,
    not list), so the server user can reach a data directory inside, e.g., a ``mktemp -d``
    checkout (mode 700). Returns the directories changed."""
    changed = []
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append(parent)
    return changed


def _prepare_dirs(paths: PostgresPaths) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.socket_dir.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        opened = searchable_by_others(paths.root)
        if opened:
            log.info("let the postgres user reach its data", dirs=[str(d) for d in opened])
        try:
            shutil.chown(paths.root, SERVER_USER, SERVER_USER)
            shutil.chown(paths.socket_dir, SERVER_USER, SERVER_USER)
        except LookupError:
            raise StackError(
                "user 'postgres' does not exist: install Debian's 'postgresql' package"
            ) from None


STATEMENTS_LIBRARY = "pg_stat_statements"
"""Preloaded when installed: PostgreSQL's own view of where its statement time goes (``make
bench`` reads it for the replay; an operator can ``CREATE EXTENSION pg_stat_statements``)."""


def preload_libraries(bindir: Path) -> list[str]:
    """The server libraries to preload that this installation has (beside ``bindir``)."""
    library = bindir.parent / "lib" / f"{STATEMENTS_LIBRARY}.so"
    return [STATEMENTS_LIBRARY] if library.exists() else []


def _server_conf(settings: Settings, paths: PostgresPaths, preload: Sequence[str] = ()) -> str:
    libraries = f"shared_preload_libraries = '{','.join(preload)}'\n" if preload else ""
    return (
        "# Written by supportes on every start; edit SUPPORTES_* settings instead.\n"
        f"listen_addresses = '{LOCAL_HOST}'\n"
        f"port = {settings.pg_port}\n"
        f"unix_socket_directories = '{paths.socket_dir}'\n"
        "max_connections = 200\n"
        "shared_buffers = 256MB\n"
        "work_mem = 16MB\n"
        "maintenance_work_mem = 128MB\n"
        "max_wal_size = 2GB\n"
        "checkpoint_timeout = 15min\n"
        "password_encryption = 'scram-sha-256'\n"
        "log_min_messages = warning\n"
        "log_timezone = 'UTC'\n"
        "timezone = 'UTC'\n"
        f"{libraries}"
    )


def _hba_conf() -> str:
    return (
        "# Written by supportes on every start (stack/postgres_local.py); do not edit.\n"
        "# The superuser: Unix socket only, for the OS users mapped in pg_ident.conf.\n"
        "local   all   postgres                  peer map=supportes\n"
        "host    all   postgres   127.0.0.1/32   reject\n"
        "# Every other role: its password (SCRAM) over TCP on 127.0.0.1. Nothing else.\n"
        "host    all   all        127.0.0.1/32   scram-sha-256\n"
    )


def _ident_conf() -> str:
    users = dict.fromkeys([getpass.getuser(), SERVER_USER])
    lines = "".join(f"supportes   {user}   {SUPERUSER}\n" for user in users)
    return "# Written by supportes on every start: who may be the superuser (peer).\n" + lines


def _write_auth_files(paths: PostgresPaths) -> bool:
    """Write pg_hba.conf and pg_ident.conf; True when either changed."""
    changed = False
    for name, text in (("pg_hba.conf", _hba_conf()), ("pg_ident.conf", _ident_conf())):
        path = paths.data / name
        if not path.exists() or path.read_text() != text:
            _write_as_server_user(path, text)
            changed = True
    return changed


def superuser_connect(
    settings: Settings, *, dbname: str = "postgres"
) -> psycopg2.extensions.connection:
    """A connection as the superuser through the Unix socket (stack tooling only)."""
    return psycopg2.connect(
        host=str(postgres_paths(settings).socket_dir),
        port=settings.pg_port,
        dbname=dbname,
        user=SUPERUSER,
        connect_timeout=5,
    )


def state(settings: Settings) -> PostgresState:
    """Whether the local cluster runs and accepts connections."""
    paths = postgres_paths(settings)
    pid = _postmaster_pid(paths)
    running = pid is not None and _accepts(settings)
    return PostgresState(running, pid, settings.dsn, paths.data)


def _postmaster_pid(paths: PostgresPaths) -> int | None:
    try:
        pid = int((paths.data / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, PermissionError, ValueError, IndexError):
        return None
    return pid if processes.is_alive(pid) else None


def _accepts(settings: Settings) -> bool:
    try:
        superuser_connect(settings).close()
    except psycopg2.OperationalError:
        return False
    return True


def start(settings: Settings) -> bool:
    """Initialise (once) and start the local cluster; return True when this call started it."""
    paths = postgres_paths(settings)
    bindir = find_bindir()
    started = False
    if _postmaster_pid(paths) is None:
        if not processes.port_bindable(LOCAL_HOST, settings.pg_port):
            raise StackError(
                f"port {LOCAL_HOST}:{settings.pg_port} (SUPPORTES_PG_PORT) is in use by another "
                "process"
            )
        _prepare_dirs(paths)
        if not (paths.data / "PG_VERSION").exists():
            _initdb(bindir, paths)
        conf = _server_conf(settings, paths, preload_libraries(bindir))
        _write_as_server_user(paths.data / "supportes.conf", conf)
        _write_auth_files(paths)
        main_conf = paths.data / "postgresql.conf"
        if "include_if_exists = 'supportes.conf'" not in main_conf.read_text():
            with main_conf.open("a") as handle:
                handle.write("\ninclude_if_exists = 'supportes.conf'\n")
        log.info("starting postgres", port=settings.pg_port, data=str(paths.data))
        result = _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(paths.data),
                "-l",
                str(paths.log_file),
                "-w",
                "-t",
                str(int(settings.startup_timeout_s)),
                "start",
            ],
            timeout_s=settings.startup_timeout_s + 10,
        )
        if result.returncode != 0:
            last = processes.tail(paths.log_file, 1) or result.stderr.strip()
            raise StackError(f"local PostgreSQL did not start (see {paths.log_file}): {last}")
        started = True
    elif _write_auth_files(paths):  # a running cluster from before: switch it over
        _reload(bindir, paths)
    if not processes.wait_until(lambda: _accepts(settings), timeout_s=settings.startup_timeout_s):
        raise StackError(
            f"local PostgreSQL does not accept connections on port {settings.pg_port} "
            f"(see {paths.log_file})"
        )
    _ensure_role_and_database(settings)
    return started


def _initdb(bindir: Path, paths: PostgresPaths) -> None:
    log.info("initialising postgres cluster", data=str(paths.data))
    result = _run(
        [
            str(bindir / "initdb"),
            "-D",
            str(paths.data),
            "-U",
            SUPERUSER,
            "--auth-local=peer",
            "--auth-host=reject",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-instructions",
        ]
    )
    if result.returncode != 0:
        raise StackError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")


def _reload(bindir: Path, paths: PostgresPaths) -> None:
    log.info("reloading postgres authentication", data=str(paths.data))
    result = _run([str(bindir / "pg_ctl"), "-D", str(paths.data), "reload"])
    if result.returncode != 0:
        raise StackError(f"pg_ctl reload failed: {result.stderr.strip()[:300]}")


def _write_as_server_user(path: Path, text: str) -> None:
    path.write_text(text)
    if os.geteuid() == 0:
        shutil.chown(path, SERVER_USER, SERVER_USER)


def _ensure_role_and_database(settings: Settings) -> None:
    conn = superuser_connect(settings)
    conn.autocommit = True
    try:
        ensure_roles(settings, conn)
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (settings.pg_database,))
            if cur.fetchone() is None:
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(settings.pg_database), sql.Identifier(settings.pg_user)
                    )
                )
    finally:
        conn.close()


def stop(settings: Settings, *, mode: str = "fast") -> bool:
    """Stop the local cluster; return True when it was running. ``mode`` ``immediate`` is a
    crash as far as the data goes (no checkpoint: the next start replays the WAL), for fault
    tests."""
    if mode not in ("fast", "immediate"):
        raise ValueError(f"mode must be fast or immediate, not {mode!r}")
    paths = postgres_paths(settings)
    if _postmaster_pid(paths) is None:
        return False
    log.info("stopping postgres", data=str(paths.data), mode=mode)
    result = _run([str(find_bindir() / "pg_ctl"), "-D", str(paths.data), "-m", mode, "-w", "stop"])
    if result.returncode != 0:
        raise StackError(f"pg_ctl stop failed: {result.stderr.strip()[:300]}")
    return True
