"""What SQLite's `synchronous = FULL` costs against NORMAL, in WAL mode.

    .venv/bin/python -m bench.sqlite_sync            # 2,000 portraits per mode
    .venv/bin/python -m bench.sqlite_sync --quick    # 500

FULL fsyncs the WAL at every commit, so a committed claim survives a power loss (NORMAL
may roll the last commits back, and a claim rolled back after its Recraft call would be
paid for twice). Each portrait here is the three commits a real one makes, run one after
another on one connection as the DocumentActor runs them: insert the story, claim it,
store its file row and settle it. The figure is the time per portrait and the portraits
per second one database thread sustains, on a file in the system's temporary folder (the
disk the data folder would use may be slower or faster).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/sqlite_sync.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vignette.models import open_database, portraits, stories
from vignette.models.database import SQLITE_PRAGMAS
from vignette.records import StoryDraft


def run(mode: str, count: int, folder: Path) -> list[float]:
    """Seconds per portrait, for `count` portraits with `synchronous = mode`."""
    SQLITE_PRAGMAS["synchronous"] = mode
    db = open_database(f"sqlite:///{folder / f'{mode}.sqlite3'}")
    db.connect(reuse_if_open=True)
    level = db.execute_sql("PRAGMA synchronous").fetchone()[0]  # type: ignore[no-untyped-call]
    assert level == {"normal": 1, "full": 2}[mode]
    times = []
    for n in range(count):
        started = time.perf_counter()
        story = stories.insert_story(db, StoryDraft(f"Story {n}", "Body.", f"prompt {n}"))
        job = portraits.claim_portrait(db, story.id, owner="bench", lease_s=60)
        assert job is not None
        portraits.store_portrait(db, job, f"{n:064x}", 1000, "image/png")
        times.append(time.perf_counter() - started)
    db.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 portraits per mode")
    args = parser.parse_args()
    count = 500 if args.quick else 2000
    folder = Path(tempfile.mkdtemp(prefix="vignette-sync-"))
    try:
        results = {mode: run(mode, count, folder) for mode in ("normal", "full")}
    finally:
        SQLITE_PRAGMAS["synchronous"] = "full"
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{count} portraits per mode (insert, claim, store: three commits each)")
    for mode, times in results.items():
        median = statistics.median(times) * 1000
        p99 = sorted(times)[int(len(times) * 0.99)] * 1000
        print(
            f"synchronous={mode:6}  median {median:6.2f} ms  p99 {p99:6.2f} ms  "
            f"{len(times) / sum(times):7.0f} portraits/s"
        )


if __name__ == "__main__":
    main()
