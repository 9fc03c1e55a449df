"""What a completion subscription's read costs as the stories table grows.

    .venv/bin/python -m bench.subscriptions             # 1,000 and 1,000,000 stories
    .venv/bin/python -m bench.subscriptions --quick     # 1,000 and 100,000

Every subscription reads "what settled since my watermark" at least once a second
(`vignette/models/settled.py`), on every instance. The table here holds N stored stories
last changed two days ago and 10 settled in the last minute: the read must return those 10
at a cost that follows them, not N. The figure is the median of 20 reads on SQLite (which
keeps no statistics to choose an index by).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/subscriptions.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vignette.models import open_database, settled

RECENT = 10
READS = 20


def load(path: Path, count: int) -> None:
    """A database with Vignette's schema, `count` old stored stories and `RECENT` new ones."""
    open_database(f"sqlite:///{path}").close()
    now = datetime.now(UTC).replace(tzinfo=None)
    old = (now - timedelta(days=2)).isoformat(sep=" ")
    new = (now - timedelta(seconds=5)).isoformat(sep=" ")
    rows = (
        (f"{n:032x}", "t", "b", "p", "stored", 1, old, new if n < RECENT else old)
        for n in range(count + RECENT)
    )
    with sqlite3.connect(path) as raw:
        raw.executemany(
            "INSERT INTO stories (id, title, body, image_generation_prompt, portrait_status, "
            "portrait_attempt, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def median_read_ms(path: Path) -> float:
    open_database(f"sqlite:///{path}")
    since = datetime.now(UTC) - timedelta(seconds=60)
    times = []
    for _ in range(READS):
        started = time.perf_counter()
        found = settled.settled_since(since)
        times.append(time.perf_counter() - started)
        assert len(found) == RECENT, len(found)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description="What a subscription's read costs.")
    parser.add_argument("--quick", action="store_true", help="100,000 stories, not 1,000,000")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="vignette-bench-subscriptions-"))
    try:
        print(f"{'stories':>10}  read since the watermark, median of {READS}")
        for count in (1_000, 100_000 if args.quick else 1_000_000):
            path = folder / f"{count}.sqlite3"
            load(path, count)
            print(f"{count:>10,}  {median_read_ms(path):8.2f} ms", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
