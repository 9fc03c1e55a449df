"""Pick-up latency: how long a story made pending by one instance waits before an idle
instance claims it.

An idle instance (`python runner.py serve`, one worker, `poll_interval_s` at its default
2 s) runs in a process of its own; this process stands for an instance whose workers are
all busy: it only inserts stories (with the insert's NOTIFY on PostgreSQL). For each of N
stories the latency is the claim's time (`portrait_started_at`, written by the idle
instance) less the insert's (`created_at`), both from this machine's clock; the next story
is inserted once the previous portrait is stored, so the instance is idle again.

    .venv/bin/python -m bench.pickup                 # PostgreSQL and SQLite, N = 20
    .venv/bin/python -m bench.pickup --backend postgresql -n 50
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from tests.fakes.recraft_server import RecraftServer
from tests.postgres import fresh_database, postgres_server
from vignette.models import database, open_database, stories
from vignette.models.tables import StoryRow
from vignette.records import StoryDraft

REPO = Path(__file__).resolve().parent.parent
WAIT_S = 30.0


def started_at(story_id: str) -> tuple[datetime | None, str]:
    row = StoryRow.get_by_id(story_id)
    return row.portrait_started_at, row.portrait_status


def wait_until(story_id: str, done: set[str]) -> datetime | None:
    """Poll (this is the bench, not the system) until the story's status is in `done`."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        started, status = started_at(story_id)
        if status in done:
            return started
        time.sleep(0.005)
    raise TimeoutError(f"story {story_id} was not claimed within {WAIT_S:g} s")


def measure(url: str, count: int, files: Path, recraft: RecraftServer) -> list[float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGNETTE_")} | {
        "VIGNETTE_DATABASE__URL": url,
        "VIGNETTE_STORAGE__PATH": str(files),
        "VIGNETTE_RECRAFT__BASE_URL": recraft.base_url,
        "VIGNETTE_PORTRAITS__ALLOW_INSECURE_URLS": "true",
        "VIGNETTE_PORTRAITS__CONCURRENCY": "1",
        "VIGNETTE_SERVER__PORT": "0",
        "VIGNETTE_LOGGING__LEVEL": "WARNING",
        "RECRAFT_API_KEY": "rk-bench-not-a-real-key-0000",
    }
    db = open_database(url)
    idle = subprocess.Popen([sys.executable, "runner.py", "serve"], cwd=REPO, env=env)
    latencies = []
    try:
        for n in range(count + 1):  # the first one warms up: the instance has started
            story = stories.insert_story(db, StoryDraft(f"Story {n}", "A story.", f"p {n}"))
            claimed = wait_until(story.id, {"generating", "stored", "failed"})
            wait_until(story.id, {"stored", "failed"})
            if n and claimed is not None:
                created = story.created_at.replace(tzinfo=None)
                latencies.append((claimed - created).total_seconds())
    finally:
        idle.terminate()
        idle.wait(timeout=60)
        db.close()
    return latencies


def report(name: str, latencies: list[float]) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    print(
        f"{name:<11} n={len(ms):<3} median {statistics.median(ms):7.1f} ms   "
        f"p90 {p90:7.1f} ms   min {ms[0]:6.1f} ms   max {ms[-1]:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="stories measured (20)")
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, RecraftServer() as recraft:
        if args.backend in ("postgresql", "both"):
            with postgres_server() as server:
                url = fresh_database(server, "vignette_pickup")
                report("postgresql", measure(url, args.n, Path(tmp) / "pg-files", recraft))
                database.obj.close_all()
        if args.backend in ("sqlite", "both"):
            url = f"sqlite:///{Path(tmp) / 'pickup.sqlite3'}"
            report("sqlite", measure(url, args.n, Path(tmp) / "sqlite-files", recraft))


if __name__ == "__main__":
    main()
