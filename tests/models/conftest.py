"""The models' tests run their functions in the test's own thread, on a real database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from peewee import Database

from vignette.models import open_database, release_connections


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    yield database
    database.close()
    release_connections(database)
