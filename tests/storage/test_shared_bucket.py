"""Two instances (separate `serve` processes, separate staging folders) on one PostgreSQL
database and one bucket: every portrait is stored once and served by either instance;
one killed with SIGKILL mid-run leaves no partial object, and no orphan after the sweep."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.cli.harness import LineReader
from tests.conftest import API_KEY
from tests.fakes.images import png_bytes
from tests.fakes.recraft_server import RecraftServer
from tests.seaweed import Seaweed
from vignette.config import load_settings
from vignette.system.facade import StorySystem

REPO = Path(__file__).resolve().parents[2]
STORIES = 100
MORE_STORIES = 30
TIMEOUT_S = 90.0


class Images:
    """A distinct, valid PNG for each generation, remembered by sha256."""

    def __init__(self) -> None:
        self.by_sha256: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __call__(self, number: int) -> bytes:
        image = png_bytes(12, 12, (number % 256, number // 256 % 256, 77))
        with self._lock:
            self.by_sha256[hashlib.sha256(image).hexdigest()] = image
        return image


@pytest.fixture
def instance_env(
    shared_database: str,
    recraft: RecraftServer,
    s3_overrides: dict[str, object],
    seaweed: Seaweed,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIGNETTE_", "AWS_"))}
    env |= {f"VIGNETTE_{key.upper()}": str(value) for key, value in s3_overrides.items()}
    return (
        env
        | seaweed.aws_env
        | {
            "VIGNETTE_DATABASE__URL": shared_database,
            "VIGNETTE_RECRAFT__BASE_URL": recraft.base_url,
            "VIGNETTE_PORTRAITS__ALLOW_INSECURE_URLS": "true",
            "VIGNETTE_PORTRAITS__CONCURRENCY": "4",
            "VIGNETTE_PORTRAITS__RATE_LIMIT_PER_MINUTE": "100000",
            "VIGNETTE_PORTRAITS__POLL_INTERVAL_S": "0.2",
            "VIGNETTE_PORTRAITS__LEASE_S": "3",
            "VIGNETTE_SERVER__PORT": "0",
            "RECRAFT_API_KEY": API_KEY,
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
        }
    )


@pytest.fixture
def serve(instance_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[str], Instance]]:
    started: list[Instance] = []

    def start(name: str) -> Instance:
        env = instance_env | {"VIGNETTE_STORAGE__PATH": str(tmp_path / f"staging-{name}")}
        process = subprocess.Popen(
            [sys.executable, "runner.py", "serve"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        instance = Instance(process, LineReader(process.stderr))
        started.append(instance)
        return instance

    yield start
    for instance in started:
        if instance.process.poll() is None:
            instance.process.kill()
        instance.process.wait(timeout=30)
        instance.close()


class Instance:
    def __init__(self, process: subprocess.Popen[str], stderr: LineReader) -> None:
        self.process = process
        self.stderr = stderr
        self._url: str | None = None
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            line = self.stderr.wait_for("Vignette is running at", timeout=60)
            url = line.split("running at ", 1)[1].split()[0]
            self._client = httpx.Client(base_url=url, timeout=30)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.stderr.read_to_end(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()

    def submit(self, title: str) -> str:
        body = {"title": title, "body": "A story.", "image_generation_prompt": title}
        answer = self.client.post("/api/stories", json=body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])


def until(condition: Callable[[], bool], timeout: float = TIMEOUT_S) -> None:
    """Wait until `condition()` holds, looking again every 0.1 s."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        pause.wait(0.1)


def unsettled(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM stories WHERE portrait_status IN ('pending', 'generating')"
        ).fetchone()
    assert row is not None
    return int(row[0])


def rows(database_url: str) -> list[tuple[str, str, str | None, str | None]]:
    """(story id, status, error, content sha256) of every story."""
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT s.id, s.portrait_status, s.portrait_error, f.sha256 FROM stories s "
            "LEFT JOIN stored_files f ON f.id = s.storage_id"
        ).fetchall()


def bucket_contents(seaweed: Seaweed, bucket: str) -> dict[str, bytes]:
    client = seaweed.client()
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    ]
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def test_two_instances_share_one_bucket_and_a_killed_one_leaves_nothing_behind(
    serve: Callable[[str], Instance],
    recraft: RecraftServer,
    shared_database: str,
    instance_env: dict[str, str],
    seaweed: Seaweed,
    start_system: Callable[..., StorySystem],
    tmp_path: Path,
) -> None:
    images = Images()
    recraft.fake.image_for = images
    recraft.fake.latency_s = 0.02
    first, second = serve("a"), serve("b")
    instances = (first, second)

    ids = [instances[n % 2].submit(f"story {n}") for n in range(STORIES)]
    until(lambda: unsettled(shared_database) == 0)

    stories = {story_id: (status, sha) for story_id, status, _, sha in rows(shared_database)}
    assert {status for status, _ in stories.values()} == {"stored"}
    assert recraft.fake.call_count == STORIES
    for story_id in ids:
        sha = stories[story_id][1]
        assert sha is not None
        storage_id = first.client.get(f"/api/stories/{story_id}").json()["storage_id"]
        for instance in instances:
            answer = instance.client.get(f"/api/files/{storage_id}")
            assert answer.status_code == 200
            assert answer.headers["etag"] == f'"{sha}"'
            assert answer.content == images.by_sha256[sha]

    # More stories through both, and the second instance killed while it works on them.
    for n in range(MORE_STORIES):
        instances[n % 2].submit(f"more {n}")
    assert recraft.fake.wait_for_calls(STORIES + MORE_STORIES // 3, timeout=60)
    second.process.send_signal(signal.SIGKILL)
    second.process.wait(timeout=30)
    until(lambda: unsettled(shared_database) == 0)

    settled = rows(shared_database)
    assert len(settled) == STORIES + MORE_STORIES
    assert {status for _, status, _, _ in settled} <= {"stored", "failed"}
    assert all(error.startswith("interrupted") for _, s, error, _ in settled if error)
    bucket = str(instance_env["VIGNETTE_STORAGE__S3__BUCKET"])
    # No partial object: each one holds exactly the bytes its name is the sha256 of.
    for key, body in bucket_contents(seaweed, bucket).items():
        assert key == f"portraits/{hashlib.sha256(body).hexdigest()}"
    # The sweep (here with no grace) leaves exactly the contents the stored rows name.
    settings = load_settings(env=instance_env | {"VIGNETTE_STORAGE__PATH": str(tmp_path / "c")})
    system = start_system(settings)
    system._storage.sweep_orphans(0).get(timeout=60)
    named = {sha for _, status, _, sha in rows(shared_database) if status == "stored"}
    assert {key.removeprefix("portraits/") for key in bucket_contents(seaweed, bucket)} == named
    print(
        f"\n{len(settled)} stories, "
        f"{sum(1 for _, s, _, _ in settled if s == 'failed')} interrupted by the kill"
    )
