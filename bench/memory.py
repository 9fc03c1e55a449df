"""Memory measurements, each in a fresh process so its baseline is clean.

`python -m bench.memory big ORIGIN` stores one `big` image through a StorySystem and
reports how much it raised the peak RSS; `parts ORIGIN` splits that into the streamed
download and the Pillow check; `growth ORIGIN N` runs N portraits and samples RSS.
Each prints one line `RESULT {json}` last; run.py starts them.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    bench_settings,
    configure_logging,
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
    story_fields,
)
from vignette.download.images import identify_image
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem

MB = 1_000_000
WAIT_S = 600.0


def _run_stories(system: StorySystem, numbers: range, prompt: str | None = None) -> int:
    """Submit one story per number, wait for every portrait; return how many were stored."""
    ids = [system.submit_story(**story_fields(n, prompt)).id for n in numbers]
    stored = 0
    for story_id in ids:
        story = system.wait_for_portrait(story_id, timeout=WAIT_S)
        stored += story.portrait_status is PortraitStatus.STORED
    return stored


def big_image(origin: str, big_mb: int, root: Path) -> dict[str, Any]:
    """Peak RSS before and after one `big_mb` MB portrait goes through the whole pipeline."""
    base_url = f"{origin}/s/0/v1"
    cap = str(int(big_mb * MB * 1.5))
    settings = bench_settings(root, base_url, 1, {"storage__max_file_bytes": cap})
    with StorySystem.start(settings) as system:
        warm = _run_stories(system, range(3))  # imports, plugins, connections, first rows
        gc.collect()
        # The same again with a 1 MB image, for comparison: the peak of an ordinary portrait.
        reset_peak_rss()
        before_small = rss_bytes()
        _run_stories(system, range(3, 4))
        small_peak = peak_rss_bytes()
        gc.collect()
        reset_peak_rss()
        before_rss = rss_bytes()
        started = time.perf_counter()
        stored = _run_stories(system, range(4, 5), prompt=f"big: a portrait of {big_mb} MB")
        elapsed = time.perf_counter() - started
        after_peak, after_rss = peak_rss_bytes(), rss_bytes()
    return {
        "image_mb": big_mb,
        "warm_stored": warm,
        "stored": stored,
        "seconds": elapsed,
        "rss_before_mb": before_rss / MB,
        "peak_during_mb": after_peak / MB,
        "peak_delta_mb": (after_peak - before_rss) / MB,
        "peak_delta_1mb_image_mb": (small_peak - before_small) / MB,
        "rss_after_mb": after_rss / MB,
    }


def parts(origin: str, root: Path) -> dict[str, Any]:
    """The same image's peak RSS increase for the streamed download alone, then the check."""
    path = root / "big.png"
    with httpx.Client(timeout=300) as client:
        client.get(f"{origin}/img/s/0").raise_for_status()  # a warm connection and imports
        gc.collect()
        reset_peak_rss()
        before = rss_bytes()
        digest = hashlib.sha256()
        with client.stream("GET", f"{origin}/img/big/0") as response, path.open("wb") as file:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                file.write(chunk)
                digest.update(chunk)
            file.flush()
            os.fsync(file.fileno())
    download_peak = peak_rss_bytes()
    gc.collect()
    reset_peak_rss()
    before_check = rss_bytes()
    content_type = identify_image(path)
    check_peak = peak_rss_bytes()
    return {
        "bytes": path.stat().st_size,
        "content_type": content_type,
        "download_delta_mb": (download_peak - before) / MB,
        "check_delta_mb": (check_peak - before_check) / MB,
    }


def growth(
    origin: str, total: int, concurrency: int, latency_s: float, samples: int, root: Path
) -> dict[str, Any]:
    """RSS after each of `samples` batches of portraits, from a warmed-up start."""
    settings = bench_settings(root, f"{origin}/s/{latency_s:g}/v1", concurrency)
    batch = max(1, total // samples)
    points: list[dict[str, float]] = []
    with StorySystem.start(settings) as system:
        warm = _run_stories(system, range(-2 * concurrency, 0))
        gc.collect()
        start_rss = rss_bytes()
        started = time.perf_counter()
        done = 0
        stored = 0
        while done < total:
            count = min(batch, total - done)
            stored += _run_stories(system, range(done, done + count))
            done += count
            points.append(
                {
                    "portraits": done,
                    "seconds": time.perf_counter() - started,
                    "rss_mb": rss_bytes() / MB,
                }
            )
        elapsed = time.perf_counter() - started
        end_rss = rss_bytes()
        peak = peak_rss_bytes()
    return {
        "portraits": total,
        "stored": stored,
        "warm_stored": warm,
        "concurrency": concurrency,
        "latency_s": latency_s,
        "seconds": elapsed,
        "start_rss_mb": start_rss / MB,
        "end_rss_mb": end_rss / MB,
        "growth_mb": (end_rss - start_rss) / MB,
        "peak_rss_mb": peak / MB,
        "samples": points,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["big", "parts", "growth"])
    parser.add_argument("origin", help="the fake Recraft server's origin, http://127.0.0.1:PORT")
    parser.add_argument("--big-mb", type=int, default=40)
    parser.add_argument("--portraits", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--log", type=Path, default=None)
    args = parser.parse_args()
    configure_logging(args.log)
    root = Path(tempfile.mkdtemp(prefix=f"vignette-bench-{args.what}-"))
    try:
        if args.what == "big":
            result = big_image(args.origin, args.big_mb, root)
        elif args.what == "parts":
            result = parts(args.origin, root)
        else:
            result = growth(
                args.origin, args.portraits, args.concurrency, args.latency, args.samples, root
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
