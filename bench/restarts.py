"""Restarts per second the portrait supervisor sustains (issue 3's figure).

    .venv/bin/python -m bench.restarts            # 2,000 crashes at C = 1 and at C = 4
    .venv/bin/python -m bench.restarts --quick    # 500 each

Every worker's Recraft client raises RuntimeError on its first call (the crash seam of
tests/actors/test_supervisor.py), so every portrait crashes its worker: the supervisor
logs the crash with its traceback, fails the story `crashed`, and starts a new worker
after a jittered backoff of at most `portraits.restart_backoff_s` = 1 ms. The clock runs
from the first `submit_story` until every story is `failed: crashed`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/restarts.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    RESULTS,
    OtherLoad,
    bench_settings,
    configure_logging,
    machine,
    process_cpu_s,
    story_fields,
)
from vignette.config import Settings
from vignette.records import PortraitStatus
from vignette.recraft.client import RecraftClient
from vignette.system.facade import StorySystem

# Never reached: the crash comes before any request.
UNREACHABLE_BASE_URL = "http://127.0.0.1:9/v1"


class CrashingClient(RecraftClient):
    """A Recraft client whose every call is a bug: the worker running it crashes."""

    def generate_image_url(self, prompt: str, *args: Any, **kwargs: Any) -> str:
        raise RuntimeError(f"bench crash seam for prompt {prompt[:20]!r}")


def crashing_factory(settings: Settings) -> Any:
    key = settings.recraft_api_key
    assert key is not None

    def build() -> RecraftClient:
        return CrashingClient(
            settings.recraft,
            key,
            max_file_bytes=settings.storage.max_file_bytes,
            allow_insecure_urls=True,
        )

    return build


def measure(concurrency: int, stories: int, work: Path) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"restarts-c{concurrency}-", dir=work))
    try:
        settings = bench_settings(
            root,
            UNREACHABLE_BASE_URL,
            concurrency,
            {
                "portraits__max_restarts": "1000000",
                "portraits__restart_window_s": "60",
                "portraits__restart_backoff_s": "0.001",
            },
        )
        with StorySystem.start(settings, client_factory=crashing_factory(settings)) as system:
            cpu_before, started = process_cpu_s(), time.perf_counter()
            ids = [system.submit_story(**story_fields(n)).id for n in range(stories)]
            for story_id in ids:
                system.wait_for_portrait(story_id, timeout=600)
            elapsed, cpu = time.perf_counter() - started, process_cpu_s() - cpu_before
            side = system.portrait_side()
            failures = system.count_failures_by_code()
            statuses = {str(k): v for k, v in system.count_by_status().items() if v}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    crashed = failures.get("crashed", 0)
    return {
        "concurrency": concurrency,
        "stories": stories,
        "crashed": crashed,
        "all_crashed": crashed == stories and statuses == {str(PortraitStatus.FAILED): stories},
        "restarts": side.restarts,
        "workers_up_at_end": side.workers,
        "portrait_side_up": side.up,
        "seconds": elapsed,
        "restarts_per_s": side.restarts / elapsed,
        "crashes_per_s": crashed / elapsed,
        "cpu_ms_per_restart": cpu / max(1, side.restarts) * 1000,
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="stories", const=500)
    size.add_argument("--smoke", action="store_const", dest="stories", const=50)
    parser.add_argument("--stories", type=int, dest="stories")
    parser.add_argument("--concurrency", type=int, action="append")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    stories = args.stories or 2_000
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(args.out_dir / f"{stamp}-restarts.log")
    results: dict[str, Any] = {"machine": machine(), "runs": []}
    others = OtherLoad()
    with tempfile.TemporaryDirectory(prefix="vignette-restarts-") as work:
        for concurrency in args.concurrency or [1, 4]:
            results["runs"].append(measure(concurrency, stories, Path(work)))
    results["other_processes_cpu_share"] = others.share()
    path = args.out_dir / f"{stamp}-restarts.json"
    path.write_text(json.dumps(results, indent=2))
    print("Supervisor restarts (every portrait crashes its worker; backoff <= 1 ms)")
    print(" C  stories  crashed  restarts  seconds  restarts/s  CPU ms/restart  all crashed")
    for run in results["runs"]:
        print(
            f"{run['concurrency']:>2}  {run['stories']:>7}  {run['crashed']:>7}  "
            f"{run['restarts']:>8}  {run['seconds']:>7.2f}  {run['restarts_per_s']:>10.0f}  "
            f"{run['cpu_ms_per_restart']:>14.2f}  {'yes' if run['all_crashed'] else 'NO'}"
        )
    print(f"Other processes used {results['other_processes_cpu_share']:.0%} of the CPUs meanwhile")
    print(f"\nWrote {path}")


if __name__ == "__main__":
    main()
