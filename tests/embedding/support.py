"""Running a host app as a subprocess: a fresh interpreter, Vignette's settings in its
environment and nothing else of Vignette's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOSTS = Path(__file__).resolve().parent / "hosts"


def host_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment without Vignette's settings and keys, on a SQLite file in tmp_path."""
    dropped = {"RECRAFT_API_KEY", "OPENAI_API_KEY", "LOGURU_LEVEL"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith("VIGNETTE_")
    }
    return env | {
        "VIGNETTE_DATABASE__URL": f"sqlite:///{tmp_path / 'host.sqlite3'}",
        "VIGNETTE_STORAGE__PATH": str(tmp_path / "files"),
        "PYTHONPATH": str(REPO),
        **extra,
    }


def run_host(
    script: str, tmp_path: Path, timeout: float = 60, argv: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    """Run tests/embedding/hosts/<script> in tmp_path; wait at most `timeout` seconds."""
    return subprocess.run(
        [sys.executable, str(HOSTS / script), *argv],
        cwd=tmp_path,
        env=host_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
