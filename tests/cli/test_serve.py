"""`serve` as a process: signals stop it cleanly, a second one at once, and it
resumes pending portraits on start."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable

import pytest

from tests.cli.harness import (
    API_KEY,
    POSIX_ONLY,
    RUNNER,
    Cli,
    FakeRecraftProcess,
    Running,
)

pytestmark = POSIX_ONLY

# The grace period a first signal waits out for in-flight portraits.
GRACE_S = 50


def start_serve(
    cli: Cli,
    processes: Callable[..., Running],
    key: str | None = None,
    command: tuple[str, ...] = ("serve",),
) -> Running:
    running = processes(
        [sys.executable, str(RUNNER), *command, "--config", str(cli.config)],
        env=cli.environment(key, None),
    )
    running.stderr.wait_for("Vignette is running")
    return running


def finish(running: Running, timeout: float = 30.0) -> tuple[int, str]:
    """Wait for the child to end; its return code and the rest of its stderr."""
    code = running.proc.wait(timeout=timeout)
    return code, running.stderr.read_to_end()


@pytest.mark.parametrize(
    ("signum", "command"),
    [(signal.SIGTERM, ("serve",)), (signal.SIGINT, ("serve",)), (signal.SIGTERM, ())],
    ids=["SIGTERM", "SIGINT", "serve-is-the-default-command"],
)
def test_serve_stops_cleanly_on_a_signal(
    cli: Cli, processes: Callable[..., Running], signum: signal.Signals, command: tuple[str, ...]
) -> None:
    running = start_serve(cli, processes, command=command)

    running.proc.send_signal(signum)
    code, stderr = finish(running)

    assert code == 0, stderr
    assert f"{signum.name}: stopping" in stderr
    assert any(line.rstrip().endswith("stopped") for line in stderr.splitlines()), stderr
    assert "Traceback" not in stderr


def test_serve_resumes_a_pending_portrait_on_start(
    cli: Cli, processes: Callable[..., Running], fake_recraft: FakeRecraftProcess
) -> None:
    cli.use_recraft(fake_recraft.base_url)
    story_id = cli.add_pending_story()

    running = start_serve(cli, processes, key=API_KEY)
    running.stderr.wait_for("portrait stored")
    running.proc.send_signal(signal.SIGTERM)
    code, stderr = finish(running)

    assert code == 0, stderr
    assert cli.portrait_status(story_id) == "stored"
    assert fake_recraft.calls() == 1
    assert API_KEY not in stderr + running.stdout.read_to_end()


def test_a_second_sigint_stops_serve_at_once_while_a_portrait_is_in_flight(
    cli: Cli,
    processes: Callable[..., Running],
    start_fake_recraft: Callable[..., FakeRecraftProcess],
) -> None:
    slow = start_fake_recraft(latency=60)
    cli.write_config(
        recraft={"base_url": slow.base_url},
        portraits={"allow_insecure_urls": True, "shutdown_grace_s": GRACE_S},
    )
    story_id = cli.add_pending_story()
    running = start_serve(cli, processes, key=API_KEY)
    # The supervisor claims pending portraits before the system reports it is running.
    assert cli.portrait_status(story_id) == "generating"

    running.proc.send_signal(signal.SIGINT)
    running.stderr.wait_for("SIGINT: stopping after in-flight portraits")
    # The first signal waits out the grace period for the in-flight portrait ...
    assert running.proc.poll() is None
    started = time.monotonic()
    running.proc.send_signal(signal.SIGINT)
    # Well inside the 50 s grace, with room for a machine whose cores are busy elsewhere.
    code, stderr = finish(running, timeout=GRACE_S / 2)

    # ... the second one does not.
    assert code == 130, stderr
    assert time.monotonic() - started < GRACE_S / 2
    assert "second SIGINT: stopping now" in stderr
    assert cli.portrait_status(story_id) == "generating"
