"""Fixtures: settings on a real database and folder, systems that always stop, log capture.

Every test that takes `database_url` (and so `make_settings`, `settings`) runs twice: on
a SQLite file under tmp_path and on a fresh database of a real PostgreSQL server started
for the session (see tests/postgres.py). Without a PostgreSQL server the PostgreSQL runs
are skipped, except with CI=true, where they fail.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pykka
import pytest
from loguru import logger
from playhouse.pool import PooledDatabase

from tests.fakes.recraft_server import RecraftServer
from tests.postgres import PostgresUnavailable, drop_database, fresh_database, postgres_server
from tests.seaweed import Seaweed, SeaweedUnavailable, seaweed_server
from vignette.config import Settings, load_settings
from vignette.models import database
from vignette.system.facade import StorySystem

if TYPE_CHECKING:
    from loguru import Record

API_KEY = "rk-test-7f3a9c1e5b2d4068"

# The library disables its logger on import; tests read its records (the `logs` fixture).
logger.enable("vignette")


@pytest.fixture(autouse=True)
def _stop_every_actor() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(timeout=10)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: run only on SQLite (the test inspects the SQLite file)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_backend" in metafunc.fixturenames:
        sqlite_only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        backends = ["sqlite"] if sqlite_only else ["sqlite", "postgresql"]
        metafunc.parametrize("database_backend", backends)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of the session's PostgreSQL server."""
    server = postgres_server()
    try:
        url = server.__enter__()
    except PostgresUnavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI: {error}")
        pytest.skip(f"no PostgreSQL server: {error}")
    yield url
    server.__exit__(None, None, None)


@pytest.fixture
def shared_database(postgres_url: str) -> Iterator[str]:
    """A new PostgreSQL database for instances (processes) to share in this test; dropped
    after it, with any connection still open to it."""
    name = f"vignette_shared_{uuid.uuid4().hex[:12]}"
    yield fresh_database(postgres_url, name)
    if isinstance(database.obj, PooledDatabase):  # the test's own reads of it
        database.obj.close_all()
    drop_database(postgres_url, name)


@pytest.fixture
def database_url(
    database_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A new, empty database for this test: a SQLite file, or a PostgreSQL database."""
    if database_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'vignette.sqlite3'}"
        return
    server: str = request.getfixturevalue("postgres_url")
    name = f"vignette_test_{uuid.uuid4().hex[:12]}"
    yield fresh_database(server, name)
    pykka.ActorRegistry.stop_all(timeout=10)
    # Tests read models from their own thread too; close every pooled connection.
    if isinstance(database.obj, PooledDatabase):
        database.obj.close_all()
    drop_database(server, name)


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    """Settings on this test's database and a storage folder under tmp_path.

    Keyword arguments override keys, `section__key=value`; `api_key=None` unsets the key.
    """

    def make(api_key: str | None = API_KEY, **overrides: Any) -> Settings:
        env = {
            "VIGNETTE_DATABASE__URL": database_url,
            "VIGNETTE_STORAGE__PATH": str(tmp_path / "files"),
        }
        for name, value in overrides.items():
            env[f"VIGNETTE_{name.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        if api_key is not None:
            env["RECRAFT_API_KEY"] = api_key
        return load_settings(env=env)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def start_system() -> Iterator[Callable[..., StorySystem]]:
    """Start a StorySystem; every one started is stopped at teardown."""
    started: list[StorySystem] = []

    def start(settings: Settings, **kwargs: Any) -> StorySystem:
        system = StorySystem.start(settings, **kwargs)
        started.append(system)
        return system

    yield start
    for system in started:
        system.stop(grace_s=5)


def _to_stderr(message: str) -> None:
    sys.stderr.write(message)


@pytest.fixture
def configured_logging() -> Iterator[None]:
    """For a test that sets logging up as the command line does (`configure_logging`, which
    removes every sink): loguru's default afterwards, so the rest of the suite's lines go
    where pytest captures them (stderr as it is at each write)."""
    yield
    logger.remove()
    logger.add(_to_stderr)


@pytest.fixture
def logs() -> Iterator[list[Record]]:
    """Every log record emitted during the test, as loguru's record dicts."""
    records: list[Record] = []
    sink_id = logger.add(lambda message: records.append(message.record), level="DEBUG")
    yield records
    logger.remove(sink_id)


def process_env(
    database_url: str, storage: Path, recraft: RecraftServer, **settings: str
) -> dict[str, str]:
    """The environment of a Vignette process a test starts: this one's without its own
    VIGNETTE_ variables, then the shared database, a storage folder, the fake Recraft (over
    http, on loopback) and its key, and `settings` (`VIGNETTE_...` names and values)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGNETTE_")}
    return env | {
        "VIGNETTE_DATABASE__URL": database_url,
        "VIGNETTE_STORAGE__PATH": str(storage),
        "VIGNETTE_RECRAFT__BASE_URL": recraft.base_url,
        "VIGNETTE_PORTRAITS__ALLOW_INSECURE_URLS": "true",
        "RECRAFT_API_KEY": API_KEY,
        **settings,
    }


def stored_files(root: Path) -> list[Path]:
    """Every file under a storage root, temporary ones included, lock files excluded."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".lock")


@pytest.fixture
def recraft() -> Iterator[RecraftServer]:
    """A fake Recraft server on a local port, over real HTTP."""
    with RecraftServer() as server:
        yield server


@pytest.fixture
def local_settings(
    make_settings: Callable[..., Settings], recraft: RecraftServer
) -> Callable[..., Settings]:
    """Settings whose portraits are made by the fake Recraft server."""

    def make(**overrides: object) -> Settings:
        return make_settings(
            recraft__base_url=recraft.base_url, portraits__allow_insecure_urls=True, **overrides
        )

    return make


@pytest.fixture
def system(
    local_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> StorySystem:
    """A running system whose portraits are made by the fake Recraft server."""
    return start_system(local_settings())


@pytest.fixture(scope="session")
def seaweed() -> Iterator[Seaweed]:
    """The session's SeaweedFS server (tests/seaweed.py): a real S3-compatible store.
    Without `weed` the tests that need it are skipped, except with CI=true: they fail."""
    server = seaweed_server()
    try:
        running = server.__enter__()
    except SeaweedUnavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"SeaweedFS is required in CI: {error}")
        pytest.skip(f"no SeaweedFS: {error}")
    yield running
    server.__exit__(None, None, None)


@pytest.fixture
def s3_overrides(seaweed: Seaweed, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Settings (for `make_settings`) of the s3 backend on a new bucket of the session's
    SeaweedFS; its credentials are put in the standard AWS variables, as boto3 reads them."""
    for name, value in seaweed.aws_env.items():
        monkeypatch.setenv(name, value)
    return {
        "storage__backend": "s3",
        "storage__s3__endpoint_url": seaweed.endpoint_url,
        "storage__s3__bucket": seaweed.new_bucket(),
        "storage__s3__prefix": "portraits",
        "storage__s3__region": "us-east-1",
    }
