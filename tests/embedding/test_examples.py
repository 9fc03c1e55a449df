"""The examples in examples/ run against the local fake Recraft server: a plain script,
the Django project's own test (in a subprocess, through `manage.py test`), and the FastAPI
app through its TestClient (its lifespan starts and stops the system)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from examples.fastapi_app.main import create_app
from tests.conftest import API_KEY
from tests.embedding.support import REPO, host_env
from tests.fakes.recraft_server import RecraftServer
from vignette.config import Settings

EXAMPLES = REPO / "examples"


def example_env(tmp_path: Path, recraft: RecraftServer) -> dict[str, str]:
    return host_env(
        tmp_path,
        VIGNETTE_RECRAFT__BASE_URL=recraft.base_url,
        VIGNETTE_PORTRAITS__ALLOW_INSECURE_URLS="true",
        RECRAFT_API_KEY=API_KEY,
    )


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_script_example_writes_a_story_and_saves_its_portrait(
    tmp_path: Path, recraft: RecraftServer
) -> None:
    result = run(
        [sys.executable, str(EXAMPLES / "script.py")], tmp_path, example_env(tmp_path, recraft)
    )

    assert result.returncode == 0, result.stderr
    assert "portrait stored" in result.stdout
    saved = Path(result.stdout.strip().splitlines()[-1].rpartition(" to ")[2])
    assert saved.parent == tmp_path
    assert saved.read_bytes() == recraft.fake.image
    # Logging went through the stdlib set-up: warnings only, in the script's format.
    assert all(" vignette." in line for line in result.stderr.splitlines()), result.stderr


def test_the_django_example_passes_its_own_tests(tmp_path: Path, recraft: RecraftServer) -> None:
    pytest.importorskip("django")
    result = run(
        [sys.executable, "manage.py", "test", "portraits", "-v", "2"],
        EXAMPLES / "django_app",
        example_env(tmp_path, recraft),
    )

    assert result.returncode == 0, result.stderr
    assert "Ran 3 tests" in result.stderr
    assert "\nOK\n" in result.stderr
    assert recraft.fake.call_count == 1


def test_the_fastapi_example_awaits_portraits_and_follows_them_with_a_subscription(
    make_settings: Callable[..., Settings], recraft: RecraftServer
) -> None:
    settings = make_settings(
        recraft__base_url=recraft.base_url, portraits__allow_insecure_urls=True
    )
    with TestClient(create_app(settings)) as client:
        made = [
            client.post(
                "/stories", json={"title": f"t{n}", "body": "b", "image_generation_prompt": "p"}
            )
            for n in range(3)
        ]
        assert [answer.status_code for answer in made] == [201] * 3
        ids = [answer.json()["id"] for answer in made]
        for story_id in ids:
            answer = client.get(f"/stories/{story_id}/settled", params={"timeout": 30})
            assert answer.json()["portrait_status"] == "stored"
        assert client.post("/stories", json={"title": " ", "body": "b"}).status_code == 422
        assert client.get("/stories/nope").status_code == 404
        # The subscription follows them; each request is a round trip through the loop.
        deadline = time.monotonic() + 30
        while {e["id"] for e in client.get("/settled").json()} != set(ids):
            assert time.monotonic() < deadline, client.get("/settled").json()
        settled = client.get("/settled").json()

    assert sorted(e["id"] for e in settled) == sorted(ids)
    assert {e["portrait_status"] for e in settled} == {"stored"}
