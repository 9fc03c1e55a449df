"""stop() with the database gone: it returns within its bound and the process exits.

A child process starts a system, gets portraits in flight, and waits; the test takes the
database away (PostgreSQL: the database dropped, its sessions ended; SQLite: another
process holds the write lock), then tells the child to stop. The child must return from
stop() within shutdown grace + `stop_bound_s`, and then exit: no thread keeps it alive.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from tests.conftest import API_KEY
from tests.fakes.recraft_server import RecraftServer
from vignette.config import Settings
from vignette.system.stopping import stop_bound_s

REPO = Path(__file__).resolve().parents[2]
GRACE_S = 0.5
CHILD = f"""
import sys, time
from vignette import StorySystem, load_settings
system = StorySystem.start(load_settings())
for n in range(3):
    system.submit_story(title=f"Story {{n}}", body="A story.", image_generation_prompt=f"p{{n}}")
print("ready", flush=True)
sys.stdin.readline()
started = time.monotonic()
system.stop(grace_s={GRACE_S})
print(f"stopped {{time.monotonic() - started:.3f}}", flush=True)
"""


def test_stop_with_the_database_gone_returns_in_bound_and_the_process_exits(
    make_settings: Callable[..., Settings],
    database_backend: str,
    database_url: str,
    request,
) -> None:
    with RecraftServer() as recraft:
        recraft.fake.latency_s = 3.0  # the portraits are in flight when the database goes
        settings = make_settings(
            recraft__base_url=recraft.base_url, portraits__allow_insecure_urls=True
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGNETTE_")}
        env |= {
            "VIGNETTE_DATABASE__URL": settings.database.url,
            "VIGNETTE_STORAGE__PATH": settings.storage.path,
            "VIGNETTE_RECRAFT__BASE_URL": recraft.base_url,
            "VIGNETTE_PORTRAITS__ALLOW_INSECURE_URLS": "true",
            "RECRAFT_API_KEY": API_KEY,
        }
        with subprocess.Popen(
            [sys.executable, "-c", CHILD],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as child:
            assert child.stdin is not None
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            assert recraft.fake.wait_for_calls(3)
            lock = take_the_database_away(database_backend, database_url, request)
            try:
                child.stdin.write("stop\n")
                child.stdin.flush()
                told = time.monotonic()
                line = child.stdout.readline().strip()
                assert child.wait(timeout=60) == 0
                exited_after_s = time.monotonic() - told
            finally:
                if lock is not None:
                    lock.rollback()
                    lock.close()

    assert line.startswith("stopped "), line
    stop_s = float(line.split()[1])
    print(f"stop() took {stop_s:.2f} s; the process exited {exited_after_s:.2f} s after")
    assert stop_s < GRACE_S + stop_bound_s(0)
    assert exited_after_s < GRACE_S + stop_bound_s(0) + 5


def take_the_database_away(backend: str, url: str, request) -> sqlite3.Connection | None:
    if backend == "sqlite":
        lock = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        return lock
    server: str = request.getfixturevalue("postgres_url")
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    return None
