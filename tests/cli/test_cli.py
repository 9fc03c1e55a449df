"""The command line as a user meets it: `runner.py` run as a subprocess.

Every test runs the real program against a SQLite database and a storage folder under
tmp_path, configured through a `--config` TOML file and `VIGNETTE_*` variables, with an
environment stripped of the caller's `RECRAFT_API_KEY` and `VIGNETTE_*`. Portraits are
made by the fake Recraft server, itself a subprocess. Every wait is bounded; no test
sleeps: output is read line by line by a thread, with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from tests.fakes.openai_server import OpenAIServer
from vignette.models import StoryRow, open_database

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNNER = REPO_ROOT / "runner.py"
API_KEY = "rk-cli-secret-5e1d9b7a3c"
STATES = ("pending", "generating", "stored", "failed", "skipped")
RUN_TIMEOUT_S = 60.0
LINE_TIMEOUT_S = 20.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pipes")


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
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, str(RUNNER), *args]
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


@dataclass
class FakeRecraftProcess:
    base_url: str
    origin: str

    def calls(self) -> int:
        with urllib.request.urlopen(f"{self.origin}/_stats", timeout=10) as answer:
            return int(json.load(answer)["calls"])


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


def lines_with(text: str, output: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


# generate ---------------------------------------------------------------------------------


def test_generate_without_an_api_key_fails_every_portrait_with_one_clear_line(cli: Cli) -> None:
    result = cli.run("generate", "-n", "5")

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "5 portraits: 5 failed (missing_api_key: 5)" in result.stderr
    advice = lines_with("5 portraits failed with missing_api_key", result.stderr)
    assert len(advice) == 1, result.stderr
    assert "RECRAFT_API_KEY is not set" in advice[0]
    assert "backfill --include-failed" in advice[0]

    counts = cli.status_counts()
    assert counts["failed"] == 5
    assert counts["missing_api_key"] == 5
    assert counts["total"] == 5


def test_generate_against_recraft_stores_every_portrait_and_never_shows_the_key(
    cli: Cli, fake_recraft: FakeRecraftProcess
) -> None:
    cli.use_recraft(fake_recraft.base_url)

    result = cli.run("generate", "-n", "3", key=API_KEY, env={"VIGNETTE_LOGGING__LEVEL": "DEBUG"})

    assert result.returncode == 0, result.stderr
    assert "3 portraits: 3 stored" in result.stderr
    assert fake_recraft.calls() == 3
    assert API_KEY not in result.stdout
    assert API_KEY not in result.stderr
    assert cli.status_counts()["stored"] == 3
    assert sum(1 for path in cli.storage.rglob("*") if path.is_file()) >= 1


def test_generate_refuses_a_count_below_one_before_starting_anything(cli: Cli) -> None:
    result = cli.run("generate", "-n", "0")

    assert result.returncode == 2
    assert "must be at least 1" in result.stderr
    assert not cli.database.exists()


def test_generate_refuses_a_topic_the_template_writer_does_not_know_before_starting(
    cli: Cli,
) -> None:
    result = cli.run("generate", "--topic", "astrology")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    line = lines_with("astrology", result.stderr)
    assert len(line) == 1, result.stderr
    assert "cardiology, general, neurology, paediatrics, respiratory" in line[0]
    assert not cli.database.exists()


def test_generate_with_the_openai_writer_takes_any_topic_and_reports_a_model_failure(
    cli: Cli,
) -> None:
    with OpenAIServer() as server:
        cli.write_config(stories={"writer": "openai", "base_url": server.base_url})

        written = cli.run("generate", "--topic", "sports medicine")
        server.fake.answers.append((500, "text/plain", b"model crashed"))
        failed = cli.run("generate", "--topic", "sports medicine")

    # The story was written by the model; its portrait fails only for want of a Recraft key.
    assert written.returncode == 1, written.stderr
    assert "1 portraits: 1 failed (missing_api_key: 1)" in written.stderr
    user_message = server.fake.requests[0].body["messages"][1]["content"]
    assert "Topic: sports medicine." in user_message
    # A failing model ends the command with one line naming the cause; nothing is stored.
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert len(lines_with("error: story model gpt-4o-mini at", failed.stderr)) == 1
    assert "answered 500: model crashed" in failed.stderr
    assert len(server.fake.requests) == 2
    assert cli.status_counts()["total"] == 1


# status -----------------------------------------------------------------------------------


def test_status_on_a_fresh_database_lists_every_state_at_zero(cli: Cli) -> None:
    result = cli.run("status")

    assert result.returncode == 0, result.stderr
    counts = table_counts(result.stdout)
    assert {state: counts.get(state) for state in STATES} == dict.fromkeys(STATES, 0)
    assert counts["total"] == 0


def test_status_counts_a_pending_story_and_starts_no_portrait_work(cli: Cli) -> None:
    # Without a key any portrait work would fail the story at once; it must stay pending.
    story_id = cli.add_pending_story()

    result = cli.run("status")

    assert result.returncode == 0, result.stderr
    counts = table_counts(result.stdout)
    assert counts["pending"] == 1
    assert counts["total"] == 1
    assert "RECRAFT_API_KEY" not in result.stderr
    assert cli.portrait_status(story_id) == "pending"


# backfill ---------------------------------------------------------------------------------


def test_backfill_retries_failed_portraits_only_when_asked_and_never_a_stored_one(
    cli: Cli, fake_recraft: FakeRecraftProcess
) -> None:
    assert cli.run("generate", "-n", "3").returncode == 1
    cli.use_recraft(fake_recraft.base_url)

    plain = cli.run("backfill", key=API_KEY)
    assert plain.returncode == 0, plain.stderr
    assert "Nothing to backfill" in plain.stderr
    assert fake_recraft.calls() == 0

    retried = cli.run("backfill", "--include-failed", key=API_KEY)
    assert retried.returncode == 0, retried.stderr
    assert "3 portraits: 3 stored" in retried.stderr
    assert fake_recraft.calls() == 3
    counts = cli.status_counts()
    assert counts["stored"] == 3
    assert counts["failed"] == 0

    for flags in ([], ["--include-failed"]):
        again = cli.run("backfill", *flags, key=API_KEY)
        assert again.returncode == 0, again.stderr
        assert "Nothing to backfill" in again.stderr
        assert API_KEY not in again.stderr
    assert fake_recraft.calls() == 3
    assert API_KEY not in plain.stderr + retried.stderr


def test_backfill_makes_the_portraits_of_pending_stories(
    cli: Cli, fake_recraft: FakeRecraftProcess
) -> None:
    cli.use_recraft(fake_recraft.base_url)
    ids = [cli.add_pending_story() for _ in range(2)]

    result = cli.run("backfill", key=API_KEY)

    assert result.returncode == 0, result.stderr
    assert "2 portraits: 2 stored" in result.stderr
    assert [cli.portrait_status(story_id) for story_id in ids] == ["stored", "stored"]
    assert fake_recraft.calls() == 2


# configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["status", "generate", "backfill", "serve"])
def test_a_bad_environment_value_stops_every_command_with_one_line(cli: Cli, command: str) -> None:
    result = cli.run(command, env={"VIGNETTE_PORTRAITS__CONCURRENCY": "0"}, timeout=30)

    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "portraits.concurrency" in lines[0]
    assert "0" in lines[0]
    assert "an integer from 1 to 1024" in lines[0]
    assert "Traceback" not in result.stderr
    assert not cli.database.exists()


def test_an_unknown_key_in_the_config_file_stops_with_one_line_naming_it(cli: Cli) -> None:
    cli.write_config(portraits={"concurency": 8})

    result = cli.run("status")

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "portraits.concurency" in lines[0]
    assert str(cli.config) in lines[0]
    assert "known:" in lines[0]
    assert "concurrency" in lines[0].split("known:")[1]
    assert "Traceback" not in result.stderr


def test_a_missing_config_file_stops_with_one_line_naming_it(cli: Cli) -> None:
    missing = cli.tmp_path / "nowhere.toml"

    result = cli.run("status", "--config", str(missing), config=False)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"configuration error: config file {missing} does not exist"
    ]


def test_the_config_file_may_come_before_the_command(cli: Cli) -> None:
    result = cli.run("--config", str(cli.config), "status", config=False)

    assert result.returncode == 0, result.stderr
    assert table_counts(result.stdout)["total"] == 0
    assert cli.database.exists()


def test_environment_variables_override_the_config_file(cli: Cli) -> None:
    elsewhere = cli.tmp_path / "elsewhere.sqlite3"

    result = cli.run("status", env={"VIGNETTE_DATABASE__URL": f"sqlite:///{elsewhere}"})

    assert result.returncode == 0, result.stderr
    assert elsewhere.exists()
    assert not cli.database.exists()


# help -------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["serve"], ["generate"], ["backfill"], ["status"]])
def test_help_explains_the_program_and_each_command_and_mentions_config(
    cli: Cli, command: list[str]
) -> None:
    result = cli.run(*command, "--help", config=False, timeout=30)

    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout
    assert "usage: runner.py" in result.stdout
    assert not cli.database.exists()


# serve ------------------------------------------------------------------------------------


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
        portraits={"allow_insecure_urls": True, "shutdown_grace_s": 50},
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
    code, stderr = finish(running, timeout=10)

    # ... the second one does not.
    assert code == 130, stderr
    assert time.monotonic() - started < 10
    assert "second SIGINT: stopping now" in stderr
    assert cli.portrait_status(story_id) == "generating"
