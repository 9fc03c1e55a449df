"""The wheel installs one top-level name, `vignette`, and embeds in a Django project.

Once for the module, the wheel is built from a copy of the repository and installed with
Django into a fresh venv from the package index; the tests then read the wheel, run Django's
`startproject config` and an embedding script inside that project, import Vignette beside a
host app's own `models`, `api` and `config`, and run the `vignette` console script. Without
the package index the module is skipped, except with CI=true, where it fails.
"""

from __future__ import annotations

import configparser
import csv
import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent
SHIPPED = (
    "vignette/config/default.toml",
    "vignette/config/story_prompt.md",
    "vignette/api/templates/gallery.html",
)
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".hypothesis", ".*_cache", "__pycache__", "*.egg-info", "build", "dist", "data"
)


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path  # the bin folder of the fresh venv the wheel and Django are installed into


def run(
    command: Sequence[str | Path], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without Vignette's settings and keys or a PYTHONPATH."""
    dropped = {"PYTHONPATH", "VIRTUAL_ENV", "RECRAFT_API_KEY", "OPENAI_API_KEY"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith("VIGNETTE_")
    }
    return env | extra


def pip(bin_dir: Path, *args: str | Path, cwd: Path) -> None:
    """Run the venv's pip; skip without the package index (outside CI), else fail on error."""
    result = run([bin_dir / "python", "-m", "pip", *args], cwd, clean_env())
    if result.returncode == 0:
        return
    if os.environ.get("CI") != "true":
        probe_args = ("index", "versions", "--no-cache-dir", "--retries", "0", "--timeout", "15")
        probe = run([bin_dir / "python", "-m", "pip", *probe_args, "pip"], cwd, clean_env())
        if probe.returncode != 0:
            last_line = probe.stderr.strip().splitlines()[-1:]
            pytest.skip(f"the package index is unreachable: {' '.join(last_line)}")
    pytest.fail(f"pip {args[0]} failed:\n{result.stdout}{result.stderr}")


def passed(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)
    passed(run([sys.executable, "-m", "venv", root / "venv"], root))
    bin_dir = root / "venv" / "bin"
    pip(bin_dir, "wheel", "--quiet", "--no-deps", "--wheel-dir", root / "dist", source, cwd=root)
    (wheel,) = (root / "dist").glob("vignette-*.whl")
    pip(bin_dir, "install", "--quiet", wheel, "django", cwd=root)
    return Installed(wheel, bin_dir)


def test_wheel_installs_only_the_vignette_package(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
        (dist_info,) = {name.split("/")[0] for name in names if ".dist-info/" in name}
        with wheel.open(f"{dist_info}/RECORD") as record_file:
            record = [row[0] for row in csv.reader(io.TextIOWrapper(record_file, "utf-8"))]
        if f"{dist_info}/top_level.txt" in names:
            assert wheel.read(f"{dist_info}/top_level.txt").decode().split() == ["vignette"]
        entry_points = configparser.ConfigParser()
        entry_points.read_string(wheel.read(f"{dist_info}/entry_points.txt").decode())

    outside = sorted(
        path for path in {*names, *record} if path.split("/")[0] not in {"vignette", dist_info}
    )
    assert outside == []
    assert [path for path in SHIPPED if path not in record] == []
    assert dict(entry_points["console_scripts"]) == {"vignette": "vignette.cli:main"}


def test_embeds_in_a_django_project_named_config(installed: Installed, tmp_path: Path) -> None:
    project = tmp_path / "site"
    project.mkdir()
    passed(
        run([installed.bin / "django-admin", "startproject", "config", "."], project, clean_env())
    )
    shutil.copy(SCRIPTS / "embed_in_django.py", project)

    output = passed(
        run(
            [installed.bin / "python", "embed_in_django.py"],
            project,
            clean_env(
                VIGNETTE_DATABASE__URL=f"sqlite:///{tmp_path / 'vignette.sqlite3'}",
                VIGNETTE_STORAGE__PATH=str(tmp_path / "files"),
            ),
        )
    )

    assert f"vignette from {installed.bin.parent}/lib/" in output
    assert "embedded in django: failed missing_api_key: " in output


def test_imports_beside_a_host_apps_models_api_and_config(
    installed: Installed, tmp_path: Path
) -> None:
    app = tmp_path / "host_app"
    for module in ("models.py", "api/__init__.py", "config/__init__.py"):
        (app / module).parent.mkdir(parents=True, exist_ok=True)
        (app / module).write_text('OWNER = "host app"\n')
    shutil.copy(SCRIPTS / "embed_in_host_app.py", app)

    output = passed(run([installed.bin / "python", "embed_in_host_app.py"], app, clean_env()))

    assert f"vignette from {installed.bin.parent}/lib/" in output
    assert "imported beside the host app's models, api and config" in output


def test_console_script(installed: Installed, tmp_path: Path) -> None:
    output = passed(run([installed.bin / "vignette", "--help"], tmp_path, clean_env()))

    assert output.startswith("usage: vignette ")
    assert "serve" in output
