"""What the gallery, the API's reads and `vignette status` cost as the stories pile up.

For each database (SQLite, PostgreSQL) and each size (1,000 and 1,000,000 stories by
default) it makes a new database with Vignette's own schema, loads the stories straight
into it in bulk (SQLite `executemany` in one transaction, PostgreSQL `COPY`; the counting
triggers run as for any insert), then:

- runs `vignette status` as a user does, a new process each time, and takes the median
  wall time of several runs (start-up and imports are the same at every size);
- starts `vignette serve` (port 0) and times every GET route over keep-alive HTTP:
  the median and the 95th percentile of several requests after a warm-up.

The mix: 96.5 % stored, 3 % failed (three codes), 0.5 % skipped, and ten portraits left
`generating` by an instance that is gone (their lease expired: `status` shows them stale;
the daemon's start fails them). PostgreSQL gets `ANALYZE` after the load, as autovacuum
would do; SQLite gets nothing (Vignette never runs ANALYZE).

    .venv/bin/python -m bench.scale                      # both databases, 1k and 1M
    .venv/bin/python -m bench.scale --sizes 1000 --backends sqlite
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.common import REPO, RESULTS
from tests.postgres import drop_database, fresh_database, postgres_server
from vignette.models import open_database, release_connections

BODY = "Mrs Example, 72, came to the clinic after three weeks of breathlessness on the stairs. " * 8
CODES = ("api_error", "timeout", "download_error", "missing_api_key")
FILES = 10
STALE = 10
STATUS_RUNS = 7
REQUESTS = 30
WARM_UP = 5
COLUMNS = (
    "id, title, body, image_generation_prompt, storage_id, portrait_status, portrait_error, "
    "portrait_attempt, portrait_owner, portrait_lease_until, created_at, updated_at"
)


def rows(n: int, file_ids: list[str]) -> Iterator[tuple[Any, ...]]:
    """N stories in the mix, oldest first, with ids that sort by creation time."""
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=n + 3600)
    gone = start - timedelta(hours=1)
    for i in range(n):
        created = start + timedelta(seconds=i)
        story_id = f"{int(created.timestamp() * 1e9):016x}{i:016x}"
        storage, error, owner, lease = None, None, None, None
        if i >= n - STALE:
            status, owner, lease = "generating", "gone-host:1:ab", gone
        elif i % 200 == 7:
            status, error = "skipped", "empty_prompt: the prompt is blank"
        elif i % 100 in (3, 33, 66):
            status, error = "failed", f"{CODES[i % 4]}: what went wrong"
        else:
            status, storage = "stored", file_ids[i % FILES]
        prompt = f"A portrait of patient {i}, soft light"
        values = (story_id, f"Story {i}", BODY, prompt, storage, status, error, 1)
        yield (*values, owner, lease, created, created)


def load(url: str, storage: Path, n: int) -> dict[str, Any]:
    """Make the schema, the files and N stories; return what to ask for."""
    db = open_database(url)
    db.close()
    release_connections(db)
    file_ids = [uuid.uuid4().hex for _ in range(FILES)]
    files = []
    for index, file_id in enumerate(file_ids):
        data = f"not really an image {index}".encode()
        sha = f"{index:064x}"
        (storage / sha[:2]).mkdir(parents=True, exist_ok=True)
        (storage / sha[:2] / sha).write_bytes(data)
        files.append((file_id, sha, len(data), "image/png", datetime.now(UTC).replace(tzinfo=None)))
    started = time.perf_counter()
    stamped = rows(n, file_ids)
    first = next(stamped)
    stamped = _chain(first, stamped)
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.executemany("INSERT INTO stored_files VALUES (?, ?, ?, ?, ?)", files)
            marks = ", ".join("?" * 12)
            conn.executemany(f"INSERT INTO stories ({COLUMNS}) VALUES ({marks})", stamped)
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            with conn.cursor() as cursor:
                cursor.executemany("INSERT INTO stored_files VALUES (%s, %s, %s, %s, %s)", files)
                with cursor.copy(f"COPY stories ({COLUMNS}) FROM STDIN") as copy:
                    for row in stamped:
                        copy.write_row(row)
            conn.execute("ANALYZE")
    loaded_s = time.perf_counter() - started
    return {"load_s": round(loaded_s, 1), "old_id": first[0], "file_id": file_ids[0]}


def _chain(first: tuple[Any, ...], rest: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    yield first
    yield from rest


def write_config(folder: Path, url: str) -> Path:
    config = folder / "vignette.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[storage]\npath = "{folder / "files"}"\n'
        '[server]\nport = 0\n[logging]\nlevel = "WARNING"\n'
    )
    return config


def time_status(config: Path) -> dict[str, Any]:
    """`vignette status` as a new process each run: the median wall time, in seconds, and
    the table it printed, as {row: count}."""
    times = []
    for _ in range(STATUS_RUNS):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "vignette", "status", "--config", str(config)],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        )
        times.append(time.perf_counter() - started)
    rows = {}
    for line in done.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) == 2 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "table": rows,
    }


@contextmanager
def serving(config: Path) -> Iterator[str]:
    """`vignette serve` in a process of its own; yields its URL."""
    env = {**os.environ, "VIGNETTE_LOGGING__LEVEL": "INFO"}
    argv = [sys.executable, "-m", "vignette", "serve", "--config", str(config)]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    url = ""
    try:
        for line in proc.stderr:
            if "Vignette is running at " in line:
                url = line.split("Vignette is running at ", 1)[1].split()[0]
                break
        if not url:
            raise RuntimeError("vignette serve did not start")
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def time_routes(url: str, ids: dict[str, Any], newest: str) -> dict[str, dict[str, float]]:
    routes = [
        "/",
        "/api/stories",
        "/api/stories?limit=500",
        "/api/stories?status=failed",
        "/api/stories?status=skipped",
        f"/api/stories/{newest}",
        f"/api/stories/{ids['old_id']}",
        f"/api/files/{ids['file_id']}",
        "/healthz",
        "/metrics",
    ]
    results = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for route in routes:
            times = []
            for attempt in range(WARM_UP + REQUESTS):
                started = time.perf_counter()
                answer = client.get(route)
                elapsed = time.perf_counter() - started
                answer.raise_for_status()
                if attempt >= WARM_UP:
                    times.append(elapsed * 1000)
            times.sort()
            results[route.replace(newest, "{newest}").replace(ids["old_id"], "{oldest}")] = {
                "median_ms": round(statistics.median(times), 2),
                "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
            }
    return results


def measure(backend: str, n: int, server: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vignette-scale-") as temporary:
        folder = Path(temporary)
        name = f"vignette_scale_{uuid.uuid4().hex[:10]}"
        url = f"sqlite:///{folder / 'vignette.sqlite3'}"
        if backend == "postgresql":
            assert server is not None
            url = fresh_database(server, name)
        try:
            print(f"{backend} {n:,}: loading", flush=True)
            ids = load(url, folder / "files", n)
            config = write_config(folder, url)
            status = time_status(config)
            with serving(config) as base:
                newest = httpx.get(f"{base}/api/stories?limit=1").json()["stories"][0]["id"]
                routes = time_routes(base, ids, newest)
        finally:
            if backend == "postgresql" and server is not None:
                drop_database(server, name)
    return {"backend": backend, "stories": n, "load_s": ids["load_s"], "status": status,
            "routes": routes}  # fmt: skip


def main() -> None:
    global STATUS_RUNS, REQUESTS, WARM_UP
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--smoke", action="store_true", help="200 stories on SQLite, one run of each: it works"
    )
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.backends = [200], ["sqlite"]
        STATUS_RUNS, REQUESTS, WARM_UP = 1, 2, 1
    results = []
    wanted = "postgresql" in args.backends
    with postgres_server() if wanted else contextlib.nullcontext("") as server:
        for backend in args.backends:
            for n in args.sizes:
                result = measure(backend, n, server if backend == "postgresql" else None)
                results.append(result)
                print(json.dumps(result, indent=1), flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-scale.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
