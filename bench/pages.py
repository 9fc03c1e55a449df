"""What reading a page of stories costs as the table grows: `GET /api/stories` (first page,
a page from the middle by cursor, and both with a state filter) at 1,000 and 1,000,000
stories in SQLite, through the real app and system. The keyset on (created_at, id) should
make every figure the same at both sizes.

    .venv/bin/python -m bench.pages              # 1,000 and 1,000,000 stories (about 1 min)
    .venv/bin/python -m bench.pages --sizes 1000 20000
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from loguru import logger

from vignette.api import create_app
from vignette.config import load_settings
from vignette.system.facade import StorySystem

STATES = ("stored", "failed", "skipped")
REPEATS = 30
BATCH = 50_000


def fill(path: Path, count: int) -> None:
    """`count` settled stories, one a second, written straight into the SQLite file."""
    start = datetime(2025, 1, 1)
    with sqlite3.connect(path) as db:
        for first in range(0, count, BATCH):
            rows = []
            for n in range(first, min(count, first + BATCH)):
                moment = str(start + timedelta(seconds=n, microseconds=n % 1000))
                state = STATES[n % 3]
                error = (
                    None
                    if state == "stored"
                    else f"{'api_error' if n % 3 == 1 else 'empty_prompt'}: x"
                )
                rows.append(
                    (
                        f"{n:016x}{n:016x}",
                        f"Story {n}",
                        "A body. " * 40,
                        "a prompt",
                        state,
                        error,
                        moment,
                        moment,
                    )
                )
            db.executemany(
                "INSERT INTO stories (id, title, body, image_generation_prompt, portrait_status,"
                " portrait_error, portrait_attempt, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
                rows,
            )
        db.execute("ANALYZE")


def median_ms(client: TestClient, url: str) -> float:
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, answer.text
    return statistics.median(times)


def measure(count: int, folder: Path) -> dict[str, float]:
    env = {
        "VIGNETTE_DATABASE__URL": f"sqlite:///{folder / 'vignette.sqlite3'}",
        "VIGNETTE_STORAGE__PATH": str(folder / "files"),
    }
    settings = load_settings(env=env)
    StorySystem.start(settings).stop()  # creates the tables
    fill(folder / "vignette.sqlite3", count)
    with (
        StorySystem.start(settings) as system,
        TestClient(create_app(system), base_url="http://localhost") as client,
    ):
        middle = system.list_page(limit=count // 2).next_cursor
        failed_middle = system.list_page("failed", limit=count // 6).next_cursor
        return {
            "first page": median_ms(client, "/api/stories?limit=48"),
            "middle page": median_ms(client, f"/api/stories?limit=48&cursor={middle}"),
            "failed, first": median_ms(client, "/api/stories?limit=48&status=failed"),
            "failed, middle": median_ms(
                client, f"/api/stories?limit=48&status=failed&cursor={failed_middle}"
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 1_000_000])
    sizes = parser.parse_args().sizes
    logger.disable("vignette")
    results = {}
    for count in sizes:
        with tempfile.TemporaryDirectory() as folder:
            results[count] = measure(count, Path(folder))
    columns = list(results[sizes[0]])
    print(f"GET /api/stories, 48 a page, median of {REPEATS} (ms), SQLite")
    print(f"{'stories':>10}  " + "  ".join(f"{c:>15}" for c in columns))
    for count, row in results.items():
        print(f"{count:>10,}  " + "  ".join(f"{row[c]:>15.2f}" for c in columns))


if __name__ == "__main__":
    main()
