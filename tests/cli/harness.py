"""Running the command line as a user meets it: `runner.py` as a subprocess.

Each run uses a SQLite database and a storage folder under tmp_path, configured through a
`--config` TOML file and `VIGNETTE_*` variables, with an environment stripped of the
caller's `RECRAFT_API_KEY` and `VIGNETTE_*`. Portraits are made by the fake Recraft
server, itself a subprocess. Every wait is bounded; nothing sleeps: output is read line
by line by a thread, with a deadline. The fixtures are in conftest.py.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from vignette.models import StoryRow, open_database

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNNER = REPO_ROOT / "runner.py"
# The ways to start the program, as `Cli.run`'s `program`.
FROM_CHECKOUT = (sys.executable, str(RUNNER))
AS_MODULE = (sys.executable, "-m", "vignette")
CONSOLE_SCRIPT = Path(sys.executable).parent / "vignette"
API_KEY = "rk-cli-secret-5e1d9b7a3c"
STATES = ("pending", "generating", "stored", "failed", "skipped")
RUN_TIMEOUT_S = 60.0
LINE_TIMEOUT_S = 20.0

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pipes")


# Output read with a deadline -------------------------------------------------------------


class LineReader:
    """Drains a pipe on a thread, so the child never blocks; lines are waited for."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._queue.put(line)
        finally:
            self._queue.put(None)

    def _next(self, deadline: float) -> str | None:
        """The next line, None at end of stream; AssertionError past the deadline."""
        remaining = deadline - time.monotonic()
        try:
            line = self._queue.get(timeout=max(remaining, 0.0))
        except queue.Empty:
            raise AssertionError(
                "timed out waiting for output; so far:\n" + "".join(self.lines)
            ) from None
        if line is None:
            self._closed = True
        else:
            self.lines.append(line)
        return line

    def wait_for(self, text: str, timeout: float = LINE_TIMEOUT_S) -> str:
        """The first line from now on containing `text`."""
        deadline = time.monotonic() + timeout
        while not self._closed:
            line = self._next(deadline)
            if line is not None and text in line:
                return line
        raise AssertionError(
            f"output ended without a line containing {text!r}:\n" + "".join(self.lines)
        )

    def read_to_end(self, timeout: float = LINE_TIMEOUT_S) -> str:
        """Everything, once the stream has closed."""
        deadline = time.monotonic() + timeout
        while not self._closed:
            self._next(deadline)
        self._thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        return "".join(self.lines)


@dataclass
class Running:
    """A child process whose stdout and stderr are being drained."""

    proc: subprocess.Popen[str]
    stdout: LineReader = field(init=False)
    stderr: LineReader = field(init=False)

    def __post_init__(self) -> None:
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self.stdout = LineReader(self.proc.stdout)
        self.stderr = LineReader(self.proc.stderr)


# The program's environment ---------------------------------------------------------------


def clean_environment() -> dict[str, str]:
    """The caller's environment minus secrets, `VIGNETTE_*` and what changes rich's output."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("RECRAFT_API_KEY", "OPENAI_API_KEY", "FORCE_COLOR", "COLUMNS")
        and not name.startswith("VIGNETTE_")
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_COLOR"] = "1"
    return env


@dataclass
class Cli:
    """`runner.py` on a database and storage under tmp_path, through a `--config` file."""

    tmp_path: Path
    config: Path
    database: Path
    storage: Path
    env: dict[str, str]

    def write_config(self, **sections: dict[str, Any]) -> None:
        """(Re)write the config file: database and storage, plus the given sections."""
        tables: dict[str, dict[str, Any]] = {
            "database": {"url": f"sqlite:///{self.database}"},
            "storage": {"path": str(self.storage)},
            "server": {"port": 0},
        }
        for name, values in sections.items():
            tables.setdefault(name, {}).update(values)
        lines = []
        for name, values in tables.items():
            lines.append(f"[{name}]")
            lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
        self.config.write_text("\n".join(lines) + "\n")

    def use_recraft(self, base_url: str) -> None:
        self.write_config(recraft={"base_url": base_url}, portraits={"allow_insecure_urls": True})

    def environment(self, key: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        env = dict(self.env)
        if key is not None:
            env["RECRAFT_API_KEY"] = key
        env.update(extra or {})
        return env

    def run(
        self,
        *args: str,
        key: str | None = None,
        env: dict[str, str] | None = None,
        config: bool = True,
        timeout: float = RUN_TIMEOUT_S,
        program: tuple[str, ...] = FROM_CHECKOUT,
    ) -> subprocess.CompletedProcess[str]:
        argv = [*program, *args]
        if config:
            argv += ["--config", str(self.config)]
        return subprocess.run(
            argv,
            cwd=REPO_ROOT,
            env=self.environment(key, env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def status_counts(self) -> dict[str, int]:
        """`status`, parsed: stories per portrait state (and the total)."""
        result = self.run("status")
        assert result.returncode == 0, result.stderr
        return table_counts(result.stdout)

    def add_pending_story(self) -> str:
        """A story whose portrait is scheduled but not begun, written straight to the table."""
        db = open_database(f"sqlite:///{self.database}")
        try:
            row = StoryRow.create(
                id=uuid.uuid4().hex,
                title="A pending story",
                body="Written before any portrait work ran.",
                image_generation_prompt="a calm portrait of a patient by a window",
                portrait_status="pending",
            )
            return str(row.id)
        finally:
            db.close()

    def portrait_status(self, story_id: str) -> str:
        db = open_database(f"sqlite:///{self.database}")
        try:
            return str(StoryRow.get_by_id(story_id).portrait_status)
        finally:
            db.close()


def table_counts(text: str) -> dict[str, int]:
    """Rows of rich tables as {first cell: last cell} where the last cell is a number."""
    counts = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("│|┃ ").replace("┃", "│").split("│")]
        if len(cells) >= 2 and cells[-1].isdigit():
            counts[cells[0]] = int(cells[-1])
    return counts


@dataclass
class FakeRecraftProcess:
    base_url: str
    origin: str

    def calls(self) -> int:
        with urllib.request.urlopen(f"{self.origin}/_stats", timeout=10) as answer:
            return int(json.load(answer)["calls"])


def lines_with(text: str, output: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]
