"""What the benchmarks share: the fake Recraft process, settings, logging, CPU and memory."""

from __future__ import annotations

import logging
import math
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from loguru import logger

from vignette.config import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
API_KEY = "rk-bench-not-a-real-key-0000"
# Far above any benchmark's rate: the limiter never holds a portrait back.
NO_RATE_LIMIT = 100_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class FakeRecraftProcess:
    """`bench.fake_recraft` in a process of its own, so its CPU is not the system's."""

    def __init__(self, big_mb: int = 40) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_recraft", "--big-mb", str(big_mb)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.origin = self._process.stdout.readline().strip()
        if not self.origin.startswith("http://"):
            self.close()
            raise RuntimeError(f"the fake Recraft server did not start: {self.origin!r}")
        self._http = httpx.Client(timeout=300)

    def base_url(self, kind: str, latency_s: float) -> str:
        """`recraft.base_url` for images of `kind` (u, s or big) after `latency_s`."""
        return f"{self.origin}/{kind}/{latency_s:g}/v1"

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._http.get(f"{self.origin}/_stats").json()
        return stats

    def prepare_big(self) -> None:
        self._http.post(f"{self.origin}/_prepare_big").raise_for_status()

    def close(self) -> None:
        if hasattr(self, "_http"):
            self._http.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def bench_settings(
    root: Path, base_url: str, concurrency: int, overrides: Mapping[str, str] | None = None
) -> Settings:
    """Settings on a SQLite file and a storage folder under `root`, against the fake."""
    env = {
        "VIGNETTE_DATABASE__URL": f"sqlite:///{root / 'vignette.sqlite3'}",
        "VIGNETTE_STORAGE__PATH": str(root / "files"),
        "VIGNETTE_RECRAFT__BASE_URL": base_url,
        "VIGNETTE_PORTRAITS__ALLOW_INSECURE_URLS": "true",
        "VIGNETTE_PORTRAITS__CONCURRENCY": str(concurrency),
        "VIGNETTE_PORTRAITS__RATE_LIMIT_PER_MINUTE": str(NO_RATE_LIMIT),
        "RECRAFT_API_KEY": API_KEY,
    }
    for key, value in (overrides or {}).items():
        env[f"VIGNETTE_{key.upper()}"] = value
    return load_settings(env=env)


def configure_logging(path: Path | None) -> None:
    """What the daemon does (INFO lines, no variable values in tracebacks), into a file.

    Every stored portrait logs one INFO line, so the cost of logging is part of the
    measured CPU, as it is in production; the lines go to `path`, not the terminal.
    """
    logger.remove()
    logger.enable("vignette")  # as the daemon does: the library disables it on import
    logging.getLogger("pykka").setLevel(logging.CRITICAL)  # as runner.configure_logging
    if path is not None:
        logger.add(path, level="INFO", diagnose=False, enqueue=False)


def process_cpu_s() -> float:
    """CPU seconds of every thread of this process, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of it and of its waited-for children)."""
    table: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        table[int(entry.name)] = (int(fields[1]), ticks / CLOCK_TICKS)
    return table


def _others_cpu_s() -> dict[int, float]:
    """CPU seconds of every user-space process outside this one and its descendants.

    Kernel threads (children of kthreadd, pid 2) are left out: the fsyncs and loopback
    traffic of the benchmark itself are partly done there.
    """
    table = _process_table()
    me = os.getpid()

    def ours(pid: int) -> bool:
        for _ in range(64):
            if pid == me:
                return True
            if pid <= 2 or pid not in table:
                return False
            pid = table[pid][0]
        return False

    return {
        pid: cpu
        for pid, (parent, cpu) in table.items()
        if pid != 2 and parent != 2 and not ours(pid)
    }


class OtherLoad:
    """How much CPU other processes used while a benchmark ran: they skew every figure."""

    def __init__(self) -> None:
        self._before, self._wall = _others_cpu_s(), time.monotonic()

    def share(self) -> float:
        """Other processes' CPU seconds over the machine's CPU seconds since then."""
        # A process that ended was waited for by its parent, whose children's CPU now holds
        # all of its CPU: subtracting what it had before counts only what it spent since.
        spent = sum(_others_cpu_s().values()) - sum(self._before.values())
        available = (time.monotonic() - self._wall) * (os.cpu_count() or 1)
        return max(0.0, spent) / available


def rss_bytes() -> int:
    """Resident set size now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss() -> None:
    """Start the peak RSS (VmHWM) afresh from the current RSS (Linux 4.0 and later).

    Not `ru_maxrss`: a child started from a big parent inherits the parent's peak through
    fork and exec, which hides anything smaller (seen here: 297 MB in a 62 MB child).
    """
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def peak_rss_bytes() -> int:
    """The peak RSS since the process started or `reset_peak_rss` was last called."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _thread_kind(name: str) -> str:
    match = re.match(r"[A-Za-z_]+", name)
    kind = match.group(0) if match else name
    return "timer and pool threads" if kind == "Thread" else kind


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of each live thread, by thread id, with its kind (PortraitActor, ...).

    Read from each thread's own CPU clock (`pthread_getcpuclockid`), to the microsecond.
    """
    times = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            clock = time.pthread_getcpuclockid(thread.ident)
            times[thread.ident] = (_thread_kind(thread.name), time.clock_gettime(clock))
        except (OSError, ProcessLookupError):
            continue  # ended meanwhile
    return times


def cpu_by_thread_kind(
    before: Mapping[int, tuple[str, float]], after: Mapping[int, tuple[str, float]], total_s: float
) -> dict[str, float]:
    """CPU seconds spent between two `thread_cpu` snapshots, by kind, largest first.

    Threads that ended between the two are not in `after`: their time, and that of threads
    started and ended in between, is `unattributed` (the rest of the process's total).
    """
    spent: dict[str, float] = {}
    for ident, (kind, seconds) in after.items():
        spent[kind] = spent.get(kind, 0.0) + seconds - before.get(ident, (kind, 0.0))[1]
    spent = {kind: seconds for kind, seconds in spent.items() if seconds > 0}
    spent["unattributed"] = max(0.0, total_s - sum(spent.values()))
    return dict(sorted(spent.items(), key=lambda item: -item[1]))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def story_fields(number: int, prompt: str | None = None) -> dict[str, str]:
    """A submitted story of realistic size (a title, a body of about 1 KB, a prompt)."""
    body = (
        f"Patient {number} is a 54-year-old retired teacher who came in after three days of "
        "worsening breathlessness on exertion, a dry cough at night and swollen ankles. "
        "She lives alone, walks her dog every morning and worries most about her garden. "
    ) * 4
    return {
        "title": f"Bench story {number}",
        "body": body,
        "image_generation_prompt": prompt
        or f"A warm, realistic portrait of patient {number}, a retired teacher, soft light",
    }
