"""A throwaway PostgreSQL server for the test session (a real one, not a fake).

`VIGNETTE_TEST_POSTGRES_URL` names a server to use instead. Otherwise one is made with
the installed `initdb` and `pg_ctl` in a temporary folder, on a free loopback port, with
fsync off, and removed at the end. As root, PostgreSQL runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

URL_VARIABLE = "VIGNETTE_TEST_POSTGRES_URL"


class PostgresUnavailable(RuntimeError):
    """No server was named and none could be started here."""


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise PostgresUnavailable(f"{name} is not installed (apt-get install postgresql)")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a server's `postgres` database, as the `postgres` superuser."""
    named = os.environ.get(URL_VARIABLE)
    if named:
        yield named
        return
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="vignette-pg-"))
    data = base / "data"
    if as_postgres:
        shutil.chown(base, "postgres")
    port = _free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_postgres, *command], check=True, capture_output=True, timeout=120)

    try:
        run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        run(pg_ctl, "-D", str(data), "-w", "-l", str(base / "log"), "-o", options, "start")
    except subprocess.CalledProcessError as error:
        shutil.rmtree(base, ignore_errors=True)
        detail = (error.stderr or b"").decode(errors="replace").strip()
        raise PostgresUnavailable(f"could not start PostgreSQL: {detail}") from None
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    _STARTED[url] = (as_postgres, pg_ctl, data, options)
    try:
        yield url
    finally:
        _STARTED.pop(url, None)
        subprocess.run(
            [*as_postgres, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


# The servers this module started: URL -> (command prefix, pg_ctl, data folder, options).
_STARTED: dict[str, tuple[list[str], str, Path, str]] = {}


def stop_server(url: str) -> None:
    """Stop a server `postgres_server` started (fast mode: open sessions are ended)."""
    as_postgres, pg_ctl, data, _ = _STARTED[url]
    subprocess.run(
        [*as_postgres, pg_ctl, "-D", str(data), "-w", "-m", "fast", "stop"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def start_server(url: str) -> None:
    """Start a stopped server again, with its options, and wait until it accepts sessions."""
    as_postgres, pg_ctl, data, options = _STARTED[url]
    log = str(data.parent / "log")
    subprocess.run(
        [*as_postgres, pg_ctl, "-D", str(data), "-w", "-l", log, "-o", options, "start"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def fresh_database(server_url: str, name: str) -> str:
    """Create an empty database on the server; return its URL."""
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
