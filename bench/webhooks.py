"""Webhook delivery: events per second, and how long after a portrait settles its event
reaches the receiver.

    .venv/bin/python -m bench.webhooks            # 1,000 portraits
    .venv/bin/python -m bench.webhooks --quick    # 200

Portraits are made by the fake Recraft (its own process, no latency) at C = 4 on SQLite;
every settle writes a `portrait.stored` event into the outbox in its transaction, and the
dispatcher sends it to a receiver in this process (`http.server`, verifying each signature
with `standardwebhooks`). The clock runs from the first `submit_story` until the receiver
has every event; the delay of one event is from its story's `updated_at` (the settle) to
the receiver reading it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/webhooks.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from standardwebhooks import Webhook

from bench.common import (
    RESULTS,
    FakeRecraftProcess,
    OtherLoad,
    bench_settings,
    configure_logging,
    machine,
    percentile,
    process_cpu_s,
    story_fields,
)
from vignette.system.facade import StorySystem
from vignette.webhooks.signing import new_secret


class Receiver(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def __init__(self, secret: str) -> None:
        self.hook = Webhook(secret)
        self.arrived: dict[str, float] = {}  # story id -> Unix time read
        self.invalid = 0
        self.requests = 0
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = time.time()
        try:
            event = self.server.hook.verify(body, dict(self.headers.items()))
        except Exception:  # noqa: BLE001 - counted, never raised into the server
            event = None
        with self.server.lock:
            self.server.requests += 1
            if event is None:
                self.server.invalid += 1
            else:
                self.server.arrived.setdefault(event["data"]["story_id"], now)
            self.server.done.notify_all()
        self.send_response(200 if event is not None else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()


def measure(stories: int, work: Path, recraft: FakeRecraftProcess) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="webhooks-", dir=work))
    secret = new_secret()
    receiver = Receiver(secret)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"
    try:
        settings = bench_settings(
            root,
            recraft.base_url("u", 0),
            4,
            {
                "webhooks__url": url,
                "webhooks__allow_insecure_urls": "true",
                "webhook_secret": secret,
            },
        )
        with StorySystem.start(settings) as system:
            cpu_before, started = process_cpu_s(), time.perf_counter()
            ids = [system.submit_story(**story_fields(n)).id for n in range(stories)]
            with receiver.done:
                receiver.done.wait_for(lambda: len(receiver.arrived) >= stories, timeout=600)
            elapsed, cpu = time.perf_counter() - started, process_cpu_s() - cpu_before
            settled = {i: system.get_story(i) for i in ids}
    finally:
        receiver.shutdown()
        receiver.server_close()
        shutil.rmtree(root, ignore_errors=True)
    delays = [
        receiver.arrived[i] - story.updated_at.astimezone(UTC).timestamp()
        for i, story in settled.items()
        if story is not None and i in receiver.arrived
    ]
    return {
        "stories": stories,
        "delivered": len(receiver.arrived),
        "requests": receiver.requests,
        "invalid_signatures": receiver.invalid,
        "seconds": elapsed,
        "events_per_s": len(receiver.arrived) / elapsed,
        "cpu_ms_per_portrait_and_event": cpu / stories * 1000,
        "delay_ms_p50": percentile(delays, 0.5) * 1000,
        "delay_ms_p95": percentile(delays, 0.95) * 1000,
        "delay_ms_max": max(delays) * 1000 if delays else float("nan"),
        "when": datetime.now(UTC).isoformat(),
    }


def baseline(stories: int, work: Path, recraft: FakeRecraftProcess) -> dict[str, Any]:
    """The same portraits with webhooks off: what the events add."""
    root = Path(tempfile.mkdtemp(prefix="no-webhooks-", dir=work))
    try:
        settings = bench_settings(root, recraft.base_url("u", 0), 4)
        with StorySystem.start(settings) as system:
            cpu_before, started = process_cpu_s(), time.perf_counter()
            ids = [system.submit_story(**story_fields(n)).id for n in range(stories)]
            for story_id in ids:
                system.wait_for_portrait(story_id, timeout=600)
            elapsed, cpu = time.perf_counter() - started, process_cpu_s() - cpu_before
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "seconds": elapsed,
        "portraits_per_s": stories / elapsed,
        "cpu_ms_per_portrait": cpu / stories * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_const", dest="stories", const=200)
    parser.add_argument("--stories", type=int, dest="stories")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(args.out_dir / f"{stamp}-webhooks.log")
    others = OtherLoad()
    with (
        tempfile.TemporaryDirectory(prefix="vignette-webhooks-") as work,
        FakeRecraftProcess() as recraft,
    ):
        run = measure(args.stories or 1_000, Path(work), recraft)
        base = baseline(args.stories or 1_000, Path(work), recraft)
    results = {
        "machine": machine(),
        "run": run,
        "without_webhooks": base,
        "other_processes_cpu_share": others.share(),
    }
    path = args.out_dir / f"{stamp}-webhooks.json"
    path.write_text(json.dumps(results, indent=2))
    print("Webhook delivery (C = 4, SQLite, fake Recraft without latency, local receiver)")
    print(
        f"{run['delivered']} of {run['stories']} events delivered in {run['seconds']:.2f} s "
        f"({run['events_per_s']:.0f}/s), {run['requests']} requests, "
        f"{run['invalid_signatures']} invalid signatures"
    )
    print(
        f"settle to receiver: p50 {run['delay_ms_p50']:.1f} ms, p95 {run['delay_ms_p95']:.1f} ms,"
        f" max {run['delay_ms_max']:.1f} ms; CPU {run['cpu_ms_per_portrait_and_event']:.1f} ms "
        "per portrait and its event"
    )
    print(
        f"without webhooks: {base['portraits_per_s']:.0f} portraits/s, CPU "
        f"{base['cpu_ms_per_portrait']:.1f} ms per portrait"
    )
    print(f"Other processes used {results['other_processes_cpu_share']:.0%} of the CPUs meanwhile")
    print(f"\nWrote {path}")


if __name__ == "__main__":
    main()
