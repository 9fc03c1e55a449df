"""Fixtures for the command line: child processes reaped at teardown, a `Cli` on
tmp_path, and the fake Recraft server as a subprocess."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.harness import (
    REPO_ROOT,
    Cli,
    FakeRecraftProcess,
    Running,
    clean_environment,
)


@pytest.fixture
def processes() -> Iterator[Callable[..., Running]]:
    """Start child processes; any still running at teardown is killed and reaped."""
    started: list[subprocess.Popen[str]] = []

    def start(args: list[str], **kwargs: Any) -> Running:
        proc = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )
        started.append(proc)
        return Running(proc)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    made = Cli(
        tmp_path=tmp_path,
        config=tmp_path / "vignette.toml",
        database=tmp_path / "db" / "vignette.sqlite3",
        storage=tmp_path / "files",
        env=clean_environment(),
    )
    made.write_config()
    return made


@pytest.fixture
def start_fake_recraft(
    processes: Callable[..., Running],
) -> Callable[..., FakeRecraftProcess]:
    """The fake Recraft server as a subprocess, answering after `latency` seconds."""

    def start(latency: float = 0.2) -> FakeRecraftProcess:
        argv = [sys.executable, "-m", "tests.fakes.recraft_server", "--port", "0"]
        running = processes([*argv, "--latency", str(latency)], env=clean_environment())
        base_url = running.stdout.wait_for("http://").strip()
        return FakeRecraftProcess(base_url, base_url.removesuffix("/v1"))

    return start


@pytest.fixture
def fake_recraft(start_fake_recraft: Callable[..., FakeRecraftProcess]) -> FakeRecraftProcess:
    return start_fake_recraft()
