"""Vignette's benchmark harness (issue 8): throughput at the latency limit, CPU, memory.

    .venv/bin/python -m bench.run            # full mode (about 5 minutes on 2 cores)
    .venv/bin/python -m bench.run --quick    # `make bench`: under 2 minutes
    .venv/bin/python -m bench.run --smoke    # tiny N, about 20 s: the CI smoke test

Everything runs against `bench.fake_recraft`, a fake Recraft server in its own process
that answers after latency L with the URL of a real 1 MB PNG it serves itself. The table
is printed and the figures are written to bench/results/<timestamp>.json. See
BENCHMARKS.md for the method and the figures of a full run.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

if __package__ in (None, ""):  # run as `python bench/run.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.common import (
    API_KEY,
    REPO,
    RESULTS,
    FakeRecraftProcess,
    OtherLoad,
    bench_settings,
    configure_logging,
    cpu_by_thread_kind,
    machine,
    percentile,
    process_cpu_s,
    story_fields,
    thread_cpu,
)
from vignette.download.images import identify_image
from vignette.models import StoryRow, open_database, utc_now
from vignette.net.tls import shared_ssl_context
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem

CHUNK = 64 * 1024
MB = 1_000_000


@dataclass(frozen=True)
class Scenario:
    concurrency: int
    latency_s: float
    portraits: int

    @property
    def name(self) -> str:
        return f"C={self.concurrency} L={self.latency_s:g}s"

    @property
    def limit_s(self) -> float:
        """The latency limit: ceil(N / C) rounds of L."""
        return math.ceil(self.portraits / self.concurrency) * self.latency_s


@dataclass(frozen=True)
class Mode:
    name: str
    scenarios: tuple[Scenario, ...]
    floor_repeats: int
    creation_stories: int
    big_mb: int
    growth_portraits: int
    growth_concurrency: int
    growth_latency_s: float


def _rounds(rounds: int, latency_s: float, *concurrencies: int) -> tuple[Scenario, ...]:
    return tuple(Scenario(c, latency_s, rounds * c) for c in concurrencies)


MODES = {
    "full": Mode(
        "full",
        _rounds(8, 0.5, 1, 4, 16, 64) + _rounds(4, 5.0, 256),
        floor_repeats=300,
        creation_stories=5_000,
        big_mb=40,
        growth_portraits=10_000,
        growth_concurrency=16,
        growth_latency_s=0.02,
    ),
    "quick": Mode(
        "quick",
        _rounds(4, 0.5, 1, 4, 16, 64) + _rounds(2, 5.0, 256),
        floor_repeats=100,
        creation_stories=1_000,
        big_mb=40,
        growth_portraits=1_000,
        growth_concurrency=16,
        growth_latency_s=0.02,
    ),
    "smoke": Mode(
        "smoke",
        _rounds(2, 0.05, 1, 4, 16, 64) + _rounds(1, 0.5, 256),
        floor_repeats=10,
        creation_stories=100,
        big_mb=8,
        growth_portraits=64,
        growth_concurrency=8,
        growth_latency_s=0.02,
    ),
}

# Where each target is judged, when a figure exists for several scenarios.
JUDGED_AT = Scenario(16, 0.5, 0)


# The system under test ------------------------------------------------------------------


@contextmanager
def scratch(work: Path, name: str) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def pipeline_timings(latency_s: float, started_utc: datetime) -> dict[str, float]:
    """Per-portrait times read from the story rows (see BENCHMARKS.md, 'Method').

    The DocumentActor stamps `portrait_started_at` when it claims a portrait and
    `updated_at` when it records it stored: their difference is the whole pipeline
    (request, download, check, store, update) as the system saw it; minus L, its overhead.
    `created_at` to the claim is the wait for a worker. The last `updated_at` is when the
    last portrait was recorded, whoever waits for it and however.
    """
    rows = cast(
        "list[tuple[datetime, datetime | None, datetime]]",
        list(
            StoryRow.select(
                StoryRow.created_at, StoryRow.portrait_started_at, StoryRow.updated_at
            ).tuples()
        ),
    )
    StoryRow._meta.database.close()  # this thread's connection only
    pipeline = [
        (updated - started).total_seconds() for _, started, updated in rows if started is not None
    ]
    queued = [
        (started - created).total_seconds() for created, started, _ in rows if started is not None
    ]
    overhead_ms = [(seconds - latency_s) * 1000 for seconds in pipeline]
    return {
        "overhead_median_ms": statistics.median(overhead_ms) if overhead_ms else math.nan,
        "overhead_p99_ms": percentile(overhead_ms, 0.99),
        "overhead_max_ms": max(overhead_ms, default=math.nan),
        "overhead_min_ms": min(overhead_ms, default=math.nan),
        "queue_wait_median_ms": statistics.median(queued) * 1000 if queued else math.nan,
        "last_stored_after_s": (max(row[2] for row in rows) - started_utc).total_seconds(),
    }


@contextmanager
def pyspy(output: Path | None, gil: bool = False) -> Iterator[None]:
    """Sample this process with py-spy (raw collapsed stacks) while the block runs."""
    if output is None:
        yield
        return
    command = ["py-spy", "record", "--pid", str(os.getpid()), "--rate", "250", "--format"]
    command += ["raw", "--output", str(output), "--nonblocking"] + (["--gil"] if gil else [])
    spy = subprocess.Popen(
        [shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")), *command[1:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


def run_system(
    fake: FakeRecraftProcess,
    scenario: Scenario,
    work: Path,
    profile: Path | None = None,
    gil: bool = False,
    wait: str = "portrait",
) -> dict[str, Any]:
    """N stories through `StorySystem.submit_story`, waited on with `wait_for_portrait`.

    `wait="poll"` instead asks `count_by_status` every 20 ms until none is left to do and
    takes the end from the last row's `updated_at`: it shows what the waiting costs.
    """
    with scratch(work, "system") as root:
        settings = bench_settings(
            root, fake.base_url("u", scenario.latency_s), scenario.concurrency
        )
        system = StorySystem.start(settings)
        try:
            gc.collect()
            with pyspy(profile, gil):
                fake_before = fake.stats()
                threads_before = thread_cpu()
                cpu_before = process_cpu_s()
                started_utc = utc_now()
                started = time.perf_counter()
                ids = [system.submit_story(**story_fields(n)).id for n in range(scenario.portraits)]
                submitted = time.perf_counter()
                timeout = max(120.0, 10 * scenario.limit_s)
                if wait == "poll":
                    open_states = (PortraitStatus.PENDING, PortraitStatus.GENERATING)
                    while any(system.count_by_status()[state] for state in open_states):
                        time.sleep(0.02)
                else:
                    for story_id in ids:
                        system.wait_for_portrait(story_id, timeout=timeout)
                finished = time.perf_counter()
                cpu_s = process_cpu_s() - cpu_before
                threads = cpu_by_thread_kind(threads_before, thread_cpu(), cpu_s)
                fake_after = fake.stats()
            counts = {str(k): v for k, v in system.count_by_status().items() if v}
            failures = system.count_failures_by_code()
            timings = pipeline_timings(scenario.latency_s, started_utc)
        finally:
            system.stop()
    makespan = finished - started
    if wait == "poll":
        makespan = timings["last_stored_after_s"]
    return {
        "makespan_s": makespan,
        "of_limit": scenario.limit_s / makespan,
        "portraits_per_s": scenario.portraits / makespan,
        "waited_with": wait,
        "submit_s": submitted - started,
        "cpu_s": cpu_s,
        "cpu_ms_per_portrait": cpu_s / scenario.portraits * 1000,
        "cpu_by_thread_s": threads,
        "fake_cpu_ms_per_portrait": (fake_after["cpu_s"] - fake_before["cpu_s"])
        / scenario.portraits
        * 1000,
        "fake_max_in_flight": fake_after["max_in_flight"],
        "statuses": counts,
        "failures": failures,
        **timings,
    }


# The baseline: a ThreadPoolExecutor and httpx -------------------------------------------


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store_file(root: Path, staging: Path, chunks: Iterator[bytes]) -> str:
    """What StorageActor does: sha256 while writing, fsync, check, rename, fsync the dir."""
    digest = hashlib.sha256()
    fd, name = tempfile.mkstemp(dir=staging, suffix=".part")
    with os.fdopen(fd, "wb") as file:
        for chunk in chunks:
            file.write(chunk)
            digest.update(chunk)
        file.flush()
        os.fsync(file.fileno())
    identify_image(Path(name))
    sha256 = digest.hexdigest()
    final = root / sha256[:2] / sha256
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(name, final)
    _fsync_directory(final.parent)
    return sha256


def run_baseline(fake: FakeRecraftProcess, scenario: Scenario, work: Path) -> dict[str, Any]:
    """The same request, download, check and store, from C plain threads, one client each."""
    url = fake.base_url("u", scenario.latency_s) + "/images/generations"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    local = threading.local()
    clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        existing: httpx.Client | None = getattr(local, "client", None)
        if existing is None:
            existing = httpx.Client(timeout=120, verify=shared_ssl_context())
            local.client = existing
            clients.append(existing)
        return existing

    with scratch(work, "baseline") as root:
        staging = root / "tmp"
        staging.mkdir()

        def job(number: int) -> str:
            http = client()
            body = {
                "prompt": story_fields(number)["image_generation_prompt"],
                "style": "realistic_image",
                "model": "recraftv3",
                "size": "1024x1024",
            }
            answer = http.post(url, json=body, headers=headers)
            answer.raise_for_status()
            image_url: str = answer.json()["data"][0]["url"]
            with http.stream("GET", image_url) as response:
                response.raise_for_status()
                return store_file(root, staging, response.iter_bytes())

        with ThreadPoolExecutor(max_workers=scenario.concurrency) as pool:
            # One client per thread, built before the clock starts (the system's too).
            barrier = threading.Barrier(scenario.concurrency)
            list(pool.map(lambda _: (client(), barrier.wait()), range(scenario.concurrency)))
            gc.collect()
            cpu_before = process_cpu_s()
            started = time.perf_counter()
            futures = [pool.submit(job, n) for n in range(scenario.portraits)]
            stored = len({future.result() for future in futures})
            finished = time.perf_counter()
            cpu_s = process_cpu_s() - cpu_before
        for http in clients:
            http.close()
    makespan = finished - started
    return {
        "makespan_s": makespan,
        "of_limit": scenario.limit_s / makespan,
        "portraits_per_s": scenario.portraits / makespan,
        "cpu_ms_per_portrait": cpu_s / scenario.portraits * 1000,
        "stored_files": stored,
    }


# Floors: the bare cost of the pieces ----------------------------------------------------


def floors(fake: FakeRecraftProcess, repeats: int, work: Path) -> dict[str, float]:
    """CPU per call of one httpx POST + one GET of the 1 MB image, of the check, of a store."""
    url = fake.base_url("u", 0) + "/images/generations"
    body = {"prompt": "floor", "style": "realistic_image", "model": "recraftv3", "size": "1x1"}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    result: dict[str, float] = {}
    with httpx.Client(timeout=60, verify=shared_ssl_context()) as http:

        def post_and_get() -> None:
            image_url = http.post(url, json=body, headers=headers).json()["data"][0]["url"]
            with http.stream("GET", image_url) as response:
                for _ in response.iter_bytes():
                    pass

        def post_only() -> None:
            http.post(url, json=body, headers=headers).json()

        result["httpx_post_get_cpu_ms"], result["httpx_post_get_wall_ms"] = _per_call(
            post_and_get, repeats
        )
        result["httpx_post_cpu_ms"], _ = _per_call(post_only, repeats)
        image = http.get(f"{fake.origin}/img/u/0").content
    with scratch(work, "floors") as root:
        staging = root / "tmp"
        staging.mkdir()
        sample = root / "sample.png"
        sample.write_bytes(image)
        result["check_cpu_ms"], _ = _per_call(lambda: identify_image(sample), repeats)
        result["sha256_cpu_ms"], _ = _per_call(lambda: hashlib.sha256(image).digest(), repeats)

        def store() -> None:
            chunks = (image[i : i + CHUNK] for i in range(0, len(image), CHUNK))
            store_file(root, staging, chunks)

        result["store_with_check_cpu_ms"], result["store_with_check_wall_ms"] = _per_call(
            store, max(3, repeats // 4)
        )
    result["image_bytes"] = float(len(image))
    return result


def _per_call(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    for _ in range(3):
        call()
    cpu_before, started = process_cpu_s(), time.perf_counter()
    for _ in range(repeats):
        call()
    cpu, wall = process_cpu_s() - cpu_before, time.perf_counter() - started
    return cpu / repeats * 1000, wall / repeats * 1000


# Story creation -------------------------------------------------------------------------


def story_creation(fake: FakeRecraftProcess, stories: int, work: Path) -> dict[str, float]:
    """Stories per second through `StorySystem.submit_story`, and with bare peewee inserts.

    The system runs with `rate_limit_per_minute = 1`: one portrait is made, every other
    stays queued, so only the story path is measured.
    """
    result: dict[str, float] = {}
    with scratch(work, "creation-system") as root:
        settings = bench_settings(
            root, fake.base_url("s", 0), 1, {"portraits__rate_limit_per_minute": "1"}
        )
        with StorySystem.start(settings) as system:
            for n in range(20):
                system.submit_story(**story_fields(n))
            cpu_before, started = process_cpu_s(), time.perf_counter()
            for n in range(stories):
                system.submit_story(**story_fields(n))
            elapsed, cpu = time.perf_counter() - started, process_cpu_s() - cpu_before
        result["system_per_s"] = stories / elapsed
        result["system_cpu_ms_per_story"] = cpu / stories * 1000
    with scratch(work, "creation-raw") as root:
        db = open_database(f"sqlite:///{root / 'raw.sqlite3'}")

        def row(n: int) -> dict[str, Any]:
            now = utc_now()
            return {
                "id": f"{time.time_ns():016x}{secrets.token_hex(8)}",
                **story_fields(n),
                "portrait_status": PortraitStatus.PENDING,
                "created_at": now,
                "updated_at": now,
            }

        for n in range(20):
            StoryRow.create(**row(n))
        cpu_before, started = process_cpu_s(), time.perf_counter()
        for n in range(stories):
            StoryRow.create(**row(n))  # one statement and one transaction each, as the system
        elapsed, cpu = time.perf_counter() - started, process_cpu_s() - cpu_before
        result["raw_create_per_s"] = stories / elapsed
        result["raw_create_cpu_ms_per_story"] = cpu / stories * 1000
        started = time.perf_counter()
        with db.atomic():
            rows = [row(n) for n in range(stories)]
            for offset in range(0, stories, 100):
                StoryRow.insert_many(rows[offset : offset + 100]).execute()
        result["raw_insert_many_per_s"] = stories / (time.perf_counter() - started)
        db.close()
    result["system_vs_raw_create"] = result["system_per_s"] / result["raw_create_per_s"]
    return result


# Memory, in fresh processes -------------------------------------------------------------


def memory_child(what: str, fake: FakeRecraftProcess, log: Path, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.memory", what, fake.origin, "--log", str(log), *args]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            return result
    raise RuntimeError(f"bench.memory {what} failed ({done.returncode}):\n{done.stderr[-3000:]}")


# Targets and the table ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    goal: str
    passed: bool
    where: str


def targets(results: dict[str, Any]) -> list[Target]:
    by_name = {row["scenario"]["name"]: row for row in results["scenarios"]}

    def at(concurrency: int, latency_s: float) -> dict[str, Any] | None:
        return by_name.get(Scenario(concurrency, latency_s, 0).name)

    rows = results["scenarios"]

    # In smoke mode the latencies differ: judge on the scenario with the same C instead.
    def judged(concurrency: int, latency_s: float) -> dict[str, Any] | None:
        row = at(concurrency, latency_s)
        if row is None:
            row = next((r for r in rows if r["scenario"]["concurrency"] == concurrency), None)
        return row

    found: list[Target] = []

    def add(name: str, value: float, goal: str, passed: bool, where: str) -> None:
        found.append(Target(name, value, goal, passed, where))

    for concurrency, latency_s, goal in ((16, 0.5, 0.95), (64, 0.5, 0.9), (256, 5.0, 0.9)):
        row = judged(concurrency, latency_s)
        if row is not None:
            value = row["system"]["of_limit"]
            add(
                f"makespan vs limit, C={concurrency}",
                value,
                f">= {goal}",
                value >= goal,
                row["scenario"]["name"],
            )
    row = judged(64, 0.5)
    if row is not None:
        value = row["system"]["portraits_per_s"] / row["baseline"]["portraits_per_s"]
        add("throughput vs baseline, C=64", value, ">= 1.1x", value >= 1.1, row["scenario"]["name"])
    row = judged(JUDGED_AT.concurrency, JUDGED_AT.latency_s)
    if row is not None:
        value = row["system"]["cpu_ms_per_portrait"]
        add("CPU per portrait (ms)", value, "<= 3", value <= 3, row["scenario"]["name"])
        value = row["system"]["overhead_median_ms"]
        add("overhead median (ms)", value, "<= 5", value <= 5, row["scenario"]["name"])
    creation = results["story_creation"]
    value = creation["system_vs_raw_create"]
    add("story creation vs raw inserts", value, ">= 0.5x", value >= 0.5, "SQLite")
    big = results["memory"]["big_image"]
    value = big["peak_delta_mb"]
    add(f"peak RSS added by a {big['image_mb']} MB image (MB)", value, "< 8", value < 8, "")
    grown = results["memory"]["growth"]
    value = grown["growth_mb"]
    add(
        f"RSS growth over {grown['portraits']:,} portraits (MB)",
        value,
        "< 50",
        value < 50,
        f"C={grown['concurrency']} L={grown['latency_s']:g}s",
    )
    return found


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [
        f"Vignette benchmark, {results['mode']} mode: {m['nproc']} CPUs ({m['cpu_model']}), "
        f"Python {m['python']}, {m['when']}",
        f"Other processes used {results['other_processes_cpu_share']:.0%} of the CPUs "
        "during the run"
        + (
            " << WARNING: the run shared the cores; its figures are skewed"
            if results["other_processes_cpu_share"] > 0.05
            else ""
        ),
        "",
        "Makespan for N portraits (limit = ceil(N/C) x L; 'of limit' = limit / makespan)",
    ]
    rows = []
    for row in results["scenarios"]:
        s, system, base = row["scenario"], row["system"], row["baseline"]
        rows.append(
            [
                row["scenario"]["name"],
                str(s["portraits"]),
                f"{s['limit_s']:.2f}",
                f"{system['makespan_s']:.2f}",
                f"{system['of_limit']:.3f}",
                f"{base['makespan_s']:.2f}",
                f"{base['of_limit']:.3f}",
                f"{system['portraits_per_s'] / base['portraits_per_s']:.2f}x",
                f"{system['cpu_ms_per_portrait']:.2f}",
                f"{base['cpu_ms_per_portrait']:.2f}",
                f"{system['fake_cpu_ms_per_portrait']:.2f}",
                f"{system['overhead_median_ms']:.1f}",
                f"{system['overhead_p99_ms']:.1f}",
            ]
        )
    out.append(
        _table(
            [
                "scenario",
                "N",
                "limit s",
                "system s",
                "of limit",
                "baseline s",
                "of limit",
                "sys/base",
                "CPU ms/p",
                "base CPU",
                "fake CPU",
                "ovh med ms",
                "ovh p99 ms",
            ],
            rows,
        )
    )
    out += ["", "CPU ms per portrait by thread kind (each thread's own CPU clock):"]
    for row in results["scenarios"]:
        portraits = row["scenario"]["portraits"]
        shares = ", ".join(
            f"{kind} {seconds / portraits * 1000:.2f}"
            for kind, seconds in row["system"]["cpu_by_thread_s"].items()
            if seconds / portraits >= 0.00001
        )
        out.append(f"  {row['scenario']['name']:>11}: {shares}")
    f = results["floors"]
    out += [
        "",
        "Floors, CPU ms per call, same run: "
        f"httpx POST + GET of {f['image_bytes'] / MB:.2f} MB {f['httpx_post_get_cpu_ms']:.2f} "
        f"(POST alone {f['httpx_post_cpu_ms']:.2f}); Pillow check {f['check_cpu_ms']:.2f}; "
        f"sha256 {f['sha256_cpu_ms']:.2f}; write+fsync+check+rename "
        f"{f['store_with_check_cpu_ms']:.2f} CPU / {f['store_with_check_wall_ms']:.2f} wall",
    ]
    c = results["story_creation"]
    out += [
        "Story creation on SQLite: "
        f"submit_story {c['system_per_s']:.0f}/s ({c['system_cpu_ms_per_story']:.2f} ms CPU); "
        f"StoryRow.create {c['raw_create_per_s']:.0f}/s; insert_many "
        f"{c['raw_insert_many_per_s']:.0f}/s; ratio {c['system_vs_raw_create']:.2f}",
    ]
    big, parts, grown = (results["memory"][k] for k in ("big_image", "parts", "growth"))
    out += [
        f"Peak RSS for one {big['image_mb']} MB image: +{big['peak_delta_mb']:.1f} MB "
        f"(streamed download alone +{parts['download_delta_mb']:.1f} MB, Pillow check "
        f"+{parts['check_delta_mb']:.1f} MB)",
        f"RSS over {grown['portraits']:,} portraits (C={grown['concurrency']}, "
        f"L={grown['latency_s']:g} s, {grown['seconds']:.0f} s): {grown['start_rss_mb']:.0f} -> "
        f"{grown['end_rss_mb']:.0f} MB ({grown['growth_mb']:+.1f} MB)",
        "",
        "Targets",
    ]
    out.append(
        _table(
            ["target", "value", "goal", "result", "where"],
            [
                [t.name, f"{t.value:.3g}", t.goal, "PASS" if t.passed else "MISS", t.where]
                for t in (Target(**t) for t in results["targets"])
            ],
        )
    )
    return "\n".join(out)


# Main -----------------------------------------------------------------------------------


def run(
    mode: Mode,
    only: set[str] | None,
    out_dir: Path,
    baseline: bool = True,
    profile: str | None = None,
    wait: str = "portrait",
) -> dict[str, Any]:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / f"{stamp}.log"
    configure_logging(log)
    results: dict[str, Any] = {
        "mode": mode.name,
        "machine": machine(),
        "waited_with": wait,
        "scenarios": [],
    }
    wanted = [s for s in mode.scenarios if only is None or s.name in only or "all" in only]
    others = OtherLoad()
    with (
        FakeRecraftProcess(big_mb=mode.big_mb) as fake,
        tempfile.TemporaryDirectory(prefix="vignette-bench-") as work_dir,
    ):
        work = Path(work_dir)
        # Warm-up, not recorded: imports, Pillow's plugins, the first SQLite files.
        run_system(fake, Scenario(4, 0.0, 8), work)
        for scenario in wanted:
            print(f"  {scenario.name}, N={scenario.portraits} ...", file=sys.stderr, flush=True)
            spy_output = None
            if profile is not None:
                spy_output = out_dir / f"{stamp}-c{scenario.concurrency}-{profile}.pyspy.txt"
            system = run_system(fake, scenario, work, spy_output, profile == "gil", wait)
            scenario_row = {**asdict(scenario), "name": scenario.name, "limit_s": scenario.limit_s}
            results["scenarios"].append(
                {
                    "scenario": scenario_row,
                    "system": system,
                    "baseline": run_baseline(fake, scenario, work) if baseline else None,
                }
            )
        if only is not None and "all" not in only:
            return results
        print("  floors, story creation, memory ...", file=sys.stderr, flush=True)
        results["floors"] = floors(fake, mode.floor_repeats, work)
        results["story_creation"] = story_creation(fake, mode.creation_stories, work)
        fake.prepare_big()
        results["memory"] = {
            "big_image": memory_child("big", fake, log, "--big-mb", str(mode.big_mb)),
            "parts": memory_child("parts", fake, log),
            "growth": memory_child(
                "growth",
                fake,
                log,
                "--portraits",
                str(mode.growth_portraits),
                "--concurrency",
                str(mode.growth_concurrency),
                "--latency",
                str(mode.growth_latency_s),
            ),
        }
        results["fake"] = fake.stats()
    results["other_processes_cpu_share"] = others.share()
    results["targets"] = [asdict(t) for t in targets(results)]
    path = out_dir / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    results["json_path"] = str(path)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_const", dest="mode", const="full")
    size.add_argument("--quick", action="store_const", dest="mode", const="quick")
    size.add_argument("--smoke", action="store_const", dest="mode", const="smoke")
    parser.add_argument(
        "--only",
        help="run only these scenarios, comma-separated names such as 'C=64 L=0.5s' "
        "(for profiling); skips the other measurements and the targets",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="with --only: skip the baseline (profiling)"
    )
    parser.add_argument(
        "--pyspy",
        choices=["cpu", "gil"],
        help="sample each system scenario with py-spy (every running thread, or only the one "
        "holding the GIL) into <out-dir>/<stamp>-c<C>.pyspy.txt; read them with "
        "`python -m bench.pyspy_summary`",
    )
    parser.add_argument(
        "--wait",
        choices=["portrait", "poll"],
        default="portrait",
        help="how the harness waits for portraits: wait_for_portrait on each (the default), "
        "or count_by_status every 20 ms (shows what waiting costs)",
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    mode = MODES[args.mode or "full"]
    only = None if args.only is None else {name.strip() for name in args.only.split(",")}
    started = time.perf_counter()
    results = run(
        mode,
        only,
        args.out_dir,
        baseline=not args.no_baseline,
        profile=args.pyspy,
        wait=args.wait,
    )
    if only is not None and "all" not in only:
        print(json.dumps(results["scenarios"], indent=2))
        return
    print(report(results))
    print(f"\nWrote {results['json_path']} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
