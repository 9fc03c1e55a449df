"""`python runner.py serve` as a user meets it: a subprocess that answers HTTP on its URL.

Output is read line by line with a deadline (tests/cli/harness.py's LineReader); no test
sleeps.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.harness import REPO_ROOT, RUNNER, LineReader, clean_environment

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "vignette.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "vignette.sqlite3"}"\n'
        f'[storage]\npath = "{tmp_path / "files"}"\n'
        "[server]\nport = 0\n"
    )
    return path


@pytest.fixture
def serve(config: Path) -> Iterator[Any]:
    """Start `runner.py serve`; yield (process, stderr reader); kill it if still running."""
    started: list[subprocess.Popen[str]] = []

    def start(env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], LineReader]:
        proc = subprocess.Popen(
            [sys.executable, str(RUNNER), "serve", "--config", str(config)],
            cwd=REPO_ROOT,
            env={**clean_environment(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stderr is not None
        return proc, LineReader(proc.stderr)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def call(url: str, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_serve_logs_its_url_answers_the_api_there_and_stops_on_sigterm(serve: Any) -> None:
    proc, stderr = serve()

    line = stderr.wait_for("Vignette is running at http://127.0.0.1:")
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match is not None
    url = match.group(0)
    assert int(match.group(1)) > 0  # the port the OS gave for server.port = 0

    assert call(f"{url}/healthz")[0] == 200
    status, story = call(f"{url}/api/stories/generate", method="POST")
    assert status == 201
    assert call(f"{url}/api/stories")[1]["stories"][0]["id"] == story["id"]

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    rest = stderr.read_to_end()
    assert "SIGTERM: stopping after in-flight portraits" in rest
    assert "Traceback" not in "".join(stderr.lines)
    with pytest.raises(urllib.error.URLError):
        call(f"{url}/healthz")


def test_serve_on_a_port_in_use_exits_1_with_a_line_naming_it(serve: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc, stderr = serve({"VIGNETTE_SERVER__PORT": str(port)})

        assert proc.wait(timeout=30) == 1
    output = stderr.read_to_end()
    assert f"could not serve HTTP on 127.0.0.1:{port}" in output
    assert "address already in use" in output
    assert "Traceback" not in output
